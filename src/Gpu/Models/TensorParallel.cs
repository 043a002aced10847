using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace IwSft.Gpu.Models;

/// <summary>
/// Megatron-style tensor parallelism over a list of devices, in one process (transfers are
/// <c>Tensor.to(device)</c>; TorchSharp has no NCCL process groups).
/// <list type="bullet">
/// <item>Layers: each shard holds whole KV-head groups (column-parallel q/k/v with the matching query
/// heads) and a slice of the MLP's intermediate columns (column-parallel gate/up); its o_proj and
/// down_proj take the matching input columns (row-parallel), so each shard's output is a partial sum,
/// added up on the layer's home device (the all-reduce). A shard is simply an <see cref="Attention"/>/
/// <see cref="Mlp"/> with fewer heads/columns, so the arithmetic is the single-device code.</item>
/// <item>Home devices: layer l's residual stream and RMSNorms live on device l mod n, so with gradient
/// checkpointing the saved layer inputs are spread over the devices instead of piling up on the first.</item>
/// <item>Vocabulary: the embedding and lm_head rows are split into contiguous, uneven shards (the first
/// V mod n shards get one row more; no padding rows). The embedding is the sum of each shard's lookup
/// (zero for ids outside its range); log-probs come from <see cref="ChunkedLogProbs"/> over the lm_head
/// shards, so the [B, T, V] logits never exist.</item>
/// </list>
/// Devices may repeat (e.g. two shards on "cpu" in tests).
/// </summary>
public sealed class TensorParallelTransformer : nn.Module, IDecoderModel
{
    readonly Device[] _devices;
    readonly ScalarType _compute;
    readonly long[] _vocabStart; // shard s holds vocabulary rows [_vocabStart[s], _vocabStart[s + 1])
    readonly ParameterList _embed, _lmHead; // _lmHead is empty when the embeddings are tied
    readonly RmsNorm _finalNorm;
    readonly ModuleList<RmsNorm> _inputNorms, _postNorms;
    readonly ModuleList<Attention> _attn; // layer-major: [layer * degree + shard]
    readonly ModuleList<Mlp> _mlp;

    public TransformerConfig Config { get; }
    public Device Device => _devices[0];
    public int Degree => _devices.Length;
    /// <summary>Recompute each layer in backward, keeping only its input (on the layer's home device).</summary>
    public bool GradientCheckpointing { get; set; }
    /// <summary>Positions per chunk of <see cref="TargetLogProbs(Tensor, Tensor?)"/>; 0 = one chunk.</summary>
    public int LossChunkTokens { get; set; }

    /// <summary>Vocabulary rows of shard <paramref name="shard"/> out of <paramref name="degree"/>: V / n, plus one for the first V mod n.</summary>
    public static long VocabRows(long vocab, int degree, int shard) => vocab / degree + (shard < vocab % degree ? 1 : 0);

    /// <summary>The device index that holds layer <paramref name="layer"/>'s residual stream and norms.</summary>
    public static int HomeOf(int layer, int degree) => layer % degree;

