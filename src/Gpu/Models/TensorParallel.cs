using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace IwSft.Gpu.Models;

/// <summary>
/// Megatron-style tensor parallelism over a list of devices. Each shard holds whole KV-head groups
/// (column-parallel q/k/v with the matching query heads) and a slice of the MLP's intermediate
/// columns (column-parallel gate/up); its o_proj and down_proj take the matching input columns
/// (row-parallel), so each shard's output is a partial sum, added up on the first device (the
/// all-reduce). Embeddings, norms and lm_head are small next to the layers and stay on the first
/// device. A shard is simply an <see cref="Attention"/>/<see cref="Mlp"/> with fewer heads/columns,
/// so the arithmetic is the single-device code. Devices may repeat (e.g. two shards on "cpu" in tests).
/// </summary>
public sealed class TensorParallelTransformer : nn.Module, IDecoderModel
{
    readonly Device[] _devices;
    readonly ScalarType _compute;
    readonly Embedding _embed;
    readonly RmsNorm _finalNorm;
    readonly Parameter? _lmHead;
    readonly ModuleList<RmsNorm> _inputNorms, _postNorms;
    readonly ModuleList<Attention> _attn; // layer-major: [layer * degree + shard]
    readonly ModuleList<Mlp> _mlp;

    public TransformerConfig Config { get; }
    public Device Device => _devices[0];
    public int Degree => _devices.Length;

    public TensorParallelTransformer(Transformer source, IReadOnlyList<string> devices) : base("TensorParallelTransformer")
    {
        var c = source.Config;
        int n = devices.Count;
        if (n < 1) throw new ArgumentException("tensor parallelism needs at least one device");
        if (c.NumKeyValueHeads % n != 0) throw new ArgumentException($"num_key_value_heads {c.NumKeyValueHeads} is not divisible by the tensor-parallel degree {n}");
        if (c.IntermediateSize % n != 0) throw new ArgumentException($"intermediate_size {c.IntermediateSize} is not divisible by the tensor-parallel degree {n}");
        Config = c;
        _devices = devices.Select(d => new Device(d)).ToArray();
        _compute = source.Options.ComputeType;
        var dtype = source.Options.ParamType;
        var d0 = _devices[0];
        int kvPer = c.NumKeyValueHeads / n, qPer = c.NumAttentionHeads / n, hd = c.HeadDim, interPer = c.IntermediateSize / n;

        using var _ = no_grad();
        _embed = nn.Embedding(c.VocabSize, c.HiddenSize, device: d0, dtype: dtype);
        _embed.weight!.copy_(source.model.embed_tokens.weight!);
        _finalNorm = Copy(source.model.norm, c, d0, dtype);
        _lmHead = source.lm_head is null ? null : new Parameter(source.lm_head.weight!.detach().to(d0).clone());
        _inputNorms = new ModuleList<RmsNorm>(); _postNorms = new ModuleList<RmsNorm>();
        _attn = new ModuleList<Attention>(); _mlp = new ModuleList<Mlp>();
        foreach (var layer in source.model.layers)
        {
            _inputNorms.Add(Copy(layer.input_layernorm, c, d0, dtype));
            _postNorms.Add(Copy(layer.post_attention_layernorm, c, d0, dtype));
            var a = layer.self_attn;
            var m = layer.mlp;
            for (int s = 0; s < n; s++)
            {
                var dev = _devices[s];
                var sa = new Attention(c.HiddenSize, qPer, kvPer, hd, c.AttentionBias, false, dev, dtype);
                CopyRows(sa.q_proj, a.q_proj, s * qPer * hd, qPer * hd);
                CopyRows(sa.k_proj, a.k_proj, s * kvPer * hd, kvPer * hd);
                CopyRows(sa.v_proj, a.v_proj, s * kvPer * hd, kvPer * hd);
                sa.o_proj.weight!.copy_(a.o_proj.weight!.narrow(1, s * qPer * hd, qPer * hd));
                _attn.Add(sa);
                var sm = new Mlp(c.HiddenSize, interPer, dev, dtype);
                CopyRows(sm.gate_proj, m.gate_proj, s * interPer, interPer);
                CopyRows(sm.up_proj, m.up_proj, s * interPer, interPer);
                sm.down_proj.weight!.copy_(m.down_proj.weight!.narrow(1, s * interPer, interPer));
                _mlp.Add(sm);
            }
        }
        RegisterComponents();
    }

    static RmsNorm Copy(RmsNorm src, TransformerConfig c, Device dev, ScalarType dtype)
    {
        var r = new RmsNorm(c.HiddenSize, c.RmsNormEps, dev, dtype);
        r.weight.copy_(src.weight);
        return r;
    }

    static void CopyRows(Linear dst, Linear src, long start, long length)
    {
        dst.weight!.copy_(src.weight!.narrow(0, start, length));
        if (src.bias is not null) dst.bias!.copy_(src.bias.narrow(0, start, length));
    }

