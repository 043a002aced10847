using System.Globalization;
using System.Text;

namespace IwSft.Gpu.Models;

/// <summary>One line of a <see cref="MemoryPlan"/>: bytes on the first device, on the fullest other device, and in host memory.</summary>
public sealed record MemoryComponent(string Name, long Device0Bytes, long OtherDeviceBytes, string Basis, long HostBytes = 0);

/// <summary>
/// Per-GPU memory of full fine-tuning as this repository's code does it, computed from the model config.
/// Placement follows <see cref="TensorParallel"/>: every device holds 1/n of each layer's attention
/// and MLP, its vocabulary shard of the embedding and lm_head (<see cref="TensorParallel.VocabRows"/>),
/// and the norms and residual stream of the layers it is home to (<see cref="TensorParallel.HomeOf"/>);
/// the final norm and the hidden states that feed the log-probs are on device 0. The train stage keeps fp32
/// parameters with bf16 matmuls (2 B activations), fp32 gradients and <see cref="IwSft.Gpu.Training.AdamW"/>'s two
/// fp32 moments per parameter, either next to the parameter or, with <see cref="OptimizerOnHost"/> (the trainer's
/// optimiser_state_on_host), in host memory and streamed through the device <see cref="OffloadChunkElements"/> elements
/// at a time (m, v and the update's denominator on the device: 12 B per element of the chunk). Log-probs follow
/// <see cref="ChunkedLogProbs"/>: one chunk of <see cref="LossChunkTokens"/> positions per vocabulary shard.
/// Activations are an itemised count of what autograd saves per token (see <see cref="Compute"/>). Lines are
/// summed although the transient ones (one layer's recomputation, the log-prob chunk, the vocabulary-shard
/// temporaries, the optimiser chunk) never coexist, so the total overstates the peak a little.
/// </summary>
public sealed record MemoryPlan(
    TransformerConfig Config, int TensorParallel, int BlockSize, int MicroBatch, bool GradientCheckpointing,
    IReadOnlyList<MemoryComponent> Components, int LossChunkTokens = ChunkedLogProbs.DefaultChunkTokens, bool OptimizerOnHost = false)
{
    public const long GiB = 1L << 30;
    /// <summary>Largest flat piece of a parameter's offloaded moments streamed to its device at once (64 Mi elements).</summary>
    public const long OffloadChunkElements = 1L << 26;
    /// <summary>Bytes of an activation element: the train stage's bf16 compute on CUDA.</summary>
    const long Act = 2;

    public long Device0Total => Components.Sum(c => c.Device0Bytes);
    public long OtherDeviceTotal => Components.Sum(c => c.OtherDeviceBytes);
    public long HostTotal => Components.Sum(c => c.HostBytes);

    /// <summary>Parameter count of the HF layout (q/k/v bias for Qwen2 or attention_bias).</summary>
    public static long ParameterCount(TransformerConfig c)
    {
        var (embed, layer, final, head) = ParameterGroups(c);
        return embed + layer.Replicated + layer.Sharded + final + head;
    }

    /// <summary>Embedding, the layers' norms (on their home device) and sharded attention + MLP (all layers), final norm, lm_head.</summary>
    public static (long Embed, (long Replicated, long Sharded) Layers, long FinalNorm, long LmHead) ParameterGroups(TransformerConfig c)
    {
        long h = c.HiddenSize, v = c.VocabSize;
        return (v * h, (2 * h * c.NumHiddenLayers, ShardedPerLayer(c) * c.NumHiddenLayers), h, c.TieWordEmbeddings ? 0 : v * h);
    }

    /// <summary>q, k, v (with bias for Qwen2 or attention_bias), o and the three MLP matrices of one layer.</summary>
    static long ShardedPerLayer(TransformerConfig c)
    {
        long h = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim;
        bool bias = c.ModelType == "qwen2" || c.AttentionBias;
        return h * q + 2 * h * kv + q * h + (bias ? q + 2 * kv : 0) + 3 * h * c.IntermediateSize;
    }

    /// <summary>
    /// The plan for <paramref name="tensorParallel"/> devices, sequences of <paramref name="blockSize"/> tokens and
    /// <paramref name="microBatch"/> sequences per step. Saved activations per token and layer (bytes, bf16 = 2):
    /// on the layer's home device the two RMSNorms keep their fp32 input and bf16 normalised value (12·H);
    /// every shard keeps its copy of both norm outputs (4·H), the rotated q and the repeated k and v, the attention
    /// output and its reshaped copy (10·Q/n; 6·Q/n + 4·K/n without grouped heads), the fused attention's fp32
    /// log-sum-exp (4·heads/n) and the MLP's gate, silu(gate), up and product (8·I/n), plus the bf16 copies of its
    /// weights that the matmuls save (2 B/param). Attention is the fused kernel (no T² matrix). With gradient
    /// checkpointing only each layer's bf16 input is kept (on its home device) plus one layer during its
    /// recomputation. Backward adds gradient buffers: four fp32 [T, H] at home, two [T, I/n] per shard, and (checkpointed)
    /// the replayed layer's fp32 parameter gradients before they are accumulated.
    /// </summary>
    public static MemoryPlan Compute(TransformerConfig c, int tensorParallel, int blockSize, int microBatch, bool gradientCheckpointing,
                                     int lossChunkTokens = ChunkedLogProbs.DefaultChunkTokens, bool optimizerOnHost = false)
    {
        int n = tensorParallel;
        if (n < 1) throw new ArgumentException("tensor-parallel degree must be at least 1");
        if (c.NumKeyValueHeads % n != 0 || c.IntermediateSize % n != 0)
            throw new ArgumentException($"tensor-parallel degree {n} must divide num_key_value_heads {c.NumKeyValueHeads} and intermediate_size {c.IntermediateSize}");
        if (blockSize < 1 || microBatch < 1) throw new ArgumentException("block size and micro-batch must be positive");

        long h = c.HiddenSize, hd = c.HeadDim, L = c.NumHiddenLayers, v = c.VocabSize;
        long qs = c.NumAttentionHeads * hd / n, ks = c.NumKeyValueHeads * hd / n, inter = c.IntermediateSize / n, heads = c.NumAttentionHeads / n;
        long tokens = (long)blockSize * microBatch;
        long layerShard = ShardedPerLayer(c) / n;
        int vocabCopies = c.TieWordEmbeddings ? 1 : 2;
        long total = ParameterCount(c);
        long Rows(int d) => Models.TensorParallel.VocabRows(v, n, d);
        long HomeLayers(int d) => Enumerable.Range(0, (int)L).Count(l => Models.TensorParallel.HomeOf(l, n) == d);
        long Params(int d) => L * layerShard + HomeLayers(d) * 2 * h + (d == 0 ? h : 0) + vocabCopies * Rows(d) * h;

        long homePerToken = 12 * h;
        bool grouped = c.NumAttentionHeads != c.NumKeyValueHeads;
        long shardPerToken = 4 * h + (grouped ? 10 * qs : 6 * qs + 4 * ks) + 4 * heads + 8 * inter;
        long homeGradients = 4 * 4 * h, shardGradients = 2 * Act * inter;
        // One layer's saved tensors on device d (home or not) with its bf16 weight copies.
        long LayerBytes(bool home) => tokens * ((home ? homePerToken : 0) + shardPerToken) + Act * (layerShard + (home ? 2 * h : 0));
        long Gradients(int d) => tokens * ((HomeLayers(d) > 0 ? homeGradients : 0) + shardGradients);

        // The largest parameter tensor on a device (the optimiser's per-tensor temporaries scale with it).
        long Largest(int d) => new[] { qs * h, ks * h, inter * h, Rows(d) * h, h }.Max();

        long chunk = Math.Min(lossChunkTokens > 0 ? lossChunkTokens : tokens, tokens);
        var parts = new List<MemoryComponent>();
        void Add(string name, Func<int, long> bytes, string basis, long host = 0)
        {
            var perDevice = Enumerable.Range(0, n).Select(bytes).ToArray();
            parts.Add(new MemoryComponent(name, perDevice[0], n > 1 ? perDevice.Skip(1).Max() : 0, basis, host));
        }

        Add("weights (fp32)", d => 4 * Params(d),
            "4 B/param: 1/n of every layer, the vocabulary shard of embedding and lm_head, the norms of the layers homed here; " +
            "host: the full fp32 model while it is loaded and sharded out; saving a checkpoint gathers it there again (in the save dtype)", n > 1 ? 4 * total : 0);
        Add("gradients (fp32)", d => 4 * Params(d), "4 B/param, same dtype and device as the parameters");
        Add("AdamW moments (fp32 m, v)", d => optimizerOnHost ? 0 : 8 * Params(d),
            optimizerOnHost ? "8 B/param in host memory" : "8 B/param next to the parameter; no fp32 master copy since parameters are fp32",
            optimizerOnHost ? 8 * total : 0);
        Add("AdamW step temporaries", d => optimizerOnHost ? 12 * Math.Min(Largest(d), OffloadChunkElements) : 4 * Largest(d),
            optimizerOnHost ? "one streamed chunk of at most 64 Mi elements of the largest parameter: m, v and the denominator (12 B/element)"
                            : "the denominator √v̂ + ε of the largest parameter (4 B/element)");

        if (gradientCheckpointing)
        {
            Add("activations: saved layer inputs (bf16)", d => HomeLayers(d) * tokens * Act * h, "each layer's input, on the layer's home device (layer l on device l mod n)");
            Add("activations: one layer recomputed, with its gradients", d => LayerBytes(HomeLayers(d) > 0) + Gradients(d) + 4 * layerShard,
                "one decoder layer's saved tensors and bf16 weight copies during its backward, gradient buffers, and the fp32 parameter " +
                "gradients the replay returns (held until the next layer's backward)");
        }
        else
        {
            Add("activations: all layers", d => HomeLayers(d) * LayerBytes(true) + (L - HomeLayers(d)) * LayerBytes(false) + Gradients(d),
                "every decoder layer's saved tensors and bf16 weight copies, plus one layer's gradient buffers");
        }
        Add("final norm and hidden states, with gradient", d => d == 0 ? tokens * (12 * h + (microBatch > 1 ? Act * h : 0)) : 0,
            "final norm's fp32 input and bf16 output, the hidden states and their gradient (split into chunks and concatenated)");
        Add($"log-prob chunk ({chunk} positions × vocabulary shard)", d => 18 * chunk * Rows(d) + 2 * Act * chunk * h,
            "fp32 exp(logits − max) saved, its gradient, the target gather's gradient, their sum, the bf16 logit gradient; the chunk's hidden states and their gradient");
        Add("vocabulary-shard temporaries", d => (8 + 4) * Rows(d) * h,
            "bf16 copy of the lm_head shard, its bf16 gradient and the fp32 conversion (per chunk backward); the dense fp32 embedding-shard gradient");
        return new MemoryPlan(c, tensorParallel, blockSize, microBatch, gradientCheckpointing, parts, lossChunkTokens, optimizerOnHost);
    }

    /// <summary>
    /// One device, no gradients: scoring (<see cref="Inference.CompletionScorer"/>, the reference log-prob stage) or
    /// KV-cache generation (evaluation). Weights at <paramref name="bytesPerParameter"/> (4 for fp32, 2 for bf16), the
    /// KV cache (k and v per layer, kv heads × head dim, in the compute dtype, <paramref name="kvBytes"/>) for
    /// <paramref name="batch"/> × <paramref name="contextTokens"/>, one decoder block's temporaries at the longest forward
    /// (<paramref name="logitsTokens"/>), and the logits: scoring takes them <paramref name="lossChunkTokens"/> positions at a
    /// time (<see cref="ChunkedLogProbs"/>), generation's prefill makes [B, T, V] fp32 logits.
    /// </summary>
    public static MemoryPlan Inference(TransformerConfig c, int contextTokens, int batch, int bytesPerParameter, int kvBytes, int logitsTokens, bool keepKvCache,
                                       int lossChunkTokens = ChunkedLogProbs.DefaultChunkTokens)
    {
        long parameters = ParameterCount(c);
        long h = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, k = (long)c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize;
        long kvPerToken = 2L * c.NumHiddenLayers * c.NumKeyValueHeads * c.HeadDim * kvBytes;
        long tokens = (long)logitsTokens * batch;
        bool castsWeights = bytesPerParameter > 2;
        // Per token, all bf16 but the norm: the norm (fp32 input, square, normalised; bf16 cast and scaled: 16·H) and
        // either block — attention: q, k, v, rotary temporaries of q and k (≈ 9 each), repeated k and v, output and
        // its reshape, o_proj (19·Q + 13·K + 2·H) or MLP: gate, silu, up, product, down (8·I + 2·H) — plus two residuals.
        long block = Math.Max(19 * q + 13 * k, 8 * inter) + 2 * h + 16 * h + 4 * h;
        long blockWeights = castsWeights ? 2 * Math.Max(ShardedPerLayer(c) - 3 * h * inter, 3 * h * inter) : 0;
        long logits;
        string logitsName, logitsBasis;
        if (keepKvCache)
        {
            logits = 8L * tokens * c.VocabSize;
            (logitsName, logitsBasis) = ("prefill logits + softmax temporary (fp32)", "[B, T, V] float32 twice");
        }
        else
        {
            long chunk = Math.Min(lossChunkTokens > 0 ? lossChunkTokens : tokens, tokens);
            logits = 10 * chunk * c.VocabSize + (castsWeights ? 2L * c.VocabSize * h : 0);
            (logitsName, logitsBasis) = ($"log-prob chunk ({chunk} positions)", "bf16 and fp32 logits, exp(logits − max) of one chunk; the bf16 lm_head copy when weights are fp32");
        }
        var parts = new List<MemoryComponent>
        {
            new($"weights ({bytesPerParameter} B/param)", parameters * bytesPerParameter, 0, "whole model on one device"),
            new("KV cache", keepKvCache ? kvPerToken * contextTokens * batch : 0, 0, "2 × layers × kv heads × head dim per token"),
            new(logitsName, logits, 0, logitsBasis),
            new("one block's temporaries (bf16)", tokens * block + blockWeights, 0, "the larger of a layer's attention or MLP block, with its norm, at the longest forward"),
        };
        return new MemoryPlan(c, 1, contextTokens, batch, false, parts, lossChunkTokens);
    }

    static string G(long bytes) => (bytes / (double)GiB).ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>The Markdown table the run book embeds (GiB with one decimal).</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture,
            $"Parameters: {ParameterCount(Config):N0}; tensor parallel {TensorParallel}, block {BlockSize}, micro-batch {MicroBatch}, " +
            $"gradient checkpointing {(GradientCheckpointing ? "on" : "off")}, log-prob chunk {LossChunkTokens} positions, " +
            $"optimiser state {(OptimizerOnHost ? "on host" : "on GPU")}.\n\n");
        sb.Append("| component | GPU 0 (GiB) | fullest other GPU (GiB) | host (GiB) |\n|---|---:|---:|---:|\n");
        foreach (var c in Components) sb.Append(CultureInfo.InvariantCulture, $"| {c.Name} | {G(c.Device0Bytes)} | {G(c.OtherDeviceBytes)} | {G(c.HostBytes)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| **total** | **{G(Device0Total)}** | **{G(OtherDeviceTotal)}** | **{G(HostTotal)}** |\n");
        return sb.ToString();
    }

    /// <summary>A one-device table (inference plans).</summary>
    public string ToSingleDeviceMarkdown()
    {
        var sb = new StringBuilder("| component | GPU (GiB) |\n|---|---:|\n");
        foreach (var c in Components) sb.Append(CultureInfo.InvariantCulture, $"| {c.Name} | {G(c.Device0Bytes)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| **total** | **{G(Device0Total)}** |\n");
        return sb.ToString();
    }
}
