using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IwSft.Gpu.Models;

/// <summary>
/// Megatron-style tensor parallelism as a transformation of a <see cref="Transformer"/>, in one process
/// (transfers are <c>Tensor.to(device)</c>; TorchSharp has no NCCL process groups). <see cref="Apply"/>
/// replaces the model's modules by their shards in place; its forward pass is unchanged.
/// <list type="bullet">
/// <item>Layers: each shard holds whole KV-head groups (column-parallel q/k/v with the matching query
/// heads) and a slice of the MLP's intermediate columns (column-parallel gate/up); its o_proj and
/// down_proj take the matching input columns (row-parallel), so each shard's output is a partial sum,
/// added up on the layer's home device (the all-reduce, <see cref="ShardedBlock"/>). A shard is simply an
/// <see cref="Attention"/>/<see cref="Mlp"/> with fewer heads/columns, so the arithmetic is the single-device code.</item>
/// <item>Home devices: layer l's residual stream and RMSNorms live on device l mod n, so with gradient
/// checkpointing the saved layer inputs are spread over the devices instead of piling up on the first.</item>
/// <item>Vocabulary: the embedding and lm_head rows are split into contiguous, uneven shards (the first
/// V mod n shards get one row more; no padding rows; <see cref="VocabParallel"/>). The embedding is the sum of
/// each shard's lookup (zero for ids outside its range); log-probs come from <see cref="ChunkedLogProbs"/> over
/// the lm_head shards, so the [B, T, V] logits never exist.</item>
/// </list>
/// Devices may repeat (e.g. two shards on "cpu" in tests).
/// </summary>
public static class TensorParallel
{
    /// <summary>Vocabulary rows of shard <paramref name="shard"/> out of <paramref name="degree"/>: V / n, plus one for the first V mod n.</summary>
    public static long VocabRows(long vocab, int degree, int shard) => vocab / degree + (shard < vocab % degree ? 1 : 0);

    /// <summary>The device index that holds layer <paramref name="layer"/>'s residual stream and norms.</summary>
    public static int HomeOf(int layer, int degree) => layer % degree;

