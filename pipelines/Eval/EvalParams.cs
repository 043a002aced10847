using System.Text.Json;
using System.Text.Json.Serialization;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;

namespace IwSft.Pipelines.Eval;

/// <summary>
/// The parameters file of <c>iwsft run eval --params eval.json</c>: checkpoints, benchmarks, generation
/// settings and CI thresholds. Keys are snake_case; relative paths are relative to the file's directory.
/// </summary>
public sealed class EvalParams
{
    /// <summary>Model directories outside the store (Hugging Face layout: config.json, *.safetensors, tokenizer files).</summary>
    public List<EvalCheckpoint> Checkpoints { get; set; } = new();
    /// <summary>Benchmarks: a known name under the data root (<see cref="KnownBenchmarks"/>), or a path with a column mapping (the ingest stage's <see cref="IngestSource"/> keys).</summary>
    public List<IngestSource> Benchmarks { get; set; } = new();
    /// <summary>The evaluate stage's configuration (samples_per_item, max_new_tokens, temperature, top_p, seed, batch_size, ...).</summary>
    public EvaluateConfig Generation { get; set; } = new() { MaxNewTokens = 512 };
    /// <summary>k of the pass@k column (at most samples_per_item).</summary>
    public int PassAtK { get; set; } = 1;
    /// <summary>Where benchmarks given by name live; default IWSFT_DATA, else ../shared/data, else data.</summary>
    public string? DataRoot { get; set; }
    public string Device { get; set; } = "cpu";
    /// <summary>Tensor-parallel devices (two or more shard each model over them; <see cref="Device"/> is then ignored).</summary>
    public List<string> Devices { get; set; } = [];
    /// <summary>Weights' dtype for inference (default float32 on CPU, bfloat16 on CUDA).</summary>
    public string? DType { get; set; }
    public EvalThresholds Thresholds { get; set; } = new();

