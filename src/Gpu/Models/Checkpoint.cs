using System.Text.Json;
using System.Text.Json.Nodes;
using IwSft.Gpu.Safetensors;
using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Gpu.Models;

/// <summary>
/// Hugging Face checkpoint directories: config.json plus model.safetensors, or shards listed in
/// model.safetensors.index.json. Loads Qwen2/Llama weights into <see cref="Transformer"/>, saves in
/// the same layout, and creates random checkpoints for tests and demos.
/// </summary>
public static class Checkpoint
{
    public const string ConfigFile = "config.json";
    public const string SingleFile = "model.safetensors";
    public const string IndexFile = "model.safetensors.index.json";

    /// <summary>Tensor name → file path for every tensor in the checkpoint's safetensors files.</summary>
    public static IReadOnlyDictionary<string, string> WeightMap(string dir)
    {
        var indexPath = Path.Combine(dir, IndexFile);
        if (File.Exists(indexPath))
        {
            JsonNode? root;
            try { root = JsonNode.Parse(File.ReadAllText(indexPath)); }
            catch (JsonException e) { throw new InvalidDataException($"{indexPath}: not valid JSON: {e.Message}"); }
            if (root?["weight_map"] is not JsonObject map) throw new InvalidDataException($"{indexPath}: missing object 'weight_map'");
            var result = new Dictionary<string, string>();
            foreach (var (name, file) in map)
            {
                var fileName = file?.GetValue<string>() ?? throw new InvalidDataException($"{indexPath}: tensor '{name}' has no file");
                if (fileName != Path.GetFileName(fileName)) throw new InvalidDataException($"{indexPath}: tensor '{name}' points outside the checkpoint directory ('{fileName}')");
                SafetensorsFile.RefusePickle(fileName);
                result[name] = Path.Combine(dir, fileName);
            }
            return result;
        }
        var single = Path.Combine(dir, SingleFile);
        if (!File.Exists(single))
        {
            var pickles = Directory.Exists(dir) ? Directory.GetFiles(dir).Where(f => f.EndsWith(".bin") || f.EndsWith(".pt") || f.EndsWith(".pth")).ToArray() : Array.Empty<string>();
            if (pickles.Length > 0) SafetensorsFile.RefusePickle(pickles[0]);
            throw new FileNotFoundException($"{dir}: no {SingleFile} or {IndexFile}");
        }
        using var f = SafetensorsFile.Open(single);
        return f.Entries.ToDictionary(e => e.Name, _ => single);
    }

    public static Transformer Load(string dir, ModelOptions? options = null)
    {
        var config = TransformerConfig.Load(Path.Combine(dir, ConfigFile));
        CheckShapes(dir, config); // from the safetensors headers, before a byte of the model is allocated
        var model = new Transformer(config, options);
        try { LoadWeights(model, dir); }
        catch { model.Dispose(); throw; }
        return model;
    }

    /// <summary>Copies every parameter from the checkpoint; missing or unexpected tensors and shape mismatches are errors.</summary>
    public static void LoadWeights(Transformer model, string dir)
    {
        var map = WeightMap(dir);
        var files = new Dictionary<string, SafetensorsFile>();
        try
        {
            SafetensorsFile FileOf(string path) => files.TryGetValue(path, out var f) ? f : files[path] = SafetensorsFile.Open(path);
            var expected = new HashSet<string>();
            using var _ = no_grad();
            foreach (var (name, p) in model.named_parameters())
            {
                expected.Add(name);
                if (!map.TryGetValue(name, out var path)) throw new InvalidDataException($"{dir}: checkpoint has no tensor '{name}'");
                using var t = FileOf(path).Read(name);
                if (!t.shape.SequenceEqual(p.shape))
                    throw new InvalidDataException($"{path}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], the config needs [{string.Join(", ", p.shape)}]");
                p.copy_(t);
            }
            var unexpected = map.Keys.Where(n => !expected.Contains(n) && !Ignorable(n, model.Config)).ToList();
            if (unexpected.Count > 0)
                throw new InvalidDataException($"{dir}: checkpoint has tensors the model does not use: {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}");
        }
        finally
        {
            foreach (var f in files.Values) f.Dispose();
        }
    }

