using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Ingest;
using Xunit.Abstractions;

namespace IwSft.Stages.Tests;

/// <summary>Ingest → decontaminate under the real engine (PipelineRunner, store, decisions, manifests).</summary>
public sealed class IngestDecontamPipelineTests(ITestOutputHelper output) : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-ingest-pipeline-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    static Pipeline Build(IngestSource[] candidates, IngestSource[] benchmarks, BadRowPolicy policy = BadRowPolicy.Fail)
    {
        var p = new Pipeline("ingest-decontam");
        var pool = p.Add(new IngestStage("ingest_pool", new IngestConfig { Sources = [.. candidates], OnBadRow = policy }));
        var tests = p.Add(new IngestStage("ingest_benchmarks", new IngestConfig { Mode = IngestMode.Benchmark, Sources = [.. benchmarks] }));
        p.Add(new DecontaminateStage("decontaminate"))
            .From(DecontaminateStage.CandidatesInput, pool[pool.MainOutput])
            .From("benchmarks", tests[tests.MainOutput]);
        return p;
    }

    [Fact]
    public async Task Contaminated_record_is_explained_by_why_and_reruns_follow_the_source_files()
    {
        var pool = Path.Combine(_root, "pool.jsonl");
        var bench = Path.Combine(_root, "bench.jsonl");
        string leaked = "Find the number of ordered pairs of positive integers whose product is exactly twelve hundred.";
        File.WriteAllLines(pool, [
            "{\"question\": \"Quickly: find the NUMBER of ordered  pairs of positive integers whose product is exactly twelve hundred.\"}",
            "{\"question\": \"What is the sum of the first ten odd numbers?\"}",
            "{\"question\": \"What is the sum of the first ten odd numbers?\"}",
            "not json",
        ]);
        File.WriteAllLines(bench, ["{\"problem\": \"" + leaked + "\", \"answer\": \"30\", \"uid\": \"T-17\"}"]);
        var p = Build([new IngestSource { Path = pool, Name = "toy" }], [new IngestSource { Path = bench, Name = "toybench", Question = "problem", ItemId = "uid" }], BadRowPolicy.Quarantine);
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "store")));

        var run = await runner.RunAsync(p);
        Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));
        Assert.Equal(2, run.Stages["ingest_pool"].Rows[IngestStage.CandidatesOutput]);
        Assert.Equal(1, run.Stages["ingest_pool"].Rows[IngestStage.QuarantineOutput]);
        Assert.Equal(1, run.Stages["ingest_pool"].Metrics["quarantined"]);
        Assert.Equal(1, run.Stages["decontaminate"].Rows[DecontaminateStage.CleanOutput]);
        Assert.Equal(1, run.Stages["decontaminate"].Metrics["contaminated.toybench"]);

        var store = runner.Store;
        var quarantine = store.OpenTable(p, "ingest_pool.quarantine");
        await foreach (var b in quarantine.ReadBatchesAsync())
            Assert.Equal((4L, "not json"), (b.GetInt64("line", 0), b.GetString("raw", 0)));

        var id = RecordMapper.RecordId("Quickly: find the NUMBER of ordered  pairs of positive integers whose product is exactly twelve hundred.");
        var why = await runner.WhyAsync(p, id);
        foreach (var d in why.Decisions) output.WriteLine($"{d.Stage}: {(d.Kept ? "kept" : "dropped")} ({d.Reason}) {d.Detail}");
        Assert.Equal(["ingest_pool", "decontaminate"], why.Decisions.Select(d => d.Stage));
        var dropped = why.Decisions[1];
        Assert.False(dropped.Kept);
        Assert.Equal("contaminated", dropped.Reason);
        Assert.Equal("benchmark=toybench item=T-17 field=question word=1 ngram=\"find the number of ordered pairs of positive\"", dropped.Detail);

        var dupId = RecordMapper.RecordId("What is the sum of the first ten odd numbers?");
        var dupWhy = await runner.WhyAsync(p, dupId);
        Assert.Equal([("decontaminate", true, "clean"), ("ingest_pool", false, "duplicate"), ("ingest_pool", true, "ingested")],
            dupWhy.Decisions.Select(d => (d.Stage, d.Kept, d.Reason)).OrderBy(d => d.Stage).ThenBy(d => d.Reason));
        Assert.Contains("toy line 3", dupWhy.Decisions.Single(d => d.Reason == "duplicate").Detail);
        Assert.Null(dupWhy.DroppedAt);                          // the first occurrence was kept: only its duplicate was dropped
        Assert.Equal("decontaminate", why.DroppedAt);

        // no-op rerun: everything cached; editing the benchmark file (an external input) reruns its ingest
        var again = await runner.RunAsync(p);
        Assert.All(again.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        File.WriteAllLines(bench, ["{\"problem\": \"Something else entirely, with no shared eight words at all here.\", \"answer\": \"1\", \"uid\": \"T-17\"}"]);
        var changed = await runner.RunAsync(p);
        Assert.Equal(StageStatus.Cached, changed.Stages["ingest_pool"].Status);
        Assert.NotEqual(StageStatus.Cached, changed.Stages["ingest_benchmarks"].Status);
        Assert.Equal(2, changed.Stages["decontaminate"].Rows[DecontaminateStage.CleanOutput]);
    }

    [Fact]
    public async Task Bad_row_under_fail_policy_fails_the_run_naming_file_line_and_stage()
    {
        var pool = Path.Combine(_root, "bad.jsonl");
        File.WriteAllLines(pool, ["{\"question\": \"fine\"}", "{\"question\": 42}"]);
        var bench = Path.Combine(_root, "b.jsonl");
        File.WriteAllLines(bench, ["{\"problem\": \"p\"}"]);
        var p = Build([new IngestSource { Path = pool }], [new IngestSource { Path = bench, Question = "problem" }]);
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "store")));
        var e = await Assert.ThrowsAsync<StageFailedException>(() => runner.RunAsync(p));
        Assert.Equal("ingest_pool", e.Stage);
        const string expected = "wrong type: expected string, got number";
        Assert.Contains($"stage 'ingest_pool': {pool}, line 2, column 'question': {expected}", e.Message);
        var failed = e.Result.Stages["ingest_pool"];
        Assert.Equal(StageStatus.Failed, failed.Status);
        Assert.Contains($"stage 'ingest_pool': {pool}, line 2, column 'question': {expected}", failed.Error);
        // the failure stops what depends on it, and the manifest of the failed run is written
        Assert.Equal(StageStatus.Skipped, e.Result.Stages["decontaminate"].Status);
        Assert.True(File.Exists(e.Result.ManifestPath), e.Result.ManifestPath);
    }

    [SharedDataFact]
    public async Task Real_aime_pool_through_the_engine_flags_the_manifest_count()
    {
        var p = Build(
            [new IngestSource { Path = SharedData.File("candidates/aime_1983_2024.csv"), Name = "AIME_1983_2024", Question = "problem" }],
            [
                new IngestSource { Path = SharedData.File("benchmarks/aime24.jsonl"), Question = "problem" },
                new IngestSource { Path = SharedData.File("benchmarks/math500.jsonl"), Question = "problem", ItemId = "unique_id" },
                new IngestSource { Path = SharedData.File("benchmarks/amc2023.jsonl"), Question = "problem" },
            ]);
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "store")), new RunOptions { Execution = new ExecutionOptions { BatchRows = 200 } });
        var run = await runner.RunAsync(p);
        Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));
        Assert.Equal(982, run.Stages["ingest_pool"].Rows[IngestStage.CandidatesOutput]);
        Assert.Equal(269, run.Stages["decontaminate"].Metrics["contaminated"]);
        Assert.Equal(982 - 269, run.Stages["decontaminate"].Rows[DecontaminateStage.CleanOutput]);
        foreach (var (k, v) in run.Stages["decontaminate"].Metrics) output.WriteLine($"{k} = {v}");
    }
}
