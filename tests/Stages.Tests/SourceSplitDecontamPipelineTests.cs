using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Ingest;

namespace IwSft.Stages.Tests;

/// <summary>
/// One pool file whose <c>source_type</c> splits it into sources (as s1's data_ablation_full59K), decontaminated with
/// s1's chaining under the real engine: each source against the benchmarks and the sources before it (order of first
/// appearance), never against a later source or its own.
/// </summary>
public sealed class SourceSplitDecontamPipelineTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-source-split-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    /// <param name="batchBytes">Default: every record is checked in memory after a first pass over the small columns; 1 byte:
    /// the checked questions exceed 16 × the budget, so the stage reads the candidates once per source instead. Same result.</param>
    [Theory]
    [InlineData(ExecutionOptions.DefaultBatchBytes)]
    [InlineData(1L)]
    public async Task Interleaved_sources_of_one_pool_are_chained_in_order_of_first_appearance(long batchBytes)
    {
        const string b1 = "alpha beta gamma delta epsilon zeta eta theta iota kappa";
        const string a2 = "zero one two three four five six seven eight nine";            // shares with b5, a later row of an earlier source
        const string b3 = "a story about twelve old ships sailing to a far island";
        const string a4 = "in short alpha beta gamma delta epsilon zeta eta theta";        // shares with b1
        const string b5 = "and one two three four five six seven eight more";            // kept: A comes after B, so b5 is not checked against a2
        const string c6 = "compute the number of lattice points inside the circle of radius five";
        const string a7 = "colors red orange yellow green blue indigo violet white";     // a7 and a8 share an 8-gram within A: both kept
        const string a8 = "red orange yellow green blue indigo violet white black";
        var pool = Path.Combine(_root, "pool.jsonl");
        File.WriteAllLines(pool, new[] { (b1, "B"), (a2, "A"), (b3, "B"), (a4, "A"), (b5, "B"), (c6, "C"), (a7, "A"), (a8, "A") }
            .Select(r => $"{{\"question\": \"{r.Item1}\", \"source_type\": \"{r.Item2}\"}}"));
        var bench = Path.Combine(_root, "bench.jsonl");
        File.WriteAllLines(bench, ["{\"problem\": \"Compute the number of lattice points inside the circle of radius five.\", \"uid\": \"T-1\"}"]);

        var p = new Pipeline("source-split");
        var candidates = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = pool, Name = "pool", SourceColumn = "source_type" }] }));
        var tests = p.Add(new IngestStage("benchmarks", new IngestConfig { Mode = IngestMode.Benchmark, Sources = [new IngestSource { Path = bench, Name = "toybench", Question = "problem", ItemId = "uid" }] }));
        p.Add(new DecontaminateStage("decontaminate", new DecontaminateConfig { ChainSources = true }))
            .From(DecontaminateStage.CandidatesInput, candidates[candidates.MainOutput])
            .From("benchmarks", tests[tests.MainOutput]);
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "store")), new RunOptions { Execution = new ExecutionOptions { BatchBytes = batchBytes } });

        var run = await runner.RunAsync(p);
        Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));
        var ingest = run.Stages["ingest"].Metrics;
        Assert.Equal((4, 3, 1), (ingest["source.A.kept"], ingest["source.B.kept"], ingest["source.C.kept"]));

        var clean = new List<(string Source, string Question)>();
        await foreach (var b in runner.Store.OpenTable(p, "decontaminate.clean").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++) clean.Add((b.GetString("source", r)!, b.GetString("question", r)!));
        // The kept rows (here the input order and the source-by-source order coincide).
        Assert.Equal([("B", b1), ("B", b3), ("B", b5), ("A", a7), ("A", a8)], clean);

        var m = run.Stages["decontaminate"].Metrics;
        Assert.Equal((3, 0), (m["source.B.kept"], m["source.B.contaminated"]));
        Assert.Equal((2, 2), (m["source.A.kept"], m["source.A.contaminated"]));
        Assert.Equal((0, 1), (m["source.C.kept"], m["source.C.contaminated"]));
        Assert.Equal(1, m["contaminated.toybench"]);
        Assert.Equal(2, m["contaminated.source:B"]);

        foreach (var (dropped, by) in new[] { (a4, b1), (a2, b5) })
        {
            var why = await runner.WhyAsync(p, RecordMapper.RecordId(dropped));
            Assert.Equal("decontaminate", why.DroppedAt);
            Assert.StartsWith($"benchmark=source:B item={RecordMapper.RecordId(by)} field=question", why.Decisions.Single(d => d.Stage == "decontaminate").Detail);
        }
    }
}