    /// <summary>The full path of the file these parameters were read from.</summary>
    [JsonIgnore] public string SourcePath { get; private set; } = "";

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
    };

    /// <summary>Benchmarks of the shared data directory that can be named without a mapping.</summary>
    public static IReadOnlyDictionary<string, IngestSource> KnownBenchmarks { get; } = new Dictionary<string, IngestSource>
    {
        ["aime24"] = new() { Path = "benchmarks/aime24.jsonl", Question = "problem" },
        ["aime25"] = new() { Path = "benchmarks/aime25.jsonl", Question = "problem" },
        ["amc2023"] = new() { Path = "benchmarks/amc2023.jsonl", Question = "problem" },
        ["olympiadbench"] = new() { Path = "benchmarks/olympiadbench.jsonl", Question = "problem" },
        ["minervamath"] = new() { Path = "benchmarks/minervamath.jsonl", Question = "problem" },
        ["math500"] = new() { Path = "benchmarks/math500.jsonl", Question = "problem", ItemId = "unique_id" },
        ["gsm8k"] = new() { Path = "benchmarks/gsm8k_test.jsonl", Question = "question" },
        ["gsm8k_test"] = new() { Path = "benchmarks/gsm8k_test.jsonl", Question = "question" },
        ["gpqa_diamond"] = new() { Path = "benchmarks/gpqa_diamond.jsonl", Question = "question", Choices = ["choices"], ItemId = "id" },
    };

    public static EvalParams Load(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new FileNotFoundException($"eval parameters file '{path}' not found (see docs/evaluate.md for its format)");
        return Parse(File.ReadAllText(full), full);
    }

    /// <summary>Parameters from JSON text; relative paths resolve against <paramref name="sourcePath"/>'s directory.</summary>
    public static EvalParams Parse(string json, string sourcePath)
    {
        EvalParams p;
        try { p = JsonSerializer.Deserialize<EvalParams>(json, JsonOptions) ?? throw new InvalidDataException($"'{sourcePath}' is empty"); }
        catch (JsonException e) { throw new InvalidDataException($"eval parameters file '{sourcePath}': {e.Message}"); }
        p.SourcePath = Path.GetFullPath(sourcePath);
        p.Resolve();
        return p;
    }

    /// <summary>An example (one checkpoint directory 'models/base', AIME 2024), for <c>iwsft dag eval --quick</c> without a parameters file.</summary>
    public static EvalParams Example() => Parse("""
        { "checkpoints": [ { "label": "base", "path": "models/base" } ],
          "benchmarks": [ { "name": "aime24" } ],
          "generation": { "samples_per_item": 1, "max_new_tokens": 512 } }
        """, Path.GetFullPath("eval.example.json"));

    void Resolve()
    {
        string dir = Path.GetDirectoryName(SourcePath)!;
        string Abs(string p) => Path.IsPathRooted(p) ? p : Path.GetFullPath(Path.Combine(dir, p));
        if (Checkpoints.Count == 0) throw new InvalidDataException($"{SourcePath}: no checkpoints");
        if (Benchmarks.Count == 0) throw new InvalidDataException($"{SourcePath}: no benchmarks");
        foreach (var c in Checkpoints)
        {
            if (string.IsNullOrWhiteSpace(c.Label) || string.IsNullOrWhiteSpace(c.Path))
                throw new InvalidDataException($"{SourcePath}: every checkpoint needs a label and a path");
            c.Path = Abs(c.Path);
        }
        var dups = Checkpoints.GroupBy(c => c.Label).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (dups.Count > 0) throw new InvalidDataException($"{SourcePath}: checkpoint label(s) used twice: {string.Join(", ", dups)}");
        string dataRoot = ResolvedDataRoot(dir);
        for (int i = 0; i < Benchmarks.Count; i++)
        {
            var b = Benchmarks[i];
            if (string.IsNullOrEmpty(b.Path))
            {
                if (string.IsNullOrEmpty(b.Name) || !KnownBenchmarks.TryGetValue(b.Name, out var known))
                    throw new InvalidDataException($"{SourcePath}: benchmark '{b.Name}' has no path and is not a known name ({string.Join(", ", KnownBenchmarks.Keys)})");
                var copy = JsonSerializer.Deserialize<IngestSource>(JsonSerializer.Serialize(known, JsonOptions), JsonOptions)!;
                copy.Name = b.Name;
                copy.Path = Path.Combine(dataRoot, known.Path);
                Benchmarks[i] = copy;
            }
            else b.Path = Abs(b.Path);
        }
        var names = Benchmarks.GroupBy(b => b.SourceName).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        if (names.Count > 0) throw new InvalidDataException($"{SourcePath}: benchmark name(s) used twice: {string.Join(", ", names)}");
        if (PassAtK < 1 || PassAtK > Generation.SamplesPerItem)
            throw new InvalidDataException($"{SourcePath}: pass_at_k must be in [1, samples_per_item={Generation.SamplesPerItem}], got {PassAtK}");
        if (Thresholds.Baseline is { Length: > 0 } bl) Thresholds.Baseline = Abs(bl);
        foreach (var key in Thresholds.MinAccuracy.Keys)
            if (!Benchmarks.Any(b => b.SourceName == key))
                throw new InvalidDataException($"{SourcePath}: min_accuracy names benchmark '{key}', which is not listed");
    }

    string ResolvedDataRoot(string paramsDir)
    {
        if (DataRoot is { Length: > 0 } d) return Path.IsPathRooted(d) ? d : Path.GetFullPath(Path.Combine(paramsDir, d));
        if (Environment.GetEnvironmentVariable("IWSFT_DATA") is { Length: > 0 } env) return Path.GetFullPath(env);
        var shared = Path.GetFullPath(Path.Combine("..", "shared", "data"));
        return Directory.Exists(shared) ? shared : Path.GetFullPath("data");
    }
}

public sealed class EvalCheckpoint
{
    /// <summary>Name in results and reports (letters, digits, '_' and '-').</summary>
    public string Label { get; set; } = "";
    /// <summary>A Hugging Face-format model directory.</summary>
    public string Path { get; set; } = "";
}

public sealed class EvalThresholds
{
    /// <summary>Lowest accepted accuracy per benchmark (every checkpoint).</summary>
    public Dictionary<string, double> MinAccuracy { get; set; } = new();
    /// <summary>Largest accepted accuracy drop against the baseline summary (same checkpoint label and benchmark).</summary>
    public double? MaxDrop { get; set; }
    /// <summary>A summary file of an earlier run (<c>--summary-json</c>); <c>--baseline</c> on the command line overrides it.</summary>
    public string? Baseline { get; set; }
}