    /// <summary>
    /// Name and shape of every parameter a <see cref="Transformer"/> of <paramref name="c"/> has (the Hugging Face
    /// layout), computed from the config alone.
    /// </summary>
    public static IReadOnlyList<(string Name, long[] Shape)> ExpectedTensors(TransformerConfig c)
    {
        long h = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, i = c.IntermediateSize;
        var list = new List<(string, long[])> { ("model.embed_tokens.weight", [c.VocabSize, h]) };
        for (int l = 0; l < c.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            list.Add((p + "self_attn.q_proj.weight", [q, h]));
            if (c.AttentionBias) list.Add((p + "self_attn.q_proj.bias", [q]));
            list.Add((p + "self_attn.k_proj.weight", [kv, h]));
            if (c.AttentionBias) list.Add((p + "self_attn.k_proj.bias", [kv]));
            list.Add((p + "self_attn.v_proj.weight", [kv, h]));
            if (c.AttentionBias) list.Add((p + "self_attn.v_proj.bias", [kv]));
            list.Add((p + "self_attn.o_proj.weight", [h, q]));
            list.Add((p + "mlp.gate_proj.weight", [i, h]));
            list.Add((p + "mlp.up_proj.weight", [i, h]));
            list.Add((p + "mlp.down_proj.weight", [h, i]));
            list.Add((p + "input_layernorm.weight", [h]));
            list.Add((p + "post_attention_layernorm.weight", [h]));
        }
        list.Add(("model.norm.weight", [h]));
        if (!c.TieWordEmbeddings) list.Add(("lm_head.weight", [c.VocabSize, h]));
        return list;
    }

    /// <summary>
    /// Checks the checkpoint's safetensors headers against the config without reading any tensor data: every
    /// tensor the model needs is present with the config's shape, and no tensor is left over. A config that
    /// claims a far larger model than the weights next to it fails here, not after the model is allocated.
    /// </summary>
    public static void CheckShapes(string dir, TransformerConfig config)
    {
        var map = WeightMap(dir);
        var headers = new Dictionary<string, SafetensorsEntry>();
        foreach (var file in map.Values.Distinct())
        {
            using var f = SafetensorsFile.Open(file);
            foreach (var e in f.Entries) headers[e.Name] = e;
        }
        var expected = new HashSet<string>();
        foreach (var (name, shape) in ExpectedTensors(config))
        {
            expected.Add(name);
            if (!map.TryGetValue(name, out var file) || !headers.TryGetValue(name, out var entry))
                throw new InvalidDataException($"{dir}: checkpoint has no tensor '{name}' (needed by {ConfigFile}: {Describe(config)})");
            if (!entry.Shape.SequenceEqual(shape))
                throw new InvalidDataException($"{file}: tensor '{name}' has shape [{string.Join(", ", entry.Shape)}], but {ConfigFile} ({Describe(config)}) needs [{string.Join(", ", shape)}]");
        }
        var unexpected = map.Keys.Where(n => !expected.Contains(n) && !Ignorable(n, config)).ToList();
        if (unexpected.Count > 0)
            throw new InvalidDataException($"{dir}: checkpoint has tensors the model does not use: {string.Join(", ", unexpected.Take(5))}{(unexpected.Count > 5 ? ", ..." : "")}");
    }

    static string Describe(TransformerConfig c) =>
        $"{c.NumHiddenLayers} layers, hidden {c.HiddenSize}, intermediate {c.IntermediateSize}, vocab {c.VocabSize}";

    // Tied checkpoints sometimes still carry lm_head.weight; older ones store rotary inv_freq buffers.
    static bool Ignorable(string name, TransformerConfig c) =>
        (c.TieWordEmbeddings && name == "lm_head.weight") || name.EndsWith(".rotary_emb.inv_freq");

