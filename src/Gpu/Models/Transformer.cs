using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace IwSft.Gpu.Models;

/// <summary>Where the model lives and in what precision.</summary>
/// <param name="Device">"cpu" or "cuda:N".</param>
/// <param name="DType">Parameter storage dtype: float32, bfloat16 or float16.</param>
/// <param name="ComputeDType">Matmul dtype; null = DType. TorchSharp 0.107 has no autocast, so
/// "bf16 autocast" is done by hand: weights are cast to this dtype at use, norms and softmax
/// statistics run in float32, logits come back in float32.</param>
/// <param name="GradientCheckpointing">Recompute each layer's activations in backward instead of keeping them.</param>
/// <param name="LossChunkTokens">Positions per chunk in <see cref="IDecoderModel.TargetLogProbs(Tensor, Tensor?, int)"/>
/// (see <see cref="ChunkedLogProbs"/>); 0 = all positions in one chunk.</param>
public sealed record ModelOptions(string Device = "cpu", string DType = "float32", string? ComputeDType = null, bool GradientCheckpointing = false,
                                  int LossChunkTokens = ChunkedLogProbs.DefaultChunkTokens)
{
    public static ModelOptions Cpu => new();
    internal ScalarType ParamType => Safetensors.SafetensorsDType.ParseTorchName(DType);
    internal ScalarType ComputeType => ComputeDType is null ? ParamType : Safetensors.SafetensorsDType.ParseTorchName(ComputeDType);
}

/// <summary>
/// A model the scorer and generator can drive position by position: explicit position ids, a key
/// mask over every key (cached and new), and an optional KV cache. <see cref="Transformer"/> implements it,
/// on one device or sharded over several (<see cref="TensorParallel.Apply"/>).
/// </summary>
public interface IDecoderModel : ICausalLanguageModel
{
    TransformerConfig Config { get; }
    /// <summary>Logits [B,T,V] float32. <paramref name="keyMask"/> is [B, past+T] (true = real token).</summary>
    Tensor Forward(Tensor inputIds, Tensor positionIds, Tensor keyMask, KvCache? cache);

    /// <summary>
    /// <see cref="ICausalLanguageModel.TargetLogProbs"/> computed <paramref name="chunkTokens"/> positions at a time
    /// (<see cref="ChunkedLogProbs"/>): equal to <see cref="TokenLogProbs.OfTargets"/> of <see cref="ICausalLanguageModel.Forward"/>
    /// to float rounding, values and gradients, without the [B, T, V] logits.
    /// </summary>
    Tensor TargetLogProbs(Tensor inputIds, Tensor? attentionMask, int chunkTokens);
}

/// <summary>Past keys and values per attention slot (layer × shard), growing along the sequence.</summary>
public sealed class KvCache : IDisposable
{
    readonly Dictionary<int, (Tensor K, Tensor V)> _slots = new();
    /// <summary>Number of positions already cached.</summary>
    public long Length { get; internal set; }

    internal (Tensor K, Tensor V) Append(int slot, Tensor k, Tensor v)
    {
        if (_slots.TryGetValue(slot, out var old))
        {
            k = cat(new[] { old.K, k }, 2);
            v = cat(new[] { old.V, v }, 2);
            old.K.Dispose(); old.V.Dispose();
        }
        else { k = k.alias(); v = v.alias(); }
        // Cached tensors outlive the per-step dispose scopes.
        k.DetachFromDisposeScope(); v.DetachFromDisposeScope();
        _slots[slot] = (k, v);
        return (k, v);
    }

    public void Dispose()
    {
        foreach (var (k, v) in _slots.Values) { k.Dispose(); v.Dispose(); }
        _slots.Clear();
    }
}

public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly double _eps;
    public Parameter weight;

    public RmsNorm(long size, double eps, Device device, ScalarType dtype) : base("RmsNorm")
    {
        _eps = eps;
        weight = new Parameter(ones(size, dtype: dtype, device: device));
        RegisterComponents();
    }

    /// <summary>HF convention: normalise in float32, cast back, then scale.</summary>
    public override Tensor forward(Tensor x)
    {
        var xf = x.to(ScalarType.Float32);
        var normed = xf * rsqrt(xf.pow(2).mean(new long[] { -1 }, keepdim: true) + _eps);
        return weight.to(x.dtype) * normed.to(x.dtype);
    }
}

