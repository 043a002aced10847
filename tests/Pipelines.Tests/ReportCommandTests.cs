using IwSft.Cli;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Reporting;
using Spectre.Console;

namespace IwSft.Pipelines.Tests;

/// <summary><c>iwsft report</c> over a store the real engine filled.</summary>
public sealed class ReportCommandTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-report-cmd", Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    public sealed class NoConfig;

    /// <summary>Writes eval_results: checkpoint "sft_s1" right on 3 of 4 items, "iw_sft_s1" on 4 of 4, one sample each.</summary>
    sealed class FixedResults(string name) : Stage<NoConfig>(name)
    {
        public override string Kind => "report-test.results";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("results", "eval_results")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var b = new BatchBuilder(TableSchema.Get("eval_results"));
            foreach (var (ckpt, right) in new[] { ("sft_s1", 3), ("iw_sft_s1", 4) })
                for (int i = 0; i < 4; i++)
                    b.Set("checkpoint", ckpt).Set("checkpoint_hash", new string(ckpt[0], 64)).Set("benchmark", "aime24").Set("item_id", i.ToString())
                     .Set("sample", 0).Set("response", "r").Set("extracted", "1").Set("extraction", "boxed").Set("gold", "1")
                     .Set("correct", i < right).Set("tokens", 10).EndRow();
            await using var w = ctx.WriteTable("results");
            await w.WriteAsync(b.Build());
        }
    }

    static Pipeline Build()
    {
        var p = new Pipeline("report-test");
        var results = p.Add(new FixedResults("results"));
        p.Add(new EvalReportStage("report")).From(EvalReportStage.ResultsInput, results["results"]);
        return p;
    }

    static (IAnsiConsole Console, StringWriter Text) Recorder()
    {
        var text = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(text), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 200;
        return (console, text);
    }

    [Fact]
    public async Task PrintsTheLatestSummaryWithIntervals()
    {
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var p = Build();
        Assert.True((await new PipelineRunner(store).RunAsync(p)).Succeeded);
        var (console, text) = Recorder();
        Assert.Equal(0, await ReportCommands.PrintAsync(store, p, null, console));
        string output = text.ToString();
        // 3 of 4 → 75.0%, Wilson 95% [30.1, 95.4]; 4 of 4 → 100.0%, [51.0, 100.0] (z²/(n+z²) = 0.490 for the low end).
        Assert.Matches(@"sft_s1\s*│\s*sft\s*│\s*aime24\s*│\s*4\s*│\s*1\s*│\s*75\.0\s*│\s*\[30\.1, 95\.4\]", output);
        Assert.Matches(@"iw_sft_s1\s*│\s*iw_sft\s*│\s*aime24\s*│\s*4\s*│\s*1\s*│\s*100\.0\s*│\s*\[51\.0, 100\.0\]", output);
        Assert.Contains("report.md", output);
    }

    [Fact]
    public async Task BeforeAnyRunTheErrorSaysWhatToRun()
    {
        var store = new ArtifactStore(Path.Combine(_root, "empty"));
        var (console, _) = Recorder();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ReportCommands.PrintAsync(store, Build(), null, console));
        Assert.Contains("iwsft run report-test", e.Message);
    }

    [Fact]
    public async Task APipelineWithoutASummaryIsNamed()
    {
        var p = new Pipeline("no-report");
        p.Add(new FixedResults("results"));
        var (console, _) = Recorder();
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => ReportCommands.PrintAsync(new ArtifactStore(_root), p, null, console));
        Assert.Contains("has no summary output", e.Message);
        Assert.Contains("results (report-test.results)", e.Message);
    }

    /// <summary>A pipeline's own report table (like the demo's demo_summary): any table output named "summary".</summary>
    sealed class OwnSummary(string name) : Stage<NoConfig>(name)
    {
        public override string Kind => "report-test.own-summary";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [new PortSpec("summary", ArtifactKind.Table)];
        public override async Task RunAsync(IStageContext ctx)
        {
            var b = new BatchBuilder(new TableSchema("own", [new("method", ColumnType.String, false), new("accuracy", ColumnType.Float64, false), new("seeds", ColumnType.Int32, true)]));
            b.Set("method", "iw_sft").Set("accuracy", 0.61234567).Set("seeds", 3).EndRow();
            b.Set("method", "sft").Set("accuracy", 0.5).EndRow();
            await using var w = ctx.WriteTable("summary");
            await w.WriteAsync(b.Build());
        }
    }

    [Fact]
    public async Task OtherSummaryTablesArePrintedColumnByColumn()
    {
        var store = new ArtifactStore(Path.Combine(_root, "store2"));
        var p = new Pipeline("own-report");
        p.Add(new OwnSummary("demo_report"));
        Assert.True((await new PipelineRunner(store).RunAsync(p)).Succeeded);
        var (console, text) = Recorder();
        await ReportCommands.PrintAsync(store, p, "demo_report", console);
        Assert.Matches(@"iw_sft\s*│\s*0\.6123\s*│\s*3", text.ToString());
        Assert.Matches(@"sft\s*│\s*0\.5\s*│\s*–", text.ToString());
    }
}
