using IwSft.Pipelines.Demo;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Tests;

public sealed class DemoDecontaminationTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-demo-decon-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { try { Directory.Delete(_root, true); } catch (IOException) { } }

    [Fact]
    public async Task Planted_eval_problems_are_caught_by_the_demo_decontaminate_stage()
    {
        // Four eval problems planted in the train file: two verbatim, two with the name changed (no exact
        // duplicate, only shared 8-grams). The demo's own stage must remove exactly those four.
        var settings = DemoSettings.Quick with { PlantEvalInTrain = 4 };
        var pipeline = new DemoPipeline(quick: settings).Build(new PipelineBuildOptions { Quick = true });
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var result = await new PipelineRunner(store, new RunOptions { Until = "decontaminate" }).RunAsync(pipeline);
        Assert.True(result.Succeeded);

        var eval = ArithmeticTask.Generate(DemoSplit.Eval, settings.EvalProblems, settings.EvalSeed);
        var removed = new List<(string Id, string Reason, string? Detail)>();
        await foreach (var b in store.OpenTable(pipeline, "decontaminate.decisions").ReadBatchesAsync())
            for (int r = 0; r < b.Length; r++)
                if (b.GetBool("kept", r) == false) removed.Add((b.GetString("record_id", r)!, b.GetString("reason", r)!, b.GetString("detail", r)));
        Assert.Equal(4, removed.Count);
        Assert.All(removed, d => Assert.Equal("contaminated", d.Reason));
        Assert.Equal(settings.TrainProblems, store.OpenTable(pipeline, "decontaminate.clean").RowCount);

        // The verbatim copies carry the eval question's own id; the renamed ones were still caught.
        var evalIds = eval.Take(4).Select(p => DemoIdsOf(p.Question)).ToHashSet();
        Assert.Equal(2, removed.Count(d => evalIds.Contains(d.Id)));
        var renamed = eval[1] with { Name = eval[1].Name == ArithmeticTask.Names[0] ? ArithmeticTask.Names[1] : ArithmeticTask.Names[0] };
        var renamedDetail = removed.Single(d => d.Id == DemoIdsOf(renamed.Question)).Detail!;
        Assert.Contains(eval[1].Item, renamedDetail); // the matched 8-gram contains the (eval-only) item word
    }

    static string DemoIdsOf(string question) => Demo.Stages.DemoIds.Sha16(question);
}