/// <summary>
/// One forward's rotary tables and attention mask, with a copy on every device the layers run on (made once
/// per forward, not once per layer).
/// </summary>
public sealed class PositionTables
{
    readonly Dictionary<(DeviceType, int), (Tensor Cos, Tensor Sin, Tensor? Mask)> _copies = new();
    readonly (Tensor Cos, Tensor Sin, Tensor? Mask) _only;

    internal PositionTables(Tensor cos, Tensor sin, Tensor? mask, IEnumerable<Device> devices)
    {
        foreach (var d in devices)
            _copies.TryAdd((d.type, d.index), d.type == cos.device_type && d.index == cos.device_index ? (cos, sin, mask) : (cos.to(d), sin.to(d), mask?.to(d)));
        _only = _copies.Count == 1 ? _copies.Values.Single() : default;
    }

    /// <summary>The tables on <paramref name="x"/>'s device.</summary>
    public (Tensor Cos, Tensor Sin, Tensor? Mask) For(Tensor x) => _copies.Count == 1 ? _only : _copies[(x.device_type, x.device_index)];

    /// <summary>The replay of a checkpointed layer runs after the forward's scope has closed: the tables must outlive it (the GC frees them).</summary>
    internal void DetachFromDisposeScope()
    {
        foreach (var (cos, sin, mask) in _copies.Values) { cos.DetachFromDisposeScope(); sin.DetachFromDisposeScope(); mask?.DetachFromDisposeScope(); }
    }
}

/// <summary>
/// A decoder layer's attention or MLP: normalised input in, the layer's residual update out. The seam for
/// <see cref="TensorParallel.Apply"/>, which swaps each block for its shards plus the sum of their outputs.
/// </summary>
public abstract class LayerBlock(string name) : nn.Module(name)
{
    /// <param name="slot">The block's KV-cache slot (its layer's index on one device).</param>
    public abstract Tensor Forward(Tensor x, PositionTables positions, KvCache? cache, int slot);
}

/// <summary>
/// Grouped-query attention with rotary embeddings. A tensor-parallel shard is the same module with
/// fewer heads: its o_proj output is then a partial sum over its heads.
/// </summary>
public sealed class Attention : LayerBlock
{
    public Linear q_proj, k_proj, v_proj, o_proj;
    internal readonly int Heads, KvHeads, HeadDim;

    public Attention(long hidden, int heads, int kvHeads, int headDim, bool qkvBias, bool oBias, Device device, ScalarType dtype) : base(nameof(Attention))
    {
        Heads = heads; KvHeads = kvHeads; HeadDim = headDim;
        q_proj = nn.Linear(hidden, heads * headDim, qkvBias, device, dtype);
        k_proj = nn.Linear(hidden, kvHeads * headDim, qkvBias, device, dtype);
        v_proj = nn.Linear(hidden, kvHeads * headDim, qkvBias, device, dtype);
        o_proj = nn.Linear(heads * headDim, hidden, oBias, device, dtype);
        RegisterComponents();
    }

    /// <summary>The mask is boolean [B,1,T,S], true where a query may attend to a key; null = plain causal (no padding, no past).</summary>
    public override Tensor Forward(Tensor x, PositionTables positions, KvCache? cache, int slot)
    {
        long b = x.shape[0], t = x.shape[1];
        var (cos, sin, mask) = positions.For(x);
        var q = Lin(x, q_proj).view(b, t, Heads, HeadDim).transpose(1, 2);
        var k = Lin(x, k_proj).view(b, t, KvHeads, HeadDim).transpose(1, 2);
        var v = Lin(x, v_proj).view(b, t, KvHeads, HeadDim).transpose(1, 2);
        q = Rope.Apply(q, cos, sin);
        k = Rope.Apply(k, cos, sin);
        if (cache is not null) (k, v) = cache.Append(slot, k, v);
        if (Heads != KvHeads)
        {
            k = k.repeat_interleave(Heads / KvHeads, dim: 1);
            v = v.repeat_interleave(Heads / KvHeads, dim: 1);
        }
        // Without padding the fused causal kernel needs no mask tensor.
        var y = mask is null ? F.scaled_dot_product_attention(q, k, v, is_casual: true) : F.scaled_dot_product_attention(q, k, v, mask);
        return Lin(y.transpose(1, 2).reshape(b, t, Heads * HeadDim), o_proj);
    }

