using System.Text.Json;
using System.Text.Json.Serialization;
using IwSft.Runtime;
using IwSft.Runtime.Store;
using IwSft.Stages.Evaluate;
using IwSft.Stages.OpenAi;
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
    /// <summary>Tokenizer directory for every checkpoint (a path or a store artifact); absent = each checkpoint's own tokenizer files.</summary>
    public EvalTokenizer? Tokenizer { get; set; }
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
    /// <summary>Generate on an OpenAI-compatible server (vLLM, iwsft serve) instead of in process; device, devices and dtype are then the server's business.</summary>
    public OpenAiGenerationConfig? Server { get; set; }

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
            if (string.IsNullOrWhiteSpace(c.Label))
                throw new InvalidDataException($"{SourcePath}: every checkpoint needs a label");
            bool hasPath = !string.IsNullOrWhiteSpace(c.Path), hasArtifact = !string.IsNullOrWhiteSpace(c.StoreArtifact);
            if (hasPath == hasArtifact)
                throw new InvalidDataException($"{SourcePath}: checkpoint '{c.Label}' needs exactly one of 'path' (a model directory) and 'store_artifact' (PIPELINE/STAGE.OUTPUT or a 64-hex content hash)");
            if (hasPath) c.Path = Abs(c.Path);
            else StoreCheckpointRef.Parse(c.StoreArtifact!, $"{SourcePath}: checkpoint '{c.Label}'");   // syntax errors now, resolution against the store later
        }
        if (Tokenizer is not null)
        {
            bool hasPath = !string.IsNullOrWhiteSpace(Tokenizer.Path), hasArtifact = !string.IsNullOrWhiteSpace(Tokenizer.StoreArtifact);
            if (hasPath == hasArtifact)
                throw new InvalidDataException($"{SourcePath}: tokenizer needs exactly one of 'path' (a directory) and 'store_artifact' (PIPELINE/STAGE.OUTPUT or a 64-hex content hash)");
            if (hasPath) Tokenizer.Path = Abs(Tokenizer.Path!);
            else StoreCheckpointRef.Parse(Tokenizer.StoreArtifact!, $"{SourcePath}: tokenizer");
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

    /// <summary>
    /// Points every <c>store_artifact</c> checkpoint at its object directory in <paramref name="store"/> (used in
    /// place, read-only: evaluation only reads it). The object's content hash is what keys the checkpoint's samples,
    /// so re-materialising the named stage with other bytes makes exactly that checkpoint's cells stale.
    /// </summary>
    public void ResolveStoreArtifacts(ArtifactStore store)
    {
        foreach (var c in Checkpoints.Where(c => !string.IsNullOrWhiteSpace(c.StoreArtifact)))
        {
            var where = $"{SourcePath}: checkpoint '{c.Label}'";
            var a = StoreCheckpointRef.Parse(c.StoreArtifact!, where).Resolve(store, where);
            c.Path = store.ObjectPath(a);
            c.ArtifactHash = a.Hash;
        }
        if (!string.IsNullOrWhiteSpace(Tokenizer?.StoreArtifact))
        {
            var where = $"{SourcePath}: tokenizer";
            Tokenizer.Path = store.ObjectPath(StoreCheckpointRef.Parse(Tokenizer.StoreArtifact!, where).Resolve(store, where));
        }
    }

    /// <summary>Whether anything in the file names a store artifact (so the store must be opened to build the pipeline).</summary>
    [JsonIgnore] public bool NamesStoreArtifacts =>
        Checkpoints.Any(c => !string.IsNullOrWhiteSpace(c.StoreArtifact)) || !string.IsNullOrWhiteSpace(Tokenizer?.StoreArtifact);

    string ResolvedDataRoot(string paramsDir)
    {
        if (DataRoot is { Length: > 0 } d) return Path.IsPathRooted(d) ? d : Path.GetFullPath(Path.Combine(paramsDir, d));
        return PipelineData.Root();
    }
}

public sealed class EvalCheckpoint
{
    /// <summary>Name in results and reports (letters, digits, '_' and '-').</summary>
    public string Label { get; set; } = "";
    /// <summary>A Hugging Face-format model directory; after <see cref="EvalParams.ResolveStoreArtifacts"/>, also a store artifact's object directory.</summary>
    public string Path { get; set; } = "";
    /// <summary>A directory artifact of the store instead of <see cref="Path"/>: <c>PIPELINE/STAGE.OUTPUT</c> (the latest materialised one, as <c>iwsft show PIPELINE STAGE.OUTPUT</c>) or its 64-hex content hash.</summary>
    public string? StoreArtifact { get; set; }
    /// <summary>The resolved artifact's content hash (store artifacts only).</summary>
    [JsonIgnore] public string? ArtifactHash { get; set; }
}