    /// <summary>
    /// Shards <paramref name="model"/> over <paramref name="devices"/> in place: its full attention, MLP, embedding and
    /// lm_head modules are replaced by shards on the devices (and freed), its norms moved to their home devices.
    /// </summary>
    public static void Apply(Transformer model, IReadOnlyList<string> devices)
    {
        var c = model.Config;
        int n = devices.Count;
        if (n < 1) throw new ArgumentException("tensor parallelism needs at least one device");
        if (c.NumKeyValueHeads % n != 0) throw new ArgumentException($"num_key_value_heads {c.NumKeyValueHeads} is not divisible by the tensor-parallel degree {n}");
        if (c.IntermediateSize % n != 0) throw new ArgumentException($"intermediate_size {c.IntermediateSize} is not divisible by the tensor-parallel degree {n}");
        if (c.VocabSize < n) throw new ArgumentException($"vocab_size {c.VocabSize} is smaller than the tensor-parallel degree {n}");
        if (model.model.embed_tokens is VocabParallel) throw new InvalidOperationException("the model is already sharded");
        var dev = devices.Select(d => new Device(d)).ToArray();
        var dtype = model.Options.ParamType;
        bool training = model.training;
        using var _ = no_grad();

        var starts = new long[n + 1];
        for (int s = 0; s < n; s++) starts[s + 1] = starts[s] + VocabRows(c.VocabSize, n, s);
        var stack = model.model;
        stack.embed_tokens = Swap(stack, "embed_tokens", new VocabParallel(((Embedding)stack.embed_tokens).weight!, starts, dev));
        if (model.lm_head is Linear head) model.lm_head = Swap(model, "lm_head", new VocabParallel(head.weight!, starts, dev));
        stack.norm.to(dev[0]);
        int q = c.NumAttentionHeads / n * c.HeadDim, kv = c.NumKeyValueHeads / n * c.HeadDim, inter = c.IntermediateSize / n;
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            var layer = stack.layers[l];
            layer.Home = dev[HomeOf(l, n)];
            layer.input_layernorm.to(layer.Home);
            layer.post_attention_layernorm.to(layer.Home);
            var a = (Attention)layer.self_attn;
            layer.self_attn = Swap(layer, "self_attn", new ShardedBlock(dev.Select((d, s) =>
            {
                var shard = new Attention(c.HiddenSize, c.NumAttentionHeads / n, c.NumKeyValueHeads / n, c.HeadDim, c.AttentionBias, false, d, dtype);
                CopySlice(shard.q_proj, a.q_proj, 0, s * q);
                CopySlice(shard.k_proj, a.k_proj, 0, s * kv);
                CopySlice(shard.v_proj, a.v_proj, 0, s * kv);
                CopySlice(shard.o_proj, a.o_proj, 1, s * q);
                return (LayerBlock)shard;
            }), dev, rowParallel: new HashSet<string> { "o_proj.weight" }));
            var m = (Mlp)layer.mlp;
            layer.mlp = Swap(layer, "mlp", new ShardedBlock(dev.Select((d, s) =>
            {
                var shard = new Mlp(c.HiddenSize, inter, d, dtype);
                CopySlice(shard.gate_proj, m.gate_proj, 0, s * inter);
                CopySlice(shard.up_proj, m.up_proj, 0, s * inter);
                CopySlice(shard.down_proj, m.down_proj, 1, s * inter);
                return (LayerBlock)shard;
            }), dev, rowParallel: new HashSet<string> { "down_proj.weight" }));
        }
        model.Device = dev[0];
        model.Options = model.Options with { Device = devices[0] };
        model.ShardDevices = dev;
        model.train(training); // the new modules start in training mode
    }

    /// <summary>Fills <paramref name="shard"/> with its slice of <paramref name="full"/>: rows (dim 0, bias too) from
    /// <paramref name="start"/> for column-parallel, input columns (dim 1) for row-parallel.</summary>
    static void CopySlice(Linear shard, Linear full, int dim, long start)
    {
        using (var w = full.weight!.narrow(dim, start, shard.weight!.shape[dim])) shard.weight!.copy_(w);
        if (shard.bias is null) return;
        using var b = full.bias!.narrow(0, start, shard.bias.shape[0]);
        shard.bias.copy_(b);
    }

    /// <summary>Replaces <paramref name="parent"/>'s child <paramref name="name"/>, keeping the children's order (so the
    /// parameters keep the HF order) and freeing the replaced module.</summary>
    static T Swap<T>(nn.Module parent, string name, T replacement) where T : nn.Module
    {
        var children = parent.named_children().ToList();
        foreach (var (n, _) in children) parent.register_module(n, null!);
        foreach (var (n, m) in children) parent.register_module(n, n == name ? replacement : m);
        children.Single(x => x.name == name).module.Dispose();
        return replacement;
    }

    /// <summary>
    /// Full tensors under their HF names, in the plain model's parameter order, on the CPU (in <paramref name="dtype"/>
    /// if given), one at a time: the parameters (<c>p => p</c>, to save a checkpoint) or their gradients
    /// (<c>p => p.grad</c>), the shards concatenated back. For a model on one device, its own parameters.
    /// </summary>
    public static IEnumerable<(string Name, Tensor Tensor)> GatherEach(Transformer model, Func<Parameter, Tensor?> select, ScalarType? dtype = null)
    {
        Tensor Get(Parameter p)
        {
            using var _ = no_grad();
            var t = (select(p) ?? throw new InvalidOperationException("a selected tensor is missing (no gradient yet?)")).detach();
            return (dtype is { } type ? t.to(type) : t).cpu();
        }
        Tensor Cat(IEnumerable<Parameter> parts, int dim)
        {
            var host = parts.Select(Get).ToArray();
            var full = cat(host, dim);
            foreach (var t in host) t.Dispose();
            return full;
        }
        IEnumerable<(string, Tensor)> Walk(nn.Module module, string prefix)
        {
            switch (module)
            {
                case ShardedBlock b:
                    var perShard = b.Shards.Select(s => s.named_parameters().ToList()).ToList();
                    for (int i = 0; i < perShard[0].Count; i++)
                    {
                        var name = perShard[0][i].name;
                        yield return (prefix + name, Cat(perShard.Select(ps => ps[i].parameter), b.RowParallel.Contains(name) ? 1 : 0));
                    }
                    break;
                case VocabParallel v:
                    yield return (prefix + "weight", Cat(v.Shards.Select(s => (Parameter)s.Weight), 0));
                    break;
                default:
                    foreach (var (name, p) in module.named_parameters(recurse: false)) yield return (prefix + name, Get(p));
                    foreach (var (name, child) in module.named_children())
                        foreach (var x in Walk(child, prefix + name + ".")) yield return x;
                    break;
            }
        }
        return Walk(model, "");
    }

    /// <summary>The tensors of <see cref="GatherEach"/> by name.</summary>
    public static Dictionary<string, Tensor> Gather(Transformer model, Func<Parameter, Tensor?> select) =>
        GatherEach(model, select).ToDictionary(x => x.Name, x => x.Tensor);

    /// <summary>The parameters placed on shard <paramref name="shard"/>'s device: its attention and MLP shards, its
    /// vocabulary rows, the norms of the layers it is home to, and (shard 0) the final norm.</summary>
    public static IEnumerable<Parameter> ParametersOn(Transformer model, int shard)
    {
        int n = model.ShardDevices.Count;
        IEnumerable<Parameter> Of(nn.Module m) => m switch
        {
            ShardedBlock b => b.Shards[shard].parameters(),
            VocabParallel v => [(Parameter)v.Shards[shard].Weight],
            _ => m.parameters(),
        };
        var stack = model.model;
        var result = Of(stack.embed_tokens).ToList();
        if (model.lm_head is not null) result.AddRange(Of(model.lm_head));
        if (shard == 0) result.AddRange(stack.norm.parameters());
        for (int l = 0; l < stack.layers.Count; l++)
        {
            var layer = stack.layers[l];
            if (HomeOf(l, n) == shard) result.AddRange(layer.input_layernorm.parameters().Concat(layer.post_attention_layernorm.parameters()));
            result.AddRange(Of(layer.self_attn).Concat(Of(layer.mlp)));
        }
        return result;
    }
}