    /// <summary>
    /// Writes config.json and the weights in <paramref name="dtype"/> (default: the config's torch_dtype),
    /// split into shards of at most <paramref name="maxShardBytes"/> with an index when needed. The
    /// checkpoint is assembled in a sibling temp directory and swapped in, so a failure never leaves a
    /// half-written checkpoint where a good one was.
    /// </summary>
    public static void Save(Transformer model, string dir, string? dtype = null, long maxShardBytes = 5L << 30)
    {
        var type = SafetensorsDType.ParseTorchName(dtype ?? model.Config.TorchDtype);
        var full = Path.GetFullPath(dir).TrimEnd(Path.DirectorySeparatorChar);
        var tmp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(tmp);
        try
        {
            // Sharded models are gathered back into the HF tensors.
            var tensors = TensorParallel.GatherEach(model, p => p, type).ToList();
            var shards = new List<List<(string, Tensor)>> { new() };
            long shardBytes = 0;
            foreach (var (name, t) in tensors)
            {
                long bytes = t.numel() * t.element_size();
                if (shards[^1].Count > 0 && shardBytes + bytes > maxShardBytes) { shards.Add(new()); shardBytes = 0; }
                shards[^1].Add((name, t));
                shardBytes += bytes;
            }
            var meta = new Dictionary<string, string> { ["format"] = "pt" };
            if (shards.Count == 1)
                SafetensorsWriter.Write(Path.Combine(tmp, SingleFile), shards[0], meta);
            else
            {
                var weightMap = new JsonObject();
                for (int i = 0; i < shards.Count; i++)
                {
                    var file = $"model-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
                    SafetensorsWriter.Write(Path.Combine(tmp, file), shards[i], meta);
                    foreach (var (name, _) in shards[i]) weightMap[name] = file;
                }
                var index = new JsonObject
                {
                    ["metadata"] = new JsonObject { ["total_size"] = tensors.Sum(x => x.Item2.numel() * x.Item2.element_size()) },
                    ["weight_map"] = weightMap,
                };
                File.WriteAllText(Path.Combine(tmp, IndexFile), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            }
            foreach (var (_, t) in tensors) t.Dispose();
            File.WriteAllText(Path.Combine(tmp, ConfigFile), (model.Config with { TorchDtype = SafetensorsDType.TorchName(type) }).ToJson());
            // Keep any other files (tokenizer, generation config) the old directory had.
            if (Directory.Exists(full))
            {
                foreach (var f in Directory.GetFiles(full))
                {
                    var n = Path.GetFileName(f);
                    if (n == ConfigFile || n == IndexFile || n.EndsWith(".safetensors")) continue;
                    File.Copy(f, Path.Combine(tmp, n));
                }
                var old = full + ".old-" + Guid.NewGuid().ToString("N")[..8];
                Directory.Move(full, old);
                Directory.Move(tmp, full);
                Directory.Delete(old, recursive: true);
            }
            else Directory.Move(tmp, full);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
    }

    /// <summary>
    /// A transformer with seeded random weights: N(0, 0.02) for matrices and biases, 1 for norms.
    /// Values are drawn on the CPU in a fixed order, so the same seed gives the same weights on any device.
    /// </summary>
    public static Transformer CreateRandom(TransformerConfig config, long seed, ModelOptions? options = null)
    {
        var model = new Transformer(config, options);
        using var g = new Generator((ulong)seed, new Device("cpu"));
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("norm.weight")) p.fill_(1.0);
            else
            {
                using var r = randn(p.shape, ScalarType.Float32, generator: g) * 0.02;
                p.copy_(r);
            }
        }
        return model;
    }

    /// <summary>Writes a random checkpoint (see <see cref="CreateRandom"/>) to <paramref name="dir"/>.</summary>
    public static void WriteRandom(string dir, TransformerConfig config, long seed, string? dtype = null)
    {
        using var model = CreateRandom(config, seed);
        Save(model, dir, dtype);
    }
}
