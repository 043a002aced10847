using System.Text.Json.Nodes;
using IwSft.Pipelines.Demo;
using IwSft.Pipelines.Demo.Stages;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Ingest;

namespace IwSft.Pipelines.Tests;

/// <summary>The demonstrate stage's drills, through the real runner: a drill is never one of the task's own problems.</summary>
public sealed class DemoDrillTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-demo-drills-").FullName;
    public void Dispose() => Directory.Delete(_root, recursive: true);

    string Pool => Path.Combine(_root, "problems.jsonl");

    static readonly ArithmeticProblem Ana = new("Ana", "pens", 12,
        [new ArithmeticStep(true, "got", 5), new ArithmeticStep(false, "lost", 3), new ArithmeticStep(true, "found", 8)]);

    Pipeline Build()
    {
        var p = new Pipeline("drills");
        var problems = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = Pool, Name = "task" }] }))[IngestStage.CandidatesOutput];
        p.Add(new DemonstrateStage("demonstrate", new DemonstrateConfig { DrillsPerProblem = 1 })).From(DemonstrateStage.ProblemsInput, problems);
        return p;
    }

    void WritePool(params ArithmeticProblem[] problems) =>
        File.WriteAllLines(Pool, problems.Select(q => new JsonObject { ["question"] = q.Question, ["solution"] = q.CarefulSolution }.ToJsonString()));

    async Task<List<(string ProblemId, string Question, string Domain)>> Rows(ArtifactStore store)
    {
        var rows = new List<(string, string, string)>();
        await foreach (var b in store.OpenTable(Build(), "demonstrate.demonstrations").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++) rows.Add((b.GetString("problem_id", r)!, b.GetString("question", r)!, b.GetString("domain", r)!));
        return rows;
    }

    [Fact]
    public async Task A_drill_that_would_repeat_a_task_problem_is_drawn_again_from_the_same_stream()
    {
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        WritePool(Ana);
        Assert.True((await new PipelineRunner(store).RunAsync(Build())).Succeeded);
        var alone = await Rows(store);
        var (anaId, firstDrill, _) = Assert.Single(alone, r => r.Domain == "drill");
        var planted = ArithmeticTask.Parse(firstDrill[DemonstrateConfig.DrillInstruction.Length..])!;

        // The same problem (same id: ids come from the content) with its first drill planted as a second task problem.
        WritePool(Ana, planted);
        Assert.True((await new PipelineRunner(store).RunAsync(Build())).Succeeded);
        var drills = (await Rows(store)).Where(r => r.Domain == "drill").ToList();
        Assert.Equal(2, drills.Count);
        var anaDrill = Assert.Single(drills, r => r.ProblemId == anaId).Question;
        Assert.NotEqual(firstDrill, anaDrill);
        var rng = DemoIds.RecordRandom(new DemonstrateConfig().Seed, anaId, "drill:0");
        Assert.Equal(planted.Question, ArithmeticTask.Sample(rng, DemoSplit.Train).Question);
        Assert.Equal(DemonstrateConfig.DrillInstruction + ArithmeticTask.Sample(rng, DemoSplit.Train).Question, anaDrill);
        Assert.All(drills, d => Assert.NotEqual(DemonstrateConfig.DrillInstruction + Ana.Question, d.Question));
    }
}