    public TensorParallelTransformer(Transformer source, IReadOnlyList<string> devices) : base("TensorParallelTransformer")
    {
        var c = source.Config;
        int n = devices.Count;
        if (n < 1) throw new ArgumentException("tensor parallelism needs at least one device");
        if (c.NumKeyValueHeads % n != 0) throw new ArgumentException($"num_key_value_heads {c.NumKeyValueHeads} is not divisible by the tensor-parallel degree {n}");
        if (c.IntermediateSize % n != 0) throw new ArgumentException($"intermediate_size {c.IntermediateSize} is not divisible by the tensor-parallel degree {n}");
        if (c.VocabSize < n) throw new ArgumentException($"vocab_size {c.VocabSize} is smaller than the tensor-parallel degree {n}");
        Config = c;
        _devices = devices.Select(d => new Device(d)).ToArray();
        _compute = source.Options.ComputeType;
        GradientCheckpointing = source.GradientCheckpointing;
        LossChunkTokens = source.LossChunkTokens;
        var dtype = source.Options.ParamType;
        int kvPer = c.NumKeyValueHeads / n, qPer = c.NumAttentionHeads / n, hd = c.HeadDim, interPer = c.IntermediateSize / n;

        using var _ = no_grad();
        _vocabStart = new long[n + 1];
        for (int s = 0; s < n; s++) _vocabStart[s + 1] = _vocabStart[s] + VocabRows(c.VocabSize, n, s);
        Parameter Rows(Tensor full, int s) => new(full.narrow(0, _vocabStart[s], _vocabStart[s + 1] - _vocabStart[s]).to(_devices[s]).to(dtype).clone());
        _embed = new ParameterList();
        _lmHead = new ParameterList();
        for (int s = 0; s < n; s++)
        {
            _embed.Add(Rows(source.model.embed_tokens.weight!, s));
            if (source.lm_head is not null) _lmHead.Add(Rows(source.lm_head.weight!, s));
        }
        _finalNorm = Copy(source.model.norm, c, _devices[0], dtype);
        _inputNorms = new ModuleList<RmsNorm>(); _postNorms = new ModuleList<RmsNorm>();
        _attn = new ModuleList<Attention>(); _mlp = new ModuleList<Mlp>();
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var layer = source.model.layers[l];
            var home = _devices[HomeOf(l, n)];
            _inputNorms.Add(Copy(layer.input_layernorm, c, home, dtype));
            _postNorms.Add(Copy(layer.post_attention_layernorm, c, home, dtype));
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

    /// <summary>The parameters placed on device <paramref name="shard"/> of the list: its attention and MLP shards, its
    /// vocabulary rows, the norms of the layers it is home to, and (shard 0) the final norm.</summary>
    public IEnumerable<Parameter> ParametersOn(int shard)
    {
        int n = Degree;
        var result = new List<Parameter> { _embed[shard] };
        if (_lmHead.Count > 0) result.Add(_lmHead[shard]);
        if (shard == 0) result.Add(_finalNorm.weight);
        for (int l = 0; l < Config.NumHiddenLayers; l++)
        {
            if (HomeOf(l, n) == shard) { result.Add(_inputNorms[l].weight); result.Add(_postNorms[l].weight); }
            result.AddRange(_attn[l * n + shard].parameters());
            result.AddRange(_mlp[l * n + shard].parameters());
        }
        return result;
    }

    IReadOnlyList<VocabShard> OutputShards =>
        Enumerable.Range(0, Degree).Select(s => new VocabShard(_lmHead.Count > 0 ? _lmHead[s] : _embed[s], _vocabStart[s])).ToList();

    public Tensor Forward(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var (positions, keyMask) = Transformer.PositionsAndKeys(inputIds, attentionMask);
        return Forward(inputIds, positions, keyMask, null).MoveToOuterDisposeScope();
    }

    /// <summary>Full logits [B, T, V] on the first device (generation, tests); training uses <see cref="TargetLogProbs(Tensor, Tensor?)"/>.</summary>
    public Tensor Forward(Tensor inputIds, Tensor positionIds, Tensor keyMask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var h = Hidden(inputIds, positionIds, keyMask, cache);
        var parts = OutputShards.Select(s => F.linear(h.to(s.Weight.device), s.Weight.to(h.dtype)).to(ScalarType.Float32).to(Device)).ToArray();
        return cat(parts, -1).MoveToOuterDisposeScope();
    }

    public Tensor TargetLogProbs(Tensor inputIds, Tensor? attentionMask = null) => TargetLogProbs(inputIds, attentionMask, LossChunkTokens);

    public Tensor TargetLogProbs(Tensor inputIds, Tensor? attentionMask, int chunkTokens)
    {
        using var scope = NewDisposeScope();
        var (positions, keyMask) = Transformer.PositionsAndKeys(inputIds, attentionMask);
        var hidden = Hidden(inputIds, positions, keyMask, null);
        return ChunkedLogProbs.OfTargets(hidden, inputIds, OutputShards, chunkTokens).MoveToOuterDisposeScope();
    }

    /// <summary>Position tables and attention mask on one device.</summary>
    sealed record DeviceTables(Tensor Cos, Tensor Sin, Tensor? Mask);

    /// <summary>The final-normed hidden states [B, T, H] on the first device, in the compute dtype.</summary>
    Tensor Hidden(Tensor inputIds, Tensor positionIds, Tensor keyMask, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var d0 = Device;
        var ids = inputIds.to(ScalarType.Int64).to(d0);
        long past = cache?.Length ?? 0;
        var (cos, sin) = Rope.Tables(positionIds.to(d0), Config.HeadDim, Config.RopeTheta, _compute);
        var mask = Transformer.AttentionMask(keyMask.to(ScalarType.Bool).to(d0), ids.shape[1], past);
        // Per-device copies of the position tables and mask, made once per forward.
        var tables = _devices.Select(d => new DeviceTables(cos.to(d), sin.to(d), mask?.to(d))).ToArray();
        bool recompute = GradientCheckpointing && cache is null && is_grad_enabled() && training;
        if (recompute)
            // The replay in backward runs after this scope has closed: these must outlive it (the GC frees them).
            foreach (var t in tables) { t.Cos.DetachFromDisposeScope(); t.Sin.DetachFromDisposeScope(); t.Mask?.DetachFromDisposeScope(); }

        var h = Checkpointing.Scoped(() => Embed(ids)); // the shards' fp32 lookups go as soon as they are summed
        for (int l = 0; l < Config.NumHiddenLayers; l++)
        {
            int layer = l;
            var input = h.to(_devices[HomeOf(l, Degree)]);
            if (!ReferenceEquals(input, h)) h.Dispose();
            // Each layer in its own scope, and its input's handle released after it: what backward needs, autograd keeps.
            h = recompute
                ? Checkpointing.Run(x => Layer(layer, x, tables, null), input, LayerParameters(layer))
                : Checkpointing.Scoped(() => Layer(layer, input, tables, cache));
            input.Dispose();
        }
        if (cache is not null) cache.Length = past + ids.shape[1];
        return _finalNorm.forward(h.to(d0)).MoveToOuterDisposeScope();
    }

    /// <summary>Sum of every vocabulary shard's lookup (zero outside its rows), on the first device, in the compute dtype.</summary>
    Tensor Embed(Tensor ids)
    {
        Tensor? sum = null;
        for (int s = 0; s < Degree; s++)
        {
            var w = _embed[s];
            long rows = w.shape[0];
            var local = ids.to(_devices[s]) - _vocabStart[s];
            var outside = local.lt(0) | local.ge(rows);
            var rowsOf = w.index_select(0, local.clamp(0, rows - 1).flatten()).view(local.shape[0], local.shape[1], -1);
            var part = rowsOf.masked_fill(outside.unsqueeze(-1), 0).to(_compute).to(Device);
            sum = sum is null ? part : sum + part;
        }
        return sum!;
    }

    /// <summary>One decoder layer: norms and residual on <paramref name="h"/>'s (home) device, shards on theirs, partial sums added at home.</summary>
    Tensor Layer(int l, Tensor h, DeviceTables[] tables, KvCache? cache)
    {
        int n = Degree;
        h = h + AllReduce(_inputNorms[l], h, (s, x) => _attn[l * n + s].Forward(x, tables[s].Cos, tables[s].Sin, tables[s].Mask, cache, l * n + s));
        return h + AllReduce(_postNorms[l], h, (s, x) => _mlp[l * n + s].forward(x));
    }

    /// <summary>Normalises <paramref name="h"/> at home, runs every shard on its copy, sums the partial outputs at home;
    /// in its own dispose scope, like the single-device layer's blocks.</summary>
    Tensor AllReduce(RmsNorm norm, Tensor h, Func<int, Tensor, Tensor> shard) => Checkpointing.Scoped(() =>
    {
        var x = norm.forward(h);
        Tensor? sum = null;
        for (int s = 0; s < Degree; s++)
        {
            var part = shard(s, x.to(_devices[s])).to(h.device);
            sum = sum is null ? part : sum + part;
        }
        return sum!;
    });

    IEnumerable<Tensor> LayerParameters(int l) =>
        _inputNorms[l].parameters().Concat(_postNorms[l].parameters())
            .Concat(Enumerable.Range(0, Degree).SelectMany(s => _attn[l * Degree + s].parameters().Concat(_mlp[l * Degree + s].parameters())));

    /// <summary>
    /// Reassembles full tensors in the HF layout from the shards: the parameters themselves
    /// (<c>p => p</c>, to save a checkpoint) or their gradients (<c>p => p.grad</c>). Returned on the CPU.
    /// </summary>
    public Dictionary<string, Tensor> Gather(Func<Parameter, Tensor?> select) => GatherEach(select).ToDictionary(x => x.Name, x => x.Tensor);

    /// <summary>The tensors of <see cref="Gather"/>, one at a time (so a caller can copy and free each before the next).</summary>
    IEnumerable<(string Name, Tensor Tensor)> GatherEach(Func<Parameter, Tensor?> select)
    {
        Tensor Get(Parameter p)
        {
            using var _ = no_grad();
            return (select(p) ?? throw new InvalidOperationException("a selected tensor is missing (no gradient yet?)")).detach().cpu();
        }
        Tensor Cat(IEnumerable<Parameter> ps, int dim)
        {
            var parts = ps.Select(Get).ToArray();
            var full = cat(parts, dim);
            foreach (var t in parts) t.Dispose();
            return full;
        }
        yield return ("model.embed_tokens.weight", Cat(_embed, 0));
        yield return ("model.norm.weight", Get(_finalNorm.weight));
        if (_lmHead.Count > 0) yield return ("lm_head.weight", Cat(_lmHead, 0));
        int n = Degree;
        for (int l = 0; l < Config.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            var shards = Enumerable.Range(0, n).Select(s => _attn[l * n + s]).ToList();
            var mlps = Enumerable.Range(0, n).Select(s => _mlp[l * n + s]).ToList();
            yield return (p + "input_layernorm.weight", Get(_inputNorms[l].weight));
            yield return (p + "post_attention_layernorm.weight", Get(_postNorms[l].weight));
            foreach (var (name, pick) in new (string, Func<Attention, Linear>)[] { ("q_proj", a => a.q_proj), ("k_proj", a => a.k_proj), ("v_proj", a => a.v_proj) })
            {
                yield return (p + $"self_attn.{name}.weight", Cat(shards.Select(a => pick(a).weight!), 0));
                if (Config.AttentionBias) yield return (p + $"self_attn.{name}.bias", Cat(shards.Select(a => pick(a).bias!), 0));
            }
            yield return (p + "self_attn.o_proj.weight", Cat(shards.Select(a => a.o_proj.weight!), 1));
            yield return (p + "mlp.gate_proj.weight", Cat(mlps.Select(m => m.gate_proj.weight!), 0));
            yield return (p + "mlp.up_proj.weight", Cat(mlps.Select(m => m.up_proj.weight!), 0));
            yield return (p + "mlp.down_proj.weight", Cat(mlps.Select(m => m.down_proj.weight!), 1));
        }
    }

    /// <summary>
    /// Copies the (possibly trained) shards back into a single-device model, e.g. to save a checkpoint, one tensor at a
    /// time: the host holds one extra full tensor, not a second copy of the model.
    /// </summary>
    public void CopyInto(Transformer target)
    {
        var targets = target.named_parameters().ToDictionary(x => x.name, x => x.parameter);
        int copied = 0;
        foreach (var (name, t) in GatherEach(p => p))
        {
            using (t)
            using (no_grad())
            {
                if (!targets.TryGetValue(name, out var p))
                    throw new InvalidOperationException($"target model has no '{name}' (tied embeddings differ from the tensor-parallel model's?)");
                p.copy_(t);
                copied++;
            }
        }
        if (copied != targets.Count)
            throw new InvalidOperationException($"tensor-parallel model filled {copied} of the target's {targets.Count} parameters");
    }
}
