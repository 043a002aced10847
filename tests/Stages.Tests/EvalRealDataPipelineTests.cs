using IwSft.Runtime;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;
using IwSft.Stages.Reporting;

namespace IwSft.Stages.Tests;

/// <summary>
/// Real benchmark files through ingest → evaluate → eval_report under the engine. An oracle checkpoint
/// answers every item with its gold answer in \boxed{}; a blind one never does. Every real gold answer
/// must then grade correct, and none of the blind answers.
/// </summary>
public sealed class EvalRealDataPipelineTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-eval-real", Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    string Checkpoint(string name, string skill)
    {
        var d = Path.Combine(_root, name);
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "skill.txt"), skill);
        return d;
    }

    [SharedDataFact]
    public async Task OracleScoresEveryRealItemAndBlindScoresNone()
    {
        var p = new Pipeline("eval-real");
        var ingest = p.Add(new IngestStage("ingest", new IngestConfig
        {
            Mode = IngestMode.Benchmark,
            Sources =
            [
                new IngestSource { Path = SharedData.File("benchmarks/math500.jsonl"), Name = "math500", Question = "problem", ItemId = "unique_id" },
                new IngestSource { Path = SharedData.File("benchmarks/aime24.jsonl"), Name = "aime24", Question = "problem" },
                new IngestSource { Path = SharedData.File("benchmarks/gsm8k_test.jsonl"), Name = "gsm8k" },
            ],
        }));
        var gen = new EvalFakeGeneratorFactory();
        var eval = p.Add(new EvaluateStage("evaluate", gen, new EvaluateConfig { BatchSize = 64 }, new EvalGoldLeakingFormatter()));
        eval.From(EvaluateStage.ItemsInput, ingest[ingest.MainOutput]);
        eval.AddExternalCheckpoint("oracle", Checkpoint("oracle", "all")).AddExternalCheckpoint("blind", Checkpoint("blind", "none"));
        p.Add(new EvalReportStage("report")).From(EvalReportStage.ResultsInput, eval[EvaluateStage.ResultsOutput]);

        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var run = await new PipelineRunner(store).RunAsync(p);
        Assert.True(run.Succeeded);
        Assert.Equal(2 * (500 + 30 + 1319), gen.TotalRequests);

        var summary = (await EvalSummaryReader.ReadAsync(store.OpenTable(p, "report.summary"))).ToDictionary(s => (s.Checkpoint, s.Benchmark));
        foreach (var (bench, items) in new[] { ("math500", 500), ("aime24", 30), ("gsm8k", 1319) })
        {
            Assert.Equal(items, summary[("oracle", bench)].Items);
            Assert.Equal(1.0, summary[("oracle", bench)].Accuracy);
            Assert.Equal(0.0, summary[("blind", bench)].Accuracy);
        }
    }
}