/// <summary>
/// A layer block split over devices: each shard runs on its device on a copy of the input, and the partial
/// outputs are summed on the input's (the layer's home) device: the all-reduce.
/// </summary>
public sealed class ShardedBlock : LayerBlock
{
    readonly ModuleList<LayerBlock> shards;
    readonly Device[] _devices;

    /// <summary>Parameters split along their input columns (row-parallel); the others are split along their output rows.</summary>
    internal IReadOnlySet<string> RowParallel { get; }
    internal IList<LayerBlock> Shards => shards;

    public ShardedBlock(IEnumerable<LayerBlock> parts, Device[] devices, IReadOnlySet<string> rowParallel) : base(nameof(ShardedBlock))
    {
        shards = new ModuleList<LayerBlock>(parts.ToArray());
        _devices = devices;
        RowParallel = rowParallel;
        RegisterComponents();
    }

    /// <summary>Shard s uses KV-cache slot <c>slot · n + s</c>.</summary>
    public override Tensor Forward(Tensor x, PositionTables positions, KvCache? cache, int slot)
    {
        Tensor? sum = null;
        for (int s = 0; s < shards.Count; s++)
        {
            var part = shards[s].Forward(x.to(_devices[s]), positions, cache, slot * shards.Count + s).to(x.device);
            sum = sum is null ? part : sum + part;
        }
        return sum!;
    }
}

/// <summary>
/// An embedding or lm_head weight split into contiguous row blocks, one per device. As an embedding, each shard
/// looks up its rows (zero for ids outside them) and the lookups are summed on the first device.
/// </summary>
public sealed class VocabParallel : nn.Module<Tensor, Tensor>
{
    readonly ParameterList shards;
    readonly long[] _starts; // shard s holds rows [_starts[s], _starts[s + 1])
    readonly Device _home;

    internal VocabParallel(Tensor full, long[] starts, Device[] devices) : base(nameof(VocabParallel))
    {
        shards = new ParameterList();
        for (int s = 0; s < devices.Length; s++)
        {
            var rows = empty(starts[s + 1] - starts[s], full.shape[1], full.dtype, devices[s]);
            using (var part = full.narrow(0, starts[s], starts[s + 1] - starts[s])) rows.copy_(part);
            shards.Add(new Parameter(rows));
        }
        _starts = starts;
        _home = devices[0];
        RegisterComponents();
    }

    public IReadOnlyList<VocabShard> Shards => shards.Select((w, s) => new VocabShard(w, _starts[s])).ToList();

    public override Tensor forward(Tensor ids)
    {
        Tensor? sum = null;
        for (int s = 0; s < shards.Count; s++)
        {
            var w = shards[s];
            long rows = w.shape[0];
            var local = ids.to(w.device) - _starts[s];
            var outside = local.lt(0) | local.ge(rows);
            var part = w.index_select(0, local.clamp(0, rows - 1).flatten()).view(local.shape[0], local.shape[1], -1)
                        .masked_fill(outside.unsqueeze(-1), 0).to(_home);
            sum = sum is null ? part : sum + part;
        }
        return sum!;
    }
}