public sealed class EvalTokenizer
{
    /// <summary>A Hugging Face tokenizer directory (tokenizer.json, tokenizer_config.json, ...).</summary>
    public string? Path { get; set; }
    /// <summary>Or a directory artifact of the store, named as a checkpoint's <see cref="EvalCheckpoint.StoreArtifact"/>.</summary>
    public string? StoreArtifact { get; set; }
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

/// <summary>
/// A checkpoint named by store reference: <c>PIPELINE/STAGE.OUTPUT</c> (or <c>PIPELINE/STAGE</c> when the stage has
/// one directory output) is the latest materialised output in that pipeline's lock, the same artifact
/// <c>iwsft show PIPELINE STAGE.OUTPUT</c> shows; 64 lowercase hex characters name a directory object by content.
/// </summary>
public sealed partial record StoreCheckpointRef(string? Pipeline, string? Stage, string? Output, string? Hash)
{
    [System.Text.RegularExpressions.GeneratedRegex("^(?<p>[A-Za-z0-9][A-Za-z0-9_-]*)/(?<s>[A-Za-z0-9][A-Za-z0-9_-]*)(\\.(?<o>[A-Za-z0-9][A-Za-z0-9_-]*))?$")]
    private static partial System.Text.RegularExpressions.Regex Reference();

    /// <param name="where">Prefix of error messages (the params file and the checkpoint entry).</param>
    public static StoreCheckpointRef Parse(string text, string where)
    {
        var t = text.Trim();
        if (Hashing.IsHash(t)) return new(null, null, null, t);
        var m = Reference().Match(t);
        // Names are checked before they become paths under the store (no '..', no separators).
        if (!m.Success)
            throw new InvalidDataException($"{where}: store_artifact '{text}' is neither PIPELINE/STAGE.OUTPUT (e.g. demo/train_iw_sft_s1.model) nor a 64-character lowercase hex content hash");
        return new(m.Groups["p"].Value, m.Groups["s"].Value, m.Groups["o"].Success ? m.Groups["o"].Value : null, null);
    }

    public override string ToString() => Hash ?? $"{Pipeline}/{Stage}" + (Output is null ? "" : "." + Output);

    /// <summary>The directory artifact, checked present and intact; otherwise an error saying what is missing.</summary>
    public ArtifactRef Resolve(ArtifactStore store, string where)
    {
        ArtifactRef a;
        string what;
        if (Hash is not null)
        {
            a = new ArtifactRef(Hash, ArtifactKind.Directory, 0, 0);
            what = $"store_artifact {Hash[..12]}...";
        }
        else
        {
            var lk = store.ReadLock(Pipeline!);
            if (lk.Stages.Count == 0)
                throw new InvalidDataException($"{where}: store_artifact '{this}': pipeline '{Pipeline}' has never run in store {store.Root}; run `iwsft run {Pipeline}` (with --store) first");
            var entry = lk.Stages.GetValueOrDefault(Stage!)
                ?? throw new InvalidDataException($"{where}: store_artifact '{this}': pipeline '{Pipeline}' has no materialised stage '{Stage}' in store {store.Root} " +
                                                  $"(materialised: {string.Join(", ", lk.Stages.Keys)}); run `iwsft run {Pipeline} --until {Stage}` first");
            var dirs = entry.Outputs.Where(kv => kv.Value.Kind == ArtifactKind.Directory).Select(kv => kv.Key).ToList();
            string output = Output ?? (dirs.Count == 1 ? dirs[0]
                : throw new InvalidDataException($"{where}: store_artifact '{this}': stage '{Stage}' has {dirs.Count} directory outputs ({string.Join(", ", dirs)}); name one as {Pipeline}/{Stage}.OUTPUT"));
            a = entry.Outputs.GetValueOrDefault(output)
                ?? throw new InvalidDataException($"{where}: store_artifact '{this}': stage '{Stage}' of pipeline '{Pipeline}' has no output '{output}' (outputs: {string.Join(", ", entry.Outputs.Keys)})");
            if (a.Kind != ArtifactKind.Directory)
                throw new InvalidDataException($"{where}: store_artifact '{this}' is a table, not a model directory");
            what = $"store_artifact '{this}' ({a.Hash[..12]}...)";
        }
        var health = store.Verify(a);
        if (health == ArtifactHealth.Missing)
            throw new InvalidDataException($"{where}: {what}: no such directory object in store {store.Root}" +
                                           (Hash is null ? " (deleted by gc?); rerun the pipeline to recompute it" : "; check the hash and --store"));
        if (health == ArtifactHealth.Corrupt)
            throw new InvalidDataException($"{where}: {what}: the object's content no longer matches its hash (moved to quarantine); rerun the pipeline that made it");
        return a;
    }
}
