using System.Net;
using IwSft.Cli.Ui;
using IwSft.Pipelines.Demo;
using IwSft.Pipelines.Example;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Reporting;

namespace IwSft.Pipelines.Tests.Ui;

[CollectionDefinition("ui")]
public sealed class UiCollection : ICollectionFixture<UiFixture>;

/// <summary>
/// One store filled by the real runner, shared by every web view test (each pipeline runs once): the quick example,
/// the quick demo, and <see cref="MarkupPipeline"/> run twice (records whose text is markup; two evaluation runs to
/// diff). <c>iwsft ui</c> serves it on 127.0.0.1 and a free port, started through <see cref="UiServer.StartAsync"/>,
/// the code path of the command.
/// </summary>
public sealed class UiFixture : IAsyncLifetime
{
    public string Root { get; } = Directory.CreateTempSubdirectory("iwsft-ui-").FullName;
    public string StoreDir => Path.Combine(Root, "store");
    public ArtifactStore Store { get; private set; } = null!;
    public IPipelineDefinition Example { get; } = new ExamplePipeline("example");
    public IPipelineDefinition Demo { get; private set; } = null!;
    public IPipelineDefinition Markup { get; } = new MarkupPipeline();
    public RunResult ExampleRun { get; private set; } = null!;
    public RunResult DemoRun { get; private set; } = null!;
    public RunResult MarkupFirstRun { get; private set; } = null!;
    public RunResult MarkupSecondRun { get; private set; } = null!;
    public UiServer Server { get; private set; } = null!;
    public HttpClient Http { get; private set; } = null!;

    public IReadOnlyList<IPipelineDefinition> Definitions => [Example, Demo, Markup];

    public Pipeline Build(IPipelineDefinition d) => d.Build(new PipelineBuildOptions { Quick = true });

    public async Task InitializeAsync()
    {
        Demo = new DemoPipeline();
        Store = new ArtifactStore(StoreDir);
        ExampleRun = await new PipelineRunner(Store).RunAsync(Build(Example));
        DemoRun = await new PipelineRunner(Store).RunAsync(Build(Demo));
        // The first run with 2 of 4 answers right and the markup filter looking for another marker; the second
        // with the defaults (3 of 4): the evaluation diff has a change, and the lock holds the defaults.
        MarkupFirstRun = await new PipelineRunner(Store, new RunOptions { Overrides = ["results.right=2"] }).RunAsync(Build(Markup));
        MarkupSecondRun = await new PipelineRunner(Store).RunAsync(Build(Markup));
        Server = await UiServer.StartAsync(new UiOptions { StoreDirectory = StoreDir, Port = 0, Quick = true, Pipelines = Definitions });
        Http = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = Server.BaseAddress };
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (Server is not null) await Server.DisposeAsync();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { }
    }

    /// <summary>GET a page; asserts 200 and an HTML content type.</summary>
    public async Task<string> PageAsync(string path)
    {
        using var r = await Http.GetAsync(path);
        var body = await r.Content.ReadAsStringAsync();
        Assert.True(r.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)r.StatusCode} {body}");
        Assert.Equal("text/html", r.Content.Headers.ContentType?.MediaType);
        return body;
    }
}

/// <summary>
/// A small pipeline run by the real runner whose records carry markup: a candidate whose id and question are
/// <see cref="Payload"/>, a filter that drops it (reason and detail hold the payload too), and an evaluation
/// (results → eval report with its summary table, report.md and plots) whose accuracy is configurable.
/// </summary>
public sealed class MarkupPipeline : IPipelineDefinition
{
    public const string Payload = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    public const string Escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;";

    public string Name => "ui-markup";
    public string Description => "test pipeline: records whose text is markup " + Payload;

    public Pipeline Build(PipelineBuildOptions options)
    {
        var p = new Pipeline(Name, Description);
        var candidates = p.Add(new MarkupCandidates("candidates"));
        p.Add(new MarkupFilter("screen")).From("candidates", candidates["candidates"]);
        var results = p.Add(new FixedResults("results"));
        p.Add(new EvalReportStage("report")).From(EvalReportStage.ResultsInput, results["results"]);
        return p;
    }

    public sealed class NoConfig;

    sealed class MarkupCandidates(string name) : Stage<NoConfig>(name)
    {
        public override string Kind => "ui-test.markup-candidates";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("candidates", "candidates")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var b = new BatchBuilder(TableSchema.Get("candidates"));
            b.Set("id", Payload).Set("question", Payload).Set("solution", Payload).EndRow();
            b.Set("id", "plain-1").Set("question", "What is 6 times 7?").Set("solution", "42").EndRow();
            await using var w = ctx.WriteTable("candidates");
            await w.WriteAsync(b.Build());
        }
    }

    public sealed class FilterConfig { public string Marker { get; set; } = "<script"; }

    /// <summary>Drops candidates whose question holds the marker, with the question as the decision's detail.</summary>
    sealed class MarkupFilter(string name) : Stage<FilterConfig>(name)
    {
        public override string Kind => "ui-test.markup-filter";
        public override int Version => 1;
        public override bool WritesDecisions => true;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("candidates", "candidates")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("kept", "candidates")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var b = new BatchBuilder(TableSchema.Get("candidates"));
            await foreach (var batch in ctx.ReadTable("candidates").ReadBatchesAsync(ctx.CancellationToken))
            {
                var ids = (Apache.Arrow.StringArray)batch.Col("id");
                var questions = (Apache.Arrow.StringArray)batch.Col("question");
                for (int i = 0; i < batch.Length; i++)
                {
                    if (questions.GetString(i).Contains(Config.Marker)) ctx.Decisions.Record(ids.GetString(i), false, "markup " + Payload, questions.GetString(i));
                    else { ctx.Decisions.Record(ids.GetString(i), true, "kept"); b.Set("id", ids.GetString(i)).Set("question", questions.GetString(i)).EndRow(); }
                }
            }
            await using var w = ctx.WriteTable("kept");
            await w.WriteAsync(b.Build());
        }
    }

    public sealed class ResultsConfig { public int Right { get; set; } = 3; }

    /// <summary>eval_results for one checkpoint on 4 items, <c>right</c> of them correct.</summary>
    sealed class FixedResults(string name) : Stage<ResultsConfig>(name)
    {
        public override string Kind => "ui-test.results";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("results", "eval_results")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var b = new BatchBuilder(TableSchema.Get("eval_results"));
            for (int i = 0; i < 4; i++)
                b.Set("checkpoint", "sft_s1").Set("checkpoint_hash", new string('a', 64)).Set("benchmark", "arith").Set("item_id", i.ToString())
                 .Set("sample", 0).Set("response", Payload).Set("extracted", "1").Set("extraction", "boxed").Set("gold", "1")
                 .Set("correct", i < Config.Right).Set("tokens", 10).EndRow();
            await using var w = ctx.WriteTable("results");
            await w.WriteAsync(b.Build());
        }
    }
}
