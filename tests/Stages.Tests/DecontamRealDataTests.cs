using IwSft.Stages.Decontaminate;
using IwSft.Cli.Bench;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests.IngestDecontam;
using Xunit.Abstractions;

namespace IwSft.Stages.Tests;

/// <summary>
/// Ingest + decontaminate on the real files of shared/data, checked against the plain reference
/// implementation of s1's algorithm and against the counts in shared/data/MANIFEST.md.
/// </summary>
public class DecontamRealDataTests(ITestOutputHelper output)
{
    [SharedDataFact]
    public async Task All_benchmark_sets_ingest_with_their_published_sizes()
    {
        var ctx = await Harness.IngestAsync(new IngestConfig
        {
            Mode = IngestMode.Benchmark,
            Sources = Harness.AllBenchmarkFiles.Select(Harness.BenchmarkByFile).ToList(),
        });
        var perBenchmark = ctx.Column(IngestStage.BenchmarkOutput, "benchmark").GroupBy(b => b!).ToDictionary(g => g.Key, g => g.Count());
        foreach (var (b, n) in perBenchmark) output.WriteLine($"{b}: {n}");
        Assert.Equal(new Dictionary<string, int>
        {
            ["aime24"] = 30, ["aime25"] = 30, ["amc2023"] = 40, ["olympiadbench"] = 674,
            ["minervamath"] = 272, ["math500"] = 500, ["gsm8k_test"] = 1319,
        }, perBenchmark);
        Assert.Equal(0, ctx.Metrics["quarantined"]);
        // MATH500 keeps its own ids; the others are numbered from 1 in file order
        var items = Harness.Texts(ctx.Outputs[IngestStage.BenchmarkOutput]);
        Assert.Equal("test/precalculus/807.json", items.First(i => i.Benchmark == "math500").ItemId);
        Assert.Equal(["1", "2", "3"], items.Where(i => i.Benchmark == "aime24").Take(3).Select(i => i.ItemId));
    }

    [SharedDataFact]
    public async Task Aime_csv_with_multiline_problems_gives_982_records()
    {
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [Harness.AimeCandidates()] });
        Assert.Equal(982, ctx.RowCount(IngestStage.CandidatesOutput));
        Assert.Equal(0, ctx.Metrics["duplicates"]);
        var metadata = ctx.Column(IngestStage.CandidatesOutput, "metadata");
        Assert.Equal("{\"id\":\"1983_AIME_1\"}", metadata[0]);
        Assert.Equal("60", ctx.Column(IngestStage.CandidatesOutput, "answer")[0]);
    }

    public static TheoryData<string, string[], int> ManifestCases => new()
    {
        { "aime", ["aime24.jsonl", "math500.jsonl", "amc2023.jsonl"], 269 },
        { "gsm8k", ["gsm8k_test.jsonl", "math500.jsonl"], 70 },
    };

    [SharedDataTheory]
    [MemberData(nameof(ManifestCases))]
    public async Task Contaminated_set_equals_reference_and_manifest_count(string pool, string[] benchmarks, int manifestCount)
    {
        var source = pool == "aime" ? Harness.AimeCandidates() : Harness.Gsm8kCandidates();
        var candidates = await Harness.IngestAsync(new IngestConfig { Sources = [source] });
        var tests = await Harness.IngestAsync(new IngestConfig { Mode = IngestMode.Benchmark, Sources = benchmarks.Select(Harness.BenchmarkByFile).ToList() });
        var result = await Harness.DecontaminateAsync(candidates.Outputs[IngestStage.CandidatesOutput], tests.Outputs[IngestStage.BenchmarkOutput],
            execution: new() { MaxDegreeOfParallelism = 2, BatchRows = 256 });

        var reference = new ReferenceDecontaminator(8, Harness.Texts(tests.Outputs[IngestStage.BenchmarkOutput]));
        var questions = Harness.Questions(candidates.Outputs[IngestStage.CandidatesOutput]);
        var expected = questions.Where(q => reference.IsContaminated(q.Question)).Select(q => q.Id).ToHashSet();
        var removed = result.DecisionRows.Where(d => !d.Kept).Select(d => d.Id).ToHashSet();

        output.WriteLine($"{pool}: {questions.Count} candidates, {expected.Count} contaminated (reference), {removed.Count} (stage)");
        foreach (var (name, value) in result.Metrics.OrderBy(m => m.Key)) output.WriteLine($"  {name} = {value}");
        Assert.Equal(expected.OrderBy(x => x), removed.OrderBy(x => x));
        Assert.Equal(manifestCount, removed.Count);
        Assert.Equal(questions.Count - manifestCount, result.RowCount(DecontaminateStage.CleanOutput));
        Assert.Equal(questions.Count, result.DecisionRows.Count);
        // the clean output keeps input order and drops exactly the removed ids
        Assert.Equal(questions.Select(q => q.Id).Where(id => !removed.Contains(id)), result.Column(DecontaminateStage.CleanOutput, "id"));
        // each removal names a shared n-gram the reference agrees is in the pool
        foreach (var d in result.DecisionRows.Where(d => !d.Kept))
        {
            var ngram = d.Detail!.Split("ngram=\"")[1].TrimEnd('"');
            Assert.Equal(8, ngram.Split(' ').Length);
            Assert.Equal(ngram, reference.FirstMatch(questions.First(q => q.Id == d.Id).Question)!.Value.Ngram);
        }
    }

    [SharedDataFact]
    public async Task Both_pools_against_all_benchmarks_equal_reference()
    {
        var candidates = await Harness.IngestAsync(new IngestConfig { Sources = [Harness.Gsm8kCandidates(), Harness.AimeCandidates()] });
        var tests = await Harness.IngestAsync(new IngestConfig { Mode = IngestMode.Benchmark, Sources = Harness.AllBenchmarkFiles.Select(Harness.BenchmarkByFile).ToList() });
        var result = await Harness.DecontaminateAsync(candidates.Outputs[IngestStage.CandidatesOutput], tests.Outputs[IngestStage.BenchmarkOutput]);
        var reference = new ReferenceDecontaminator(8, Harness.Texts(tests.Outputs[IngestStage.BenchmarkOutput]));
        var questions = Harness.Questions(candidates.Outputs[IngestStage.CandidatesOutput]);
        var expected = questions.Where(q => reference.IsContaminated(q.Question)).Select(q => q.Id).ToHashSet();
        var removed = result.DecisionRows.Where(d => !d.Kept).Select(d => d.Id).ToHashSet();
        output.WriteLine($"{questions.Count} candidates (GSM8K train + AIME 1983-2024) vs all 7 benchmark sets: {removed.Count} contaminated");
        foreach (var (name, value) in result.Metrics.OrderBy(m => m.Key)) output.WriteLine($"  {name} = {value}");
        Assert.Equal(expected.OrderBy(x => x), removed.OrderBy(x => x));
        Assert.Equal(7473 + 982, questions.Count);
    }
}
