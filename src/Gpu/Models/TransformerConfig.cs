using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Gpu.Models;

/// <summary>
/// The subset of a Hugging Face Qwen2 / Llama config.json the transformer needs. Read with
/// <see cref="Load"/>; written back with <see cref="ToJson"/> in the same field names so the
/// checkpoint stays loadable by transformers.
/// </summary>
public sealed record TransformerConfig
{
    public string ModelType { get; init; } = "qwen2";
    public int VocabSize { get; init; }
    public int HiddenSize { get; init; }
    public int NumHiddenLayers { get; init; }
    public int NumAttentionHeads { get; init; }
    public int NumKeyValueHeads { get; init; }
    public int IntermediateSize { get; init; }
    public double RmsNormEps { get; init; } = 1e-6;
    public double RopeTheta { get; init; } = 10000.0;
    public bool TieWordEmbeddings { get; init; }
    /// <summary>Bias on q/k/v projections (always true for Qwen2; Llama's attention_bias, default false).</summary>
    public bool AttentionBias { get; init; }
    public int MaxPositionEmbeddings { get; init; } = 4096;
    public string TorchDtype { get; init; } = "float32";
    public int? BosTokenId { get; init; }
    public int? EosTokenId { get; init; }

    public int HeadDim => HiddenSize / NumAttentionHeads;

    public void Validate()
    {
        void Require(bool ok, string what) { if (!ok) throw new ArgumentException($"invalid model config: {what}"); }
        Require(ModelType is "qwen2" or "llama", $"model_type '{ModelType}' is not supported (qwen2 or llama)");
        Require(VocabSize > 0 && HiddenSize > 0 && NumHiddenLayers > 0 && IntermediateSize > 0, "sizes must be positive");
        Require(NumAttentionHeads > 0 && HiddenSize % NumAttentionHeads == 0, $"hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        Require(NumKeyValueHeads > 0 && NumAttentionHeads % NumKeyValueHeads == 0, $"num_attention_heads {NumAttentionHeads} is not divisible by num_key_value_heads {NumKeyValueHeads}");
        Require(HeadDim % 2 == 0, $"head_dim {HeadDim} must be even for rotary embeddings");
    }

    public static TransformerConfig Load(string path)
    {
        JsonNode root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) ?? throw new JsonException("empty document"); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: config.json is not valid JSON: {e.Message}"); }
        return FromJson(root, path);
    }

    /// <summary>
    /// Reads the fields the transformer needs, checking each one's JSON type and range first, so a config such as
    /// <c>"hidden_size": "abc"</c> or <c>1e10</c> is a one-line <see cref="InvalidDataException"/> naming the key.
    /// </summary>
    public static TransformerConfig FromJson(JsonNode root, string source = "config.json")
    {
        if (root is not JsonObject) throw new InvalidDataException($"{source}: expected a JSON object, got {Kind(root)}");
        var r = new ConfigReader(root, source);
        string modelType = r.String("model_type") ?? throw new InvalidDataException($"{source}: missing 'model_type'");
        if (root["rope_scaling"] is JsonObject scaling && scaling.Count > 0)
            throw new NotSupportedException($"{source}: rope_scaling is not supported");
        if (r.Bool("use_sliding_window") == true)
            throw new NotSupportedException($"{source}: sliding-window attention is not supported");
        int hidden = r.Int("hidden_size", 1, MaxHidden);
        int heads = r.Int("num_attention_heads", 1, MaxHeads);
        if (r.OptionalInt("head_dim", 1, MaxHidden) is int h && h != hidden / heads)
            throw new NotSupportedException($"{source}: head_dim {h} differs from hidden_size/num_attention_heads; not supported");
        var cfg = new TransformerConfig
        {
            ModelType = modelType,
            VocabSize = r.Int("vocab_size", 1, MaxVocab),
            HiddenSize = hidden,
            NumHiddenLayers = r.Int("num_hidden_layers", 1, MaxLayers),
            NumAttentionHeads = heads,
            NumKeyValueHeads = r.OptionalInt("num_key_value_heads", 1, MaxHeads) ?? heads,
            IntermediateSize = r.Int("intermediate_size", 1, MaxIntermediate),
            RmsNormEps = r.Double("rms_norm_eps", 0, 1, exclusiveMin: true) ?? 1e-6,
            RopeTheta = r.Double("rope_theta", 0, 1e12, exclusiveMin: true) ?? 10000.0,
            TieWordEmbeddings = r.Bool("tie_word_embeddings") ?? false,
            AttentionBias = modelType == "qwen2" || (r.Bool("attention_bias") ?? false),
            MaxPositionEmbeddings = r.OptionalInt("max_position_embeddings", 1, 1 << 24) ?? 4096,
            // Newer transformers versions write "dtype" instead of "torch_dtype".
            TorchDtype = r.String("torch_dtype") ?? r.String("dtype") ?? "float32",
            BosTokenId = r.TokenId("bos_token_id"),
            EosTokenId = r.TokenId("eos_token_id"),
        };
        cfg.Validate();
        return cfg;
    }

    // Bounds well above any released model (Llama 3 405B: hidden 16384, 126 layers, 128 heads, intermediate 53248).
    const int MaxHidden = 1 << 16, MaxHeads = 1024, MaxLayers = 1024, MaxIntermediate = 1 << 20, MaxVocab = 1 << 24;

