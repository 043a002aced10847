using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Ingest;

namespace IwSft.Stages.Tests.IngestDecontam;

/// <summary>Runs the ingest and decontaminate stages directly on a <see cref="StageTestContext"/>.</summary>
public static class Harness
{
    public static async Task<StageTestContext> IngestAsync(IngestConfig config, ExecutionOptions? execution = null, string name = "ingest")
    {
        var stage = new IngestStage(name, config);
        var ctx = new StageTestContext(stage) { Execution = execution ?? new ExecutionOptions() };
        await stage.RunAsync(ctx);
        return ctx;
    }

    public static async Task<StageTestContext> DecontaminateAsync(
        List<RecordBatch> candidates, List<RecordBatch> benchmarks, DecontaminateConfig? config = null, ExecutionOptions? execution = null)
    {
        var stage = new DecontaminateStage("decontaminate", config);
        var ctx = new StageTestContext(stage) { Execution = execution ?? new ExecutionOptions() }
            .Table(DecontaminateStage.CandidatesInput, candidates)
            .Table(stage.Config.BenchmarkInputs[0], benchmarks);
        await stage.RunAsync(ctx);
        return ctx;
    }

    public static IngestSource Benchmark(string file, string question = "problem", string itemId = "") =>
        new() { Path = SharedData.File(Path.Combine("benchmarks", file)), Question = question, ItemId = itemId };

    public static readonly string[] AllBenchmarkFiles =
        ["aime24.jsonl", "aime25.jsonl", "amc2023.jsonl", "olympiadbench.jsonl", "minervamath.jsonl", "math500.jsonl", "gsm8k_test.jsonl"];

    public static IngestSource BenchmarkByFile(string file) => file switch
    {
        "math500.jsonl" => Benchmark(file, itemId: "unique_id"),
        "gsm8k_test.jsonl" => Benchmark(file, question: "question"),
        _ => Benchmark(file),
    };

    public static IngestSource AimeCandidates() =>
        new() { Path = SharedData.File("candidates/aime_1983_2024.csv"), Name = "AIME_1983_2024", Question = "problem" };

    public static IngestSource Gsm8kCandidates() =>
        new() { Path = SharedData.File("candidates/gsm8k_train.jsonl"), Name = "gsm8k_train" };

    /// <summary>Test-pool texts from benchmark_items batches.</summary>
    public static List<BenchmarkText> Texts(IEnumerable<RecordBatch> benchmarkBatches) =>
        benchmarkBatches.SelectMany(b => Enumerable.Range(0, b.Length).Select(r =>
            new BenchmarkText(b.GetString("benchmark", r)!, b.GetString("item_id", r)!, b.GetString("question", r)!))).ToList();

    public static List<(string Id, string Question)> Questions(IEnumerable<RecordBatch> candidateBatches) =>
        candidateBatches.SelectMany(b => Enumerable.Range(0, b.Length).Select(r => (b.GetString("id", r)!, b.GetString("question", r)!))).ToList();
}