    /// <summary>Linear in the activation's dtype (manual autocast: weights cast at use).</summary>
    internal static Tensor Lin(Tensor x, Linear l) => F.linear(x, l.weight!.to(x.dtype), l.bias?.to(x.dtype));
}

/// <summary>SwiGLU MLP; it needs no positions or cache. A tensor-parallel shard has fewer intermediate columns.</summary>
public sealed class Mlp : LayerBlock
{
    public Linear gate_proj, up_proj, down_proj;

    public Mlp(long hidden, long intermediate, Device device, ScalarType dtype) : base(nameof(Mlp))
    {
        gate_proj = nn.Linear(hidden, intermediate, false, device, dtype);
        up_proj = nn.Linear(hidden, intermediate, false, device, dtype);
        down_proj = nn.Linear(intermediate, hidden, false, device, dtype);
        RegisterComponents();
    }

    public override Tensor Forward(Tensor x, PositionTables positions, KvCache? cache, int slot) =>
        Attention.Lin(F.silu(Attention.Lin(x, gate_proj)) * Attention.Lin(x, up_proj), down_proj);
}

public sealed class DecoderLayer : nn.Module
{
    public LayerBlock self_attn, mlp;
    public RmsNorm input_layernorm, post_attention_layernorm;
    /// <summary>Where the residual stream and norms live when the model spans several devices; null on one device.</summary>
    internal Device? Home { get; set; }

    public DecoderLayer(TransformerConfig c, Device device, ScalarType dtype) : base("DecoderLayer")
    {
        self_attn = new Attention(c.HiddenSize, c.NumAttentionHeads, c.NumKeyValueHeads, c.HeadDim, c.AttentionBias, false, device, dtype);
        mlp = new Mlp(c.HiddenSize, c.IntermediateSize, device, dtype);
        input_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        post_attention_layernorm = new RmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }

    /// <summary>Attention and MLP each in their own dispose scope: one block's temporaries are gone before the next starts.</summary>
    public Tensor Forward(Tensor h, PositionTables positions, KvCache? cache, int slot)
    {
        h = h + Checkpointing.Scoped(() => self_attn.Forward(input_layernorm.forward(h), positions, cache, slot));
        return h + Checkpointing.Scoped(() => mlp.Forward(post_attention_layernorm.forward(h), positions, cache, slot));
    }
}

/// <summary>The "model." prefix of the HF layout: embeddings, layers, final norm.</summary>
public sealed class DecoderStack : nn.Module
{
    /// <summary>An <see cref="Embedding"/>, or its vocabulary shards after <see cref="TensorParallel.Apply"/>.</summary>
    public nn.Module<Tensor, Tensor> embed_tokens;
    public ModuleList<DecoderLayer> layers;
    public RmsNorm norm;

    public DecoderStack(TransformerConfig c, Device device, ScalarType dtype) : base("DecoderStack")
    {
        embed_tokens = nn.Embedding(c.VocabSize, c.HiddenSize, device: device, dtype: dtype);
        layers = new ModuleList<DecoderLayer>(Enumerable.Range(0, c.NumHiddenLayers).Select(_ => new DecoderLayer(c, device, dtype)).ToArray());
        norm = new RmsNorm(c.HiddenSize, c.RmsNormEps, device, dtype);
        RegisterComponents();
    }
}

