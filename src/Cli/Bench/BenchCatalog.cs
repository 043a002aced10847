using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Cli.Bench;

/// <summary>What a benchmark gets: a size switch, a place to log, a scratch directory, cancellation.</summary>
public sealed record BenchContext(bool Quick, TextWriter Log, string WorkDir, CancellationToken CancellationToken)
{
    /// <summary>Sizes a benchmark may take from the command line (<c>--rows</c>, <c>--trace-kb</c>, <c>--batch-mb</c>, <c>--cache-dir</c>); null: its default.</summary>
    public int? Rows { get; init; }
    public int? TraceKb { get; init; }
    public double? BatchMb { get; init; }
    public string? CacheDir { get; init; }
    /// <summary>Row-group size of a generated input file in MiB (<c>--pool-row-group-mb</c>).</summary>
    public double? PoolRowGroupMb { get; init; }
    /// <summary>Skip the same-run baselines (<c>--pipeline-only</c>): for tests that compare runs of the measured step only.</summary>
    public bool PipelineOnly { get; init; }
}

/// <summary>Named figures (ordered) plus free-text notes; ratios against a baseline measured in the same run.</summary>
public sealed class BenchReport
{
    public List<KeyValuePair<string, double>> Metrics { get; } = new();
    public List<string> Notes { get; } = new();
    public BenchReport Add(string name, double value) { Metrics.Add(new(name, value)); return this; }
}

public sealed record BenchDefinition(string Name, string Description, Func<BenchContext, Task<BenchReport>> RunAsync);

/// <summary>
/// Benchmarks by name for <c>iwsft bench NAME</c>. Registering one is one line in <see cref="All"/>:
/// <c>new("name", "what it measures", MyBench.RunAsync),</c>.
/// </summary>
public static partial class BenchCatalog
{
    public static IReadOnlyList<BenchDefinition> All { get; } =
    [
        new("engine", "no-op rerun of a 6-stage 1M-row pipeline vs its first run; Parquet store write+read MB/s vs a plain file copy", EngineBench.RunAsync),
        new("decontaminate", "8-gram decontamination of a 59K pool (real GSM8K/AIME, varied copies) against all 7 benchmark sets: candidates/s, MB/s, speed-up vs the plain reference in the same run", DecontaminateBench.RunAsync),
        new("eval", "sampled generation batched with per-row seeds vs one request at a time (tiny model, identical samples); grading vs plain string equality", EvalBench.RunAsync),
        new("curate", "LLM judge stage: records/s at 1 vs 8 vs 32 requests in flight against a 25 ms local endpoint; memoised rerun over a pool grown by one record", CurateBench.RunAsync),
        new("model", "transformer forward and training-step tokens/s (~10M, ~100M params, CPU) and FLOP/s as a fraction of a same-run matmul", ModelBench.RunAsync),
        new("train", "tokens/s of one SFT and one iw-SFT optimiser step (precomputed reference, live reference, EMA q) on the 10M model; step-time ratios vs SFT", TrainBench.RunAsync),
        new("logprobs", "peak memory and time of one forward + backward: chunked, vocabulary-sharded log-probs vs the full [T, V] logits (ratios in the same run)", LogProbBench.RunAsync),
        new("serve", "iwsft serve over loopback: concurrent requests (static batches) vs the same requests one after another; identical answers, ratio of wall times", ServeBench.RunAsync),
        new("s1k-scale", "s1's 59K pool at real size (generated, ~150 KB traces): ingest → decontaminate → trace_tokens → filter → select → format with peak RSS, vs one plain Parquet.Net read and a plain copy of the pool in the same run (--rows, --trace-kb to run smaller)", S1kScaleBench.RunAsync),
        new("control", "control environment steps/s vs the 100K goal; Gaussian MLP SFT vs iw-SFT(Q) updates/s (ratio in the same run)", ControlBench.RunAsync),
    ];

    /// <summary>The shared data directory: <c>IWSFT_DATA</c>, else the first <c>shared/data</c> with a MANIFEST.md above the working or program directory.</summary>
    public static string? DataRoot()
    {
        var env = Environment.GetEnvironmentVariable("IWSFT_DATA");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? env : null;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
            for (var dir = new DirectoryInfo(start); dir != null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "data");
                if (File.Exists(Path.Combine(candidate, "MANIFEST.md"))) return candidate;
            }
        return null;
    }

    public static BenchDefinition Get(string name) =>
        All.FirstOrDefault(b => b.Name == name)
        ?? throw new ArgumentException($"unknown benchmark '{name}'; available: {string.Join(", ", All.Select(b => b.Name))}");

    public static JsonObject Machine() => new()
    {
        ["cpu_count"] = Environment.ProcessorCount,
        ["cpu_model"] = CpuModel(),
        ["os"] = RuntimeInformation.OSDescription,
        ["arch"] = RuntimeInformation.ProcessArchitecture.ToString(),
        ["dotnet"] = RuntimeInformation.FrameworkDescription,
        ["memory_gib"] = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024.0 * 1024 * 1024), 1),
    };

    static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"));
            return line?.Split(':', 2)[1].Trim() ?? "unknown";
        }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }

    public static string ToJson(string bench, BenchReport r) => new JsonObject
    {
        ["bench"] = bench,
        ["machine"] = Machine(),
        ["metrics"] = new JsonObject(r.Metrics.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)Math.Round(m.Value, 6)))),
        ["notes"] = new JsonArray(r.Notes.Select(n => (JsonNode?)n).ToArray()),
    }.ToJsonString(new JsonSerializerOptions { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
}