    static string Kind(JsonNode? n) => n is null ? "null" : n.GetValueKind() switch
    {
        JsonValueKind.String => "a string", JsonValueKind.Number => "a number", JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Array => "an array", JsonValueKind.Object => "an object", _ => "null",
    };

    /// <summary>A JSON number as a double (parsed documents hold JsonElements, built ones CLR numbers).</summary>
    static bool Number(JsonNode n, out double d)
    {
        d = 0;
        if (n is not JsonValue v || v.GetValueKind() != JsonValueKind.Number) return false;
        if (v.TryGetValue(out d)) return true;
        if (v.TryGetValue(out long l)) { d = l; return true; }
        if (v.TryGetValue(out int i)) { d = i; return true; }
        if (v.TryGetValue(out float f)) { d = f; return true; }
        if (v.TryGetValue(out decimal m)) { d = (double)m; return true; }
        return false;
    }

    static string Text(JsonNode n) { var t = n.ToJsonString(); return t.Length > 40 ? t[..40] + "..." : t; }

    /// <summary>Typed, range-checked access to config.json fields; every error names the file and the key.</summary>
    sealed class ConfigReader(JsonNode root, string source)
    {
        InvalidDataException Bad(string key, string expected, JsonNode n) => new($"{source}: '{key}' must be {expected}, got {Kind(n)} {Text(n)}");

        public int Int(string key, int min, int max) =>
            OptionalInt(key, min, max) ?? throw new InvalidDataException($"{source}: missing '{key}'");

        public int? OptionalInt(string key, int min, int max)
        {
            var n = root[key];
            if (n is null) return null;
            if (!Number(n, out double d) || d != Math.Floor(d) || d < min || d > max)
                throw Bad(key, $"an integer in [{min}, {max}]", n);
            return (int)d;
        }

        public double? Double(string key, double min, double max, bool exclusiveMin)
        {
            var n = root[key];
            if (n is null) return null;
            if (!Number(n, out double d) || !double.IsFinite(d)
                || d < min || (exclusiveMin && d == min) || d > max)
                throw Bad(key, $"a number in {(exclusiveMin ? "(" : "[")}{min}, {max}]", n);
            return d;
        }

        public bool? Bool(string key)
        {
            var n = root[key];
            if (n is null) return null;
            return n.GetValueKind() switch { JsonValueKind.True => true, JsonValueKind.False => false, _ => throw Bad(key, "true or false", n) };
        }

        public string? String(string key)
        {
            var n = root[key];
            if (n is null) return null;
            return n.GetValueKind() == JsonValueKind.String ? n.GetValue<string>() : throw Bad(key, "a string", n);
        }

        /// <summary>A token id or a list of them (the first is used).</summary>
        public int? TokenId(string key)
        {
            var n = root[key];
            if (n is JsonArray a)
            {
                if (a.Count == 0) return null;
                var first = a[0];
                if (first is null || !Number(first, out double f) || f < 0 || f != Math.Floor(f) || f > int.MaxValue)
                    throw Bad(key, "a token id (a non-negative integer) or a list of them", n);
                return (int)f;
            }
            return OptionalInt(key, 0, int.MaxValue);
        }
    }

    public string Architecture => ModelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM";

    public string ToJson()
    {
        var o = new JsonObject
        {
            ["architectures"] = new JsonArray(Architecture),
            ["model_type"] = ModelType,
            ["vocab_size"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["intermediate_size"] = IntermediateSize,
            ["hidden_act"] = "silu",
            ["rms_norm_eps"] = RmsNormEps,
            ["rope_theta"] = RopeTheta,
            ["tie_word_embeddings"] = TieWordEmbeddings,
            ["max_position_embeddings"] = MaxPositionEmbeddings,
            ["torch_dtype"] = TorchDtype,
        };
        if (ModelType == "llama") o["attention_bias"] = AttentionBias;
        if (BosTokenId is int b) o["bos_token_id"] = b;
        if (EosTokenId is int e) o["eos_token_id"] = e;
        return o.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Named Qwen2-shaped presets for random checkpoints (tests, demos, benchmarks).</summary>
    public static TransformerConfig Preset(string name, int vocabSize = 0) => name switch
    {
        // ~0.1M parameters: fast enough for unit tests on 2 cores.
        "tiny" => Qwen2(vocabSize > 0 ? vocabSize : 256, hidden: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 128, tied: true),
        // ~10M parameters.
        "10m" => Qwen2(vocabSize > 0 ? vocabSize : 8192, hidden: 256, layers: 8, heads: 8, kvHeads: 4, intermediate: 1024, tied: true),
        // ~100M parameters.
        "100m" => Qwen2(vocabSize > 0 ? vocabSize : 32000, hidden: 768, layers: 10, heads: 12, kvHeads: 4, intermediate: 2560, tied: true),
        _ => throw new ArgumentException($"unknown model preset '{name}' (tiny, 10m, 100m)"),
    };

    static TransformerConfig Qwen2(int vocab, int hidden, int layers, int heads, int kvHeads, int intermediate, bool tied) => new()
    {
        ModelType = "qwen2", VocabSize = vocab, HiddenSize = hidden, NumHiddenLayers = layers,
        NumAttentionHeads = heads, NumKeyValueHeads = kvHeads, IntermediateSize = intermediate,
        RmsNormEps = 1e-6, RopeTheta = 1_000_000.0, TieWordEmbeddings = tied, AttentionBias = true,
        MaxPositionEmbeddings = 4096, TorchDtype = "float32",
    };
}
