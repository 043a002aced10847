using System.Globalization;
using System.Text;

namespace IwSft.Gpu.Models;

/// <summary>One line of a <see cref="MemoryPlan"/>: bytes on the first device (which also holds embeddings,
/// norms, lm_head and the residual stream under tensor parallelism) and on each other device.</summary>
public sealed record MemoryComponent(string Name, long Device0Bytes, long OtherDeviceBytes, string Basis);

/// <summary>
/// Per-GPU memory of full fine-tuning as this repository's code does it, computed from the model config:
/// <see cref="TensorParallelTransformer"/> placement (attention/MLP sharded over the devices; embeddings,
/// every RMSNorm, lm_head and the residual stream on device 0), the train stage's fp32 parameters with bf16
/// matmuls, fp32 gradients, and <see cref="IwSft.Gpu.Training.AdamW"/>'s two fp32 moments per parameter
/// (no master copy, since the parameters already are fp32). Activations are an itemised estimate of what
/// autograd saves per token (see <see cref="Compute"/>); the logits term follows
/// <see cref="TokenLogProbs"/> (gather − logsumexp over fp32 logits).
/// </summary>
public sealed record MemoryPlan(
    TransformerConfig Config, int TensorParallel, int BlockSize, int MicroBatch, bool GradientCheckpointing,
    IReadOnlyList<MemoryComponent> Components)
{
    public const long GiB = 1L << 30;

    public long Device0Total => Components.Sum(c => c.Device0Bytes);
    public long OtherDeviceTotal => Components.Sum(c => c.OtherDeviceBytes);

    /// <summary>Parameter count of the HF layout (q/k/v bias for Qwen2 or attention_bias).</summary>
    public static long ParameterCount(TransformerConfig c)
    {
        var (embed, layer, final, head) = ParameterGroups(c);
        return embed + layer.Replicated + layer.Sharded + final + head;
    }

    /// <summary>Parameters per decoder layer: the RMSNorms (replicated on device 0) and the sharded attention + MLP.</summary>
    public static (long Embed, (long Replicated, long Sharded) Layers, long FinalNorm, long LmHead) ParameterGroups(TransformerConfig c)
    {
        long h = c.HiddenSize, kv = (long)c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize, v = c.VocabSize;
        bool bias = c.ModelType == "qwen2" || c.AttentionBias;
        long attention = h * h + h * kv * 2 + h * h + (bias ? h + 2 * kv : 0);
        long mlp = 3 * h * inter;
        long norms = 2 * h;
        return (v * h, (norms * c.NumHiddenLayers, (attention + mlp) * c.NumHiddenLayers), h, c.TieWordEmbeddings ? 0 : v * h);
    }

    /// <summary>
    /// The plan for <paramref name="tensorParallel"/> devices, sequences of <paramref name="blockSize"/> tokens and
    /// <paramref name="microBatch"/> sequences per step. Activation accounting per token and layer (bytes):
    /// device 0 keeps the fp32 residual stream: layer input, input-norm output, mid-layer residual, post-norm
    /// output = 16·H. Each shard keeps two bf16 casts of the full normed hidden state (4·H) and its share of
    /// q, k, v (2·(H + 2K)), rotated q, k (2·(H + K)), the attention output (2·H) and the MLP's gate, up,
    /// silu(gate) and product (8·I), all divided by the degree. Attention is the fused kernel (no T² matrix).
    /// With gradient checkpointing only each layer's input is kept (4·H on device 0) plus one layer's full set
    /// during its recomputation.
    /// </summary>
    public static MemoryPlan Compute(TransformerConfig c, int tensorParallel, int blockSize, int microBatch, bool gradientCheckpointing)
    {
        if (tensorParallel < 1) throw new ArgumentException("tensor-parallel degree must be at least 1");
        if (c.NumKeyValueHeads % tensorParallel != 0 || c.IntermediateSize % tensorParallel != 0)
            throw new ArgumentException($"tensor-parallel degree {tensorParallel} must divide num_key_value_heads {c.NumKeyValueHeads} and intermediate_size {c.IntermediateSize}");
        if (blockSize < 1 || microBatch < 1) throw new ArgumentException("block size and micro-batch must be positive");

        var (embed, layers, finalNorm, head) = ParameterGroups(c);
        long onDevice0 = embed + layers.Replicated + finalNorm + head + layers.Sharded / tensorParallel;
        long perShard = layers.Sharded / tensorParallel;
        bool multi = tensorParallel > 1;
        long Other(long shard) => multi ? shard : 0;

        long h = c.HiddenSize, k = (long)c.NumKeyValueHeads * c.HeadDim, inter = c.IntermediateSize, L = c.NumHiddenLayers;
        long tokens = (long)blockSize * microBatch;
        long residualPerLayer = 16 * h;
        long shardPerLayer = 4 * h + (2 * (h + 2 * k) + 2 * (h + k) + 2 * h + 8 * inter) / tensorParallel;
        long layerInput = 4 * h;

        var parts = new List<MemoryComponent>
        {
            new("weights (fp32)", 4 * onDevice0, Other(4 * perShard), "4 B/param; the train stage loads fp32 and casts to bf16 at each matmul"),
            new("gradients (fp32)", 4 * onDevice0, Other(4 * perShard), "4 B/param, same dtype as the parameters"),
            new("AdamW moments (fp32 m, v)", 8 * onDevice0, Other(8 * perShard), "8 B/param; no fp32 master copy since parameters are fp32"),
        };
        if (gradientCheckpointing)
        {
            parts.Add(new("activations: saved layer inputs", tokens * L * layerInput, 0, "fp32 residual at each layer boundary"));
            parts.Add(new("activations: one layer recomputed", tokens * (residualPerLayer + (multi ? 0 : shardPerLayer)), Other(tokens * shardPerLayer),
                "one decoder layer's saved tensors during its backward"));
        }
        else
        {
            parts.Add(new("activations: all layers", tokens * L * (residualPerLayer + (multi ? 0 : shardPerLayer)), Other(tokens * L * shardPerLayer),
                "every decoder layer's saved tensors"));
        }
        if (multi)
        {
            // Device 0 also runs shard 0.
            var act = parts[^1];
            parts[^1] = act with { Device0Bytes = act.Device0Bytes + act.OtherDeviceBytes };
        }
        parts.Add(new("logits (fp32, saved by logsumexp)", tokens * c.VocabSize * 4, 0, "[B, T, V] float32"));
        parts.Add(new("logit gradient + exp temporary (backward)", tokens * c.VocabSize * 8, 0, "two more [B, T, V] float32 in logsumexp's backward"));
        return new MemoryPlan(c, tensorParallel, blockSize, microBatch, gradientCheckpointing, parts);
    }

    /// <summary>
    /// One device, no gradients: scoring (<see cref="Inference.CompletionScorer"/>, the reference log-prob stage) or
    /// KV-cache generation (evaluation). Weights at <paramref name="bytesPerParameter"/> (4 for the fp32 the reference
    /// stage loads, 2 for bf16), the KV cache (k and v per layer, kv heads × head dim, in the compute dtype,
    /// <paramref name="kvBytes"/>) for <paramref name="batch"/> × <paramref name="contextTokens"/>, and the fp32
    /// logits of the longest forward (all positions when scoring, the prompt's prefill when generating:
    /// <paramref name="logitsTokens"/>) with logsumexp's temporary of the same size, and the transient MLP
    /// intermediates of one layer at that length.
    /// </summary>
    public static MemoryPlan Inference(TransformerConfig c, int contextTokens, int batch, int bytesPerParameter, int kvBytes, int logitsTokens, bool keepKvCache)
    {
        long parameters = ParameterCount(c);
        long kvPerToken = 2L * c.NumHiddenLayers * c.NumKeyValueHeads * c.HeadDim * kvBytes;
        var parts = new List<MemoryComponent>
        {
            new($"weights ({bytesPerParameter} B/param)", parameters * bytesPerParameter, 0, "whole model on one device"),
            new("KV cache", keepKvCache ? kvPerToken * contextTokens * batch : 0, 0, "2 × layers × kv heads × head dim per token"),
            new("logits + logsumexp temporary (fp32)", 8L * logitsTokens * batch * c.VocabSize, 0, "[B, T, V] float32 twice: the logits and exp(logits − max)"),
            new("one layer's MLP intermediates (bf16)", 6L * logitsTokens * batch * c.IntermediateSize, 0, "gate, up and their product for the longest forward"),
        };
        return new MemoryPlan(c, 1, contextTokens, batch, false, parts);
    }

    static string G(long bytes) => (bytes / (double)GiB).ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>The Markdown table the run book embeds (GiB with one decimal).</summary>
    public string ToMarkdown()
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Parameters: {ParameterCount(Config):N0}; tensor parallel {TensorParallel}, block {BlockSize}, micro-batch {MicroBatch}, gradient checkpointing {(GradientCheckpointing ? "on" : "off")}.\n\n");
        sb.Append("| component | GPU 0 (GiB) | each other GPU (GiB) |\n|---|---:|---:|\n");
        foreach (var c in Components) sb.Append(CultureInfo.InvariantCulture, $"| {c.Name} | {G(c.Device0Bytes)} | {G(c.OtherDeviceBytes)} |\n");
        sb.Append(CultureInfo.InvariantCulture, $"| **total** | **{G(Device0Total)}** | **{G(OtherDeviceTotal)}** |\n");
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