/// <summary>Rotary position embeddings, HF rotate_half convention (first half / second half of each head).</summary>
public static class Rope
{
    /// <summary>cos, sin of shape [B,1,T,headDim] for position ids [B,T], in <paramref name="dtype"/>.</summary>
    public static (Tensor Cos, Tensor Sin) Tables(Tensor positionIds, int headDim, double theta, ScalarType dtype)
    {
        var invFreq = 1.0 / pow(theta, arange(0, headDim, 2, ScalarType.Int64, positionIds.device).to(ScalarType.Float32) / headDim);
        var freqs = positionIds.to(ScalarType.Float32).unsqueeze(-1) * invFreq;
        var emb = cat(new[] { freqs, freqs }, -1).unsqueeze(1);
        return (emb.cos().to(dtype), emb.sin().to(dtype));
    }

    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var x1 = x[.., .., .., ..(int)half];
        var x2 = x[.., .., .., (int)half..];
        return x * cos + cat(new[] { -x2, x1 }, -1) * sin;
    }
}

/// <summary>
/// Decoder-only transformer for Qwen2 and Llama-family checkpoints (RMSNorm, RoPE, grouped-query
/// attention, SwiGLU MLP, optional q/k/v bias, optional tied embeddings). Parameter names follow the
/// HF layout (model.layers.N.self_attn.q_proj.weight, ..., lm_head.weight) so checkpoints round-trip.
/// <see cref="TensorParallel.Apply"/> shards it over several devices in place; the forward pass is the same.
/// </summary>
public sealed class Transformer : nn.Module, IDecoderModel
{
    public DecoderStack model;
    /// <summary>A <see cref="Linear"/>, or its vocabulary shards after <see cref="TensorParallel.Apply"/>; null when tied.</summary>
    public nn.Module<Tensor, Tensor>? lm_head;
    readonly ScalarType _compute;

    public TransformerConfig Config { get; }
    public ModelOptions Options { get; internal set; }
    /// <summary>Where inputs, embeddings, the final norm and the logits live (the first shard's device when sharded).</summary>
    public Device Device { get; internal set; }
    /// <summary>The device of each tensor-parallel shard (may repeat); just <see cref="Device"/> when not sharded.</summary>
    public IReadOnlyList<Device> ShardDevices { get; internal set; }
    public bool GradientCheckpointing { get; set; }
    /// <summary>Positions per chunk of <see cref="TargetLogProbs(Tensor, Tensor?)"/>; 0 = one chunk.</summary>
    public int LossChunkTokens { get; set; }

    public Transformer(TransformerConfig config, ModelOptions? options = null) : base("Transformer")
    {
        config.Validate();
        Config = config;
        Options = options ?? ModelOptions.Cpu;
        Device = new Device(Options.Device);
        ShardDevices = [Device];
        _compute = Options.ComputeType;
        GradientCheckpointing = Options.GradientCheckpointing;
        LossChunkTokens = Options.LossChunkTokens;
        model = new DecoderStack(config, Device, Options.ParamType);
        if (!config.TieWordEmbeddings) lm_head = nn.Linear(config.HiddenSize, config.VocabSize, false, Device, Options.ParamType);
        RegisterComponents();
    }

    /// <summary>The output projection (lm_head, or the embedding when tied) as row blocks: one, or one per shard.</summary>
    IReadOnlyList<VocabShard> OutputShards => (lm_head ?? model.embed_tokens) switch
    {
        Linear l => [new VocabShard(l.weight!, 0)],
        Embedding e => [new VocabShard(e.weight!, 0)],
        VocabParallel v => v.Shards,
        var m => throw new InvalidOperationException($"unexpected output module {m.GetType().Name}"),
    };