    public IEnumerable<Parameter> TrainableParameters() => parameters();

    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var (positions, keyMask) = Transformer.PositionsAndKeys(inputIds, attentionMask);
        return Forward(inputIds, positions, keyMask, null).MoveToOuterDisposeScope();
    }

    public Tensor Forward(Tensor inputIds, Tensor positionIds, Tensor keyMask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var d0 = Device;
        var ids = inputIds.to(ScalarType.Int64).to(d0);
        long past = cache?.Length ?? 0;
        var h = _embed.forward(ids).to(_compute);
        var (cos, sin) = Rope.Tables(positionIds.to(d0), Config.HeadDim, Config.RopeTheta, _compute);
        var mask = Transformer.AttentionMask(keyMask.to(ScalarType.Bool).to(d0), ids.shape[1], past);
        // Per-device copies of the position tables and mask, made once per forward.
        var onDevice = _devices.Select(d => (Cos: cos.to(d), Sin: sin.to(d), Mask: mask?.to(d))).ToArray();
        int n = Degree;
        for (int l = 0; l < Config.NumHiddenLayers; l++)
        {
            var x = _inputNorms[l].forward(h);
            Tensor? sum = null;
            for (int s = 0; s < n; s++)
            {
                var (c, sn, m) = onDevice[s];
                var part = _attn[l * n + s].Forward(x.to(_devices[s]), c, sn, m, cache, l * n + s).to(d0);
                sum = sum is null ? part : sum + part;
            }
            h = h + sum!;
            x = _postNorms[l].forward(h);
            sum = null;
            for (int s = 0; s < n; s++)
            {
                var part = _mlp[l * n + s].forward(x.to(_devices[s])).to(d0);
                sum = sum is null ? part : sum + part;
            }
            h = h + sum!;
        }
        if (cache is not null) cache.Length = past + ids.shape[1];
        h = _finalNorm.forward(h);
        var w = (Tensor?)_lmHead ?? _embed.weight!;
        return F.linear(h, w.to(h.dtype)).to(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Reassembles full tensors in the HF layout from the shards: the parameters themselves
    /// (<c>p => p</c>, to save a checkpoint) or their gradients (<c>p => p.grad</c>). Returned on the CPU.
    /// </summary>
    public Dictionary<string, Tensor> Gather(Func<Parameter, Tensor?> select)
    {
        var result = new Dictionary<string, Tensor>();
        using var _ = no_grad();
        Tensor Get(Parameter p) => (select(p) ?? throw new InvalidOperationException("a selected tensor is missing (no gradient yet?)")).detach().cpu();
        Tensor Cat(IEnumerable<Parameter> ps, int dim) => cat(ps.Select(Get).ToArray(), dim);
        result["model.embed_tokens.weight"] = Get(_embed.weight!);
        result["model.norm.weight"] = Get(_finalNorm.weight);
        if (_lmHead is not null) result["lm_head.weight"] = Get(_lmHead);
        int n = Degree;
        for (int l = 0; l < Config.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var shards = Enumerable.Range(0, n).Select(s => _attn[l * n + s]).ToList();
            var mlps = Enumerable.Range(0, n).Select(s => _mlp[l * n + s]).ToList();
            result[p + "input_layernorm.weight"] = Get(_inputNorms[l].weight);
            result[p + "post_attention_layernorm.weight"] = Get(_postNorms[l].weight);
            foreach (var (name, pick) in new (string, Func<Attention, Linear>)[] { ("q_proj", a => a.q_proj), ("k_proj", a => a.k_proj), ("v_proj", a => a.v_proj) })
            {
                result[p + $"self_attn.{name}.weight"] = Cat(shards.Select(a => pick(a).weight!), 0);
                if (Config.AttentionBias) result[p + $"self_attn.{name}.bias"] = Cat(shards.Select(a => pick(a).bias!), 0);
            }
            result[p + "self_attn.o_proj.weight"] = Cat(shards.Select(a => a.o_proj.weight!), 1);
            result[p + "mlp.gate_proj.weight"] = Cat(mlps.Select(m => m.gate_proj.weight!), 0);
            result[p + "mlp.up_proj.weight"] = Cat(mlps.Select(m => m.up_proj.weight!), 0);
            result[p + "mlp.down_proj.weight"] = Cat(mlps.Select(m => m.down_proj.weight!), 1);
        }
        return result;
    }

    /// <summary>Copies the (possibly trained) shards back into a single-device model, e.g. to save a checkpoint.</summary>
    public void CopyInto(Transformer target)
    {
        var full = Gather(p => p);
        using var _ = no_grad();
        foreach (var (name, p) in target.named_parameters())
        {
            if (!full.TryGetValue(name, out var t)) throw new InvalidOperationException($"tensor-parallel model has no '{name}'");
            p.copy_(t);
        }
        foreach (var t in full.Values) t.Dispose();
    }
}
