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

    public static TransformerConfig FromJson(JsonNode root, string source = "config.json")
    {
        int Int(string key) => root[key]?.GetValue<int>() ?? throw new InvalidDataException($"{source}: missing '{key}'");
        string modelType = root["model_type"]?.GetValue<string>() ?? throw new InvalidDataException($"{source}: missing 'model_type'");
        if (root["rope_scaling"] is JsonObject scaling && scaling.Count > 0)
            throw new NotSupportedException($"{source}: rope_scaling is not supported");
        if (root["use_sliding_window"]?.GetValue<bool>() == true)
            throw new NotSupportedException($"{source}: sliding-window attention is not supported");
        int heads = Int("num_attention_heads");
        int? hd = root["head_dim"]?.GetValue<int>();
        if (hd is int h && h != Int("hidden_size") / heads)
            throw new NotSupportedException($"{source}: head_dim {h} differs from hidden_size/num_attention_heads; not supported");
        var cfg = new TransformerConfig
        {
            ModelType = modelType,
            VocabSize = Int("vocab_size"),
            HiddenSize = Int("hidden_size"),
            NumHiddenLayers = Int("num_hidden_layers"),
            NumAttentionHeads = heads,
            NumKeyValueHeads = root["num_key_value_heads"]?.GetValue<int>() ?? heads,
            IntermediateSize = Int("intermediate_size"),
            RmsNormEps = root["rms_norm_eps"]?.GetValue<double>() ?? 1e-6,
            RopeTheta = root["rope_theta"]?.GetValue<double>() ?? 10000.0,
            TieWordEmbeddings = root["tie_word_embeddings"]?.GetValue<bool>() ?? false,
            AttentionBias = modelType == "qwen2" || (root["attention_bias"]?.GetValue<bool>() ?? false),
            MaxPositionEmbeddings = root["max_position_embeddings"]?.GetValue<int>() ?? 4096,
            // Newer transformers versions write "dtype" instead of "torch_dtype".
            TorchDtype = (root["torch_dtype"] ?? root["dtype"])?.GetValue<string>() ?? "float32",
            BosTokenId = FirstInt(root["bos_token_id"]),
            EosTokenId = FirstInt(root["eos_token_id"]),
        };
        cfg.Validate();
        return cfg;
    }

    static int? FirstInt(JsonNode? n) => n switch
    {
        null => null,
        JsonArray a => a.Count > 0 ? a[0]!.GetValue<int>() : null,
        _ => n.GetValue<int>(),
    };

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