    public IEnumerable<Parameter> TrainableParameters() => parameters();

    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var (positions, keyMask) = PositionsAndKeys(inputIds, attentionMask);
        return Forward(inputIds, positions, keyMask, null).MoveToOuterDisposeScope();
    }

    /// <summary>HF convention: position = number of real tokens before this one (so left padding is harmless).</summary>
    public static (Tensor Positions, Tensor KeyMask) PositionsAndKeys(Tensor inputIds, Tensor? attentionMask)
    {
        if (attentionMask is null)
        {
            var pos = arange(inputIds.shape[1], ScalarType.Int64, inputIds.device).unsqueeze(0).expand(inputIds.shape[0], -1);
            return (pos, ones(inputIds.shape, ScalarType.Bool, inputIds.device));
        }
        var m = attentionMask.to(ScalarType.Int64);
        return ((m.cumsum(-1) - 1).clamp_min(0), m.to(ScalarType.Bool));
    }

    public Tensor TargetLogProbs(Tensor inputIds, Tensor? attentionMask = null) => TargetLogProbs(inputIds, attentionMask, LossChunkTokens);

    public Tensor TargetLogProbs(Tensor inputIds, Tensor? attentionMask, int chunkTokens)
    {
        using var scope = NewDisposeScope();
        var (positions, keyMask) = PositionsAndKeys(inputIds, attentionMask);
        var hidden = Hidden(inputIds, positions, keyMask, null);
        // The module's weight getter may hand out a fresh handle; the replay in backward needs it after this scope.
        var shards = OutputShards;
        foreach (var s in shards) s.Weight.DetachFromDisposeScope();
        return ChunkedLogProbs.OfTargets(hidden, inputIds, shards, chunkTokens).MoveToOuterDisposeScope();
    }

    public Tensor Forward(Tensor inputIds, Tensor positionIds, Tensor keyMask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var h = Hidden(inputIds, positionIds, keyMask, cache);
        var shards = OutputShards;
        // Sharded: each shard's logits side by side, on the first device.
        var logits = shards.Count == 1 ? F.linear(h, shards[0].Weight.to(h.dtype)).to(ScalarType.Float32)
            : cat(shards.Select(s => F.linear(h.to(s.Weight.device), s.Weight.to(h.dtype)).to(ScalarType.Float32).to(Device)).ToArray(), -1);
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>The final-normed hidden states [B, T, H] in the compute dtype.</summary>
    Tensor Hidden(Tensor inputIds, Tensor positionIds, Tensor keyMask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var ids = inputIds.to(ScalarType.Int64).to(Device);
        positionIds = positionIds.to(Device);
        keyMask = keyMask.to(ScalarType.Bool).to(Device);
        long past = cache?.Length ?? 0;
        var h = Checkpointing.Scoped(() => model.embed_tokens.forward(ids).to(_compute));
        var (cos, sin) = Rope.Tables(positionIds, Config.HeadDim, Config.RopeTheta, _compute);
        var positions = new PositionTables(cos, sin, AttentionMask(keyMask, ids.shape[1], past), ShardDevices);
        bool recompute = GradientCheckpointing && cache is null && is_grad_enabled() && training;
        if (recompute) positions.DetachFromDisposeScope();
        for (int i = 0; i < model.layers.Count; i++)
        {
            var layer = model.layers[i];
            var input = h;
            if (layer.Home is { } home) { input = h.to(home); h.Dispose(); }
            // Each layer in its own scope, and its input's handle released after it: what backward needs, autograd keeps.
            h = recompute
                ? Checkpointing.Run(x => layer.Forward(x, positions, null, i), input, layer.parameters())
                : Checkpointing.Scoped(() => layer.Forward(input, positions, cache, i));
            input.Dispose();
        }
        if (cache is not null) cache.Length = past + ids.shape[1];
        if (ShardDevices.Count > 1) h = h.to(Device);
        return model.norm.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Boolean [B,1,T,S]: query i (absolute position past+i) sees key j when j ≤ past+i and key j is a
    /// real token. Every query also sees itself, so padding rows stay finite instead of all-masked NaN.
    /// Null when there is no past and no padding: plain causal attention.
    /// </summary>
    public static Tensor? AttentionMask(Tensor keyMask, long queries, long past)
    {
        if (past == 0 && keyMask.all().item<bool>()) return null;
        long keys = keyMask.shape[1];
        var qi = arange(past, past + queries, ScalarType.Int64, keyMask.device).unsqueeze(1);
        var kj = arange(keys, ScalarType.Int64, keyMask.device).unsqueeze(0);
        var causal = kj.le(qi);
        var self = kj.eq(qi);
        return (causal.unsqueeze(0) & (keyMask.unsqueeze(1) | self.unsqueeze(0))).unsqueeze(1);
    }

    /// <summary>Parameter count (tied embeddings counted once).</summary>
    public long ParameterCount() => parameters().Sum(p => p.numel());
}
