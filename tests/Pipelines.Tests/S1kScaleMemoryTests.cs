using IwSft.Stages.Tests;
using System.Text.Json.Nodes;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// The data stages stream: the s1k data stages (ingest → decontaminate → trace_tokens → filter → select → format) run
/// through the real <c>PipelineRunner</c> by <c>iwsft bench s1k-scale --pipeline-only</c> (a child process each, so the
/// peak RSS is the pipeline's alone) on a generated pool of ~25 MB and one 4× as large, with a batch byte budget B of
/// 1 MiB (sizes a 2-core CI machine runs in a few minutes; the bench runs the real size). The pool file's row groups are
/// also 1 MiB: ingest reads its source one row group at a time, so a source's own row-group size bounds ingest's memory
/// (with 64 MiB row groups the larger run peaked 405 MB above the smaller: one 64 MiB group instead of one 27 MB group). Streaming means the peak does not follow the pool: the larger run's peak may exceed the smaller's by at most
/// 24 B — a stage holds one input batch and one output row group, each in a few forms at once (compressed page,
/// decompressed bytes, UTF-16 chars, Arrow bytes: ~5 B reading, ~5 B writing, one B of its own), and the collector
/// may keep as much again as garbage — 24 MiB, against 75 MB more pool.
/// </summary>
public sealed class S1kScaleMemoryTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-s1k-scale-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    const double BatchMb = 1;

    JsonObject Run(int rows)
    {
        var json = Path.Combine(_dir, $"bench-{rows}.json");
        var env = new Dictionary<string, string> { [SharedData.EnvVar] = SharedData.RootWith("candidates/gsm8k_train.jsonl", "benchmarks/aime24.jsonl", "benchmarks/math500.jsonl") };
        var (code, stdout, stderr) = CliProcess.Run(_dir, env, "bench", "s1k-scale", "--pipeline-only", "--rows", rows.ToString(),
            "--trace-kb", "50", "--batch-mb", BatchMb.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--pool-row-group-mb", BatchMb.ToString(System.Globalization.CultureInfo.InvariantCulture), "--cache-dir", Path.Combine(_dir, "cache"), "--json", json);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        return JsonNode.Parse(File.ReadAllText(json))!["metrics"]!.AsObject();
    }

    // Measured 2026-12-02 on the 2-core VM: before the store dropped Parquet.Net's string min/max statistics from its
    // footers (ParquetStatistics), 198 MB on the 27 MB pool and 272 MB on 108 MB; after, 196 and 201 MB.
    [SharedDataFact]
    public void Peak_memory_of_the_data_stages_does_not_grow_with_the_pool()
    {
        var small = Run(500);
        var large = Run(2000);
        double Pool(JsonObject m) => (double)m["pool_text_gb"]! * 1e3;
        double Peak(JsonObject m) => (double)m["pipeline_peak_rss_mb"]!;
        Assert.InRange(Pool(small), 22, 32);
        Assert.InRange(Pool(large), 4 * Pool(small) - 3, 4 * Pool(small) + 3);
        // The whole pipeline ran on both: every stage wrote its rows, the larger pool gave more of them.
        Assert.True((double)large["ingested"]! > 3.9 * (double)small["ingested"]!);
        Assert.True((double)large["contaminated"]! > (double)small["contaminated"]!);
        Assert.Equal(1000, (double)large["sequences"]!);

        double growthMb = Peak(large) - Peak(small);
        double boundMb = 24 * BatchMb * 1.048576;
        Assert.True(growthMb < boundMb,
            $"peak RSS {Peak(small):F0} MB on a {Pool(small):F0} MB pool, {Peak(large):F0} MB on {Pool(large):F0} MB: grew {growthMb:F0} MB, bound {boundMb:F0} MB");
    }
}
