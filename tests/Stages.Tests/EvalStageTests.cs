using System.Text.Json.Nodes;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

public sealed class EvalStageTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-eval-stage", Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    public static RecordBatch Items(params (string Id, string Bench, string Q, string A, string[]? Choices)[] rows)
    {
        var b = new BatchBuilder(TableSchema.Get("benchmark_items"));
        foreach (var r in rows)
            b.Set("id", "id-" + r.Id).Set("item_id", r.Id).Set("benchmark", r.Bench).Set("question", r.Q).Set("answer", r.A).Set("choices", r.Choices).EndRow();
        return b.Build();
    }

    static readonly RecordBatch FourItems = Items(
        ("m1", "math", "What is 1/2?", "\\frac{1}{2}", null),
        ("m2", "math", "What is 6*7?", "42", null),
        ("g1", "gsm", "Eggs?", "She sells 9 eggs.\n#### 18", null),
        ("c1", "gpqa", "Which?", "B", ["red", "blue", "green", "cyan"]));

    string Checkpoint(string name, string skill = "all", string weights = "")
    {
        var d = Path.Combine(_root, name);
        Directory.CreateDirectory(Path.Combine(d, "sub"));
        File.WriteAllText(Path.Combine(d, "skill.txt"), skill);
        File.WriteAllText(Path.Combine(d, "sub", "weights.bin"), weights == "" ? "weights of " + name : weights);
        return d;
    }

    sealed record Row(string Checkpoint, string Hash, string Benchmark, string Item, int Sample, string Response, string? Extracted, string Extraction, string Gold, bool Correct, int Tokens);

    static List<Row> Rows(EvalFakeContext ctx) =>
        ctx.Written[EvaluateStage.ResultsOutput].SelectMany(b => Enumerable.Range(0, b.Length).Select(r => new Row(
            b.GetString("checkpoint", r)!, b.GetString("checkpoint_hash", r)!, b.GetString("benchmark", r)!, b.GetString("item_id", r)!,
            b.GetInt32("sample", r)!.Value, b.GetString("response", r)!, b.GetString("extracted", r), b.GetString("extraction", r)!,
            b.GetString("gold", r)!, b.GetBool("correct", r)!.Value, b.GetInt32("tokens", r)!.Value))).ToList();

    /// <summary>An upstream stage that only exposes a directory output to wire checkpoints from.</summary>
    sealed class FakeTrain(string name) : Stage(name)
    {
        public override string Kind => "fake-train";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("model")];
        public override JsonNode ConfigJson() => new JsonObject();
        public override void LoadConfigJson(JsonNode json) { }
        public override Type ConfigType => typeof(object);
        public override Task RunAsync(IStageContext context) => Task.CompletedTask;
    }

    async Task<EvalFakeContext> Run(EvalFakeGeneratorFactory gen, EvalFakeMemo memo, EvaluateConfig cfg, (string Label, string Dir)[] ported, (string Label, string Dir)[] external, RecordBatch? items = null)
    {
        var stage = new EvaluateStage("evaluate", gen, cfg, new EvalGoldLeakingFormatter());
        var ctx = new EvalFakeContext("evaluate") { MemoStore = memo };
        ctx.Tables[EvaluateStage.ItemsInput] = [items ?? FourItems];
        foreach (var (label, dir) in ported)
        {
            stage.AddCheckpoint(label, new FakeTrain("train_" + label)["model"]);
            ctx.Directories[EvaluateStage.CheckpointPortPrefix + label] = dir;
        }
        foreach (var (label, dir) in external) stage.AddExternalCheckpoint(label, dir);
        await stage.RunAsync(ctx);
        return ctx;
    }

    [Fact]
    public async Task RerunOverFiveCheckpointsWithOneNewGeneratesOnlyForTheNewOne()
    {
        var cfg = new EvaluateConfig { SamplesPerItem = 3, Temperature = 0.7, BatchSize = 2 };
        var memo = new EvalFakeMemo();
        var old = new[] { ("sft_s1", Checkpoint("a")), ("sft_s2", Checkpoint("b")) };
        var oldExternal = new[] { ("iw_s1", Checkpoint("c", "even-seeds")), ("base", Checkpoint("d", "none")) };

        var first = new EvalFakeGeneratorFactory();
        var ctx1 = await Run(first, memo, cfg, old, oldExternal);
        Assert.Equal(4 * 4 * 3, first.TotalRequests);
        Assert.Equal(4, first.Opens.Count);

        var second = new EvalFakeGeneratorFactory();
        string fresh = Checkpoint("e");
        var ctx2 = await Run(second, memo, cfg, [.. old, ("iw_s2", fresh)], oldExternal);
        Assert.Equal(new[] { fresh }, second.Opens.Keys); // the four known checkpoints are never even loaded
        Assert.Equal(4 * 3, second.Requests[fresh]);
        Assert.Equal(4 * 3, ctx2.Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.Equal(4 * 4 * 3, ctx2.Metrics[RecordMemoLoop.ReusedMetric]);
        Assert.Equal((5 * 4 * 3, (long?)(5 * 4 * 3)), ctx2.LastProgress);

        var rows1 = Rows(ctx1);
        var rows2 = Rows(ctx2);
        Assert.Equal(5 * 4 * 3, rows2.Count);
        Assert.Equal(rows1, rows2.Where(r => r.Checkpoint != "iw_s2")); // cached rows are identical, in label order
        Assert.All(rows2.Where(r => r.Checkpoint is "sft_s1" or "sft_s2" or "iw_s2"), r => Assert.True(r.Correct, r.Response));
        Assert.All(rows2.Where(r => r.Checkpoint == "base"), r => Assert.False(r.Correct, r.Response));
    }

    [Fact]
    public async Task CacheFollowsCheckpointContentNotItsNameOrPlace()
    {
        var cfg = new EvaluateConfig { SamplesPerItem = 2, Temperature = 1 };
        var memo = new EvalFakeMemo();
        await Run(new EvalFakeGeneratorFactory(), memo, cfg, [], [("m", Checkpoint("orig", weights: "W"))]);

        var copy = new EvalFakeGeneratorFactory();
        var ctx = await Run(copy, memo, cfg, [], [("renamed", Checkpoint("copy", weights: "W"))]);
        Assert.Equal(0, copy.TotalRequests); // same bytes elsewhere under another label: all cached
        Assert.All(Rows(ctx), r => Assert.Equal("renamed", r.Checkpoint));

        var edited = new EvalFakeGeneratorFactory();
        await Run(edited, memo, cfg, [], [("m", Checkpoint("edited", weights: "W2"))]);
        Assert.Equal(4 * 2, edited.TotalRequests); // one changed byte: everything regenerated
    }

    [Fact]
    public async Task GenerationSettingsArePartOfTheKey()
    {
        var memo = new EvalFakeMemo();
        string dir = Checkpoint("k");
        await Run(new EvalFakeGeneratorFactory(), memo, new EvaluateConfig { Temperature = 0.5 }, [], [("k", dir)]);
        var hotter = new EvalFakeGeneratorFactory();
        await Run(hotter, memo, new EvaluateConfig { Temperature = 0.6 }, [], [("k", dir)]);
        Assert.Equal(4, hotter.TotalRequests);
        var more = new EvalFakeGeneratorFactory();
        await Run(more, memo, new EvaluateConfig { Temperature = 0.6, SamplesPerItem = 3 }, [], [("k", dir)]);
        Assert.Equal(4 * 2, more.TotalRequests); // sample 0 is cached; only samples 1 and 2 are new
    }

    [Fact]
    public async Task SamplesDoNotDependOnBatching()
    {
        string dir = Checkpoint("s", "even-seeds");
        var one = await Run(new EvalFakeGeneratorFactory(), new EvalFakeMemo(), new EvaluateConfig { SamplesPerItem = 4, Temperature = 1, BatchSize = 1 }, [], [("s", dir)]);
        var five = await Run(new EvalFakeGeneratorFactory(), new EvalFakeMemo(), new EvaluateConfig { SamplesPerItem = 4, Temperature = 1, BatchSize = 5 }, [], [("s", dir)]);
        Assert.Equal(Rows(one), Rows(five));
        // The even-seed checkpoint is right exactly on even seeds, and the grader sees it.
        var prompts = new Dictionary<string, string> { ["m1"] = "What is 1/2? [gold=\\frac{1}{2}=gold]" };
        foreach (var r in Rows(one).Where(r => r.Item == "m1"))
            Assert.Equal(EvaluateStage.SampleSeed(0, prompts["m1"], r.Sample) % 2 == 0, r.Correct);
    }

    [Fact]
    public async Task ResultRowsCarryExtractionAndGold()
    {
        var ctx = await Run(new EvalFakeGeneratorFactory(), new EvalFakeMemo(), new EvaluateConfig(), [], [("x", Checkpoint("x"))]);
        var rows = Rows(ctx).ToDictionary(r => r.Item);
        Assert.Equal("\\frac{1}{2}", rows["m1"].Extracted);
        Assert.Equal("boxed", rows["m1"].Extraction);
        Assert.Equal("18", rows["g1"].Gold);
        Assert.Equal("B", rows["c1"].Gold);
        Assert.Equal("B", rows["c1"].Extracted);
        Assert.Equal("choice_letter", rows["c1"].Extraction);
        Assert.All(rows.Values, r => Assert.True(r.Correct));
        Assert.Equal(64, rows["m1"].Hash.Length);
    }

    [Fact]
    public async Task BadMultipleChoiceGoldNamesStageRowAndColumn()
    {
        var items = Items(("ok", "gpqa", "q", "A", ["x", "y"]), ("bad", "gpqa", "q2", "zebra", ["x", "y"]));
        var e = await Assert.ThrowsAsync<InvalidDataException>(() =>
            Run(new EvalFakeGeneratorFactory(), new EvalFakeMemo(), new EvaluateConfig(), [], [("x", Checkpoint("x"))], items));
        Assert.Contains("stage 'evaluate'", e.Message);
        Assert.Contains("row 1", e.Message);
        Assert.Contains("column 'answer'", e.Message);
        Assert.Contains("zebra", e.Message);
    }

    [Fact]
    public void LabelsAreCheckedAndPortsDeclared()
    {
        var stage = new EvaluateStage("evaluate", new EvalFakeGeneratorFactory());
        stage.AddCheckpoint("sft", new FakeTrain("t")["model"]);
        Assert.Equal(["items", "tokenizer", "checkpoint_sft"], stage.Inputs.Select(p => p.Name));
        Assert.Throws<ArgumentException>(() => stage.AddExternalCheckpoint("sft", "/tmp"));
        Assert.Throws<ArgumentException>(() => stage.AddExternalCheckpoint("bad label", "/tmp"));
    }
}
