using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Reporting;

namespace IwSft.Stages.Tests;

public sealed class ReportTests : IDisposable
{
    readonly EvalFakeContext _ctx = new("report");

    public void Dispose() { if (Directory.Exists(_ctx.Root)) Directory.Delete(_ctx.Root, recursive: true); }

    static ResultRow R(string ckpt, string item, int sample, bool correct, string bench = "b", int tokens = 10) =>
        new(ckpt, "hash-" + ckpt, bench, item, sample, correct, tokens);

    [Theory]
    [InlineData("sft_s3", "sft", 3)]
    [InlineData("iw_sft-seed12", "iw_sft", 12)]
    [InlineData("sft_q_s0", "sft_q", 0)]
    [InlineData("base", "base", null)]
    [InlineData("model_sx", "model_sx", null)]
    public void LabelsSplitIntoMethodAndSeed(string label, string method, int? seed) =>
        Assert.Equal((method, seed), EvalSummarizer.ParseLabel(label));

    [Fact]
    public void SummaryMatchesHandComputedValues()
    {
        // Item i1: 2 of 3 right, i2: 0 of 3, i3: 3 of 3.
        var rows = new[]
        {
            R("sft_s1", "i1", 0, true), R("sft_s1", "i1", 1, true), R("sft_s1", "i1", 2, false),
            R("sft_s1", "i2", 0, false), R("sft_s1", "i2", 1, false), R("sft_s1", "i2", 2, false, tokens: 40),
            R("sft_s1", "i3", 0, true), R("sft_s1", "i3", 1, true), R("sft_s1", "i3", 2, true),
        };
        var s = Assert.Single(EvalSummarizer.Summarize(rows, k: 2));
        Assert.Equal(("sft", 1, 3, 3), (s.Method, s.Seed, s.Items, s.Samples));
        Assert.Equal(5.0 / 9, s.Accuracy, 12);                  // (2/3 + 0 + 1) / 3
        Assert.Equal(2.0 / 3, s.PassAtK!.Value, 12);             // pass@2 per item: 1 (n-c=1<k), 0, 1
        Assert.Equal(0.150711, s.CiLow, 6);                      // Wilson(5/3 of 3 items), by hand: centre 0.524362, half 0.373650
        Assert.Equal(0.898011, s.CiHigh, 5);
        Assert.Equal((8 * 10 + 40) / 9.0, s.MeanTokens, 12);

        Assert.Null(Assert.Single(EvalSummarizer.Summarize(rows, k: 4)).PassAtK); // fewer samples than k
    }

    [Fact]
    public void MethodsAggregateSeedsAsMeanAndSampleStd()
    {
        var rows = new List<ResultRow>();
        // Five items each; sft seeds right on 1, 2, 3 items → 0.2, 0.4, 0.6; iw_sft one checkpoint at 0.8.
        foreach (var (ckpt, right) in new[] { ("sft_s1", 1), ("sft_s2", 2), ("sft_s3", 3), ("iw_sft_s1", 4) })
            for (int i = 0; i < 5; i++) rows.Add(R(ckpt, "i" + i, 0, i < right));
        var summary = EvalSummarizer.Summarize(rows, 1);
        var methods = EvalSummarizer.ByMethod(summary).ToDictionary(m => m.Method);
        Assert.Equal(3, methods["sft"].Checkpoints);
        Assert.Equal(0.4, methods["sft"].Mean, 12);
        Assert.Equal(0.2, methods["sft"].Std, 12);
        Assert.Equal([0.2, 0.4, 0.6], methods["sft"].PerCheckpoint);
        Assert.Equal(0.2, methods["sft"].CiLow, 12);
        Assert.Equal(0.6, methods["sft"].CiHigh, 12);
        var iw = methods["iw_sft"];
        Assert.Equal(1, iw.Checkpoints);
        var only = summary.Single(x => x.Checkpoint == "iw_sft_s1");
        Assert.Equal((only.CiLow, only.CiHigh), (iw.CiLow, iw.CiHigh)); // one seed: its Wilson interval
    }

    [Fact]
    public void ExplicitMethodMapWins()
    {
        var s = EvalSummarizer.Summarize([R("run7", "i", 0, true)], 1, new Dictionary<string, string> { ["run7"] = "iw_sft" });
        Assert.Equal("iw_sft", s[0].Method);
        Assert.Null(s[0].Seed);
    }

    [Fact]
    public void RepeatedSampleIndicesAreAnError()
    {
        var e = Assert.Throws<InvalidDataException>(() => EvalSummarizer.Summarize([R("a", "i", 0, true), R("a", "i", 0, false)], 1));
        Assert.Contains("item 'i'", e.Message);
    }

    static RecordBatch Results(IEnumerable<ResultRow> rows)
    {
        var b = new BatchBuilder(TableSchema.Get("eval_results"));
        foreach (var r in rows)
            b.Set("checkpoint", r.Checkpoint).Set("checkpoint_hash", r.CheckpointHash + new string('0', 64)).Set("benchmark", r.Benchmark)
             .Set("item_id", r.ItemId).Set("sample", r.Sample).Set("response", "...").Set("extracted", r.Correct ? "1" : null)
             .Set("extraction", "boxed").Set("gold", "1").Set("correct", r.Correct).Set("tokens", r.Tokens).EndRow();
        return b.Build();
    }

    static RecordBatch Metrics(int steps, double w0, bool withWeights = true, bool withLoss = true)
    {
        var cols = new List<ColumnSpec> { new("step", ColumnType.Int32, false) };
        if (withLoss) cols.Add(new("loss", ColumnType.Float64, false));
        if (withWeights) cols.AddRange([new("w_mean", ColumnType.Float64, false), new("w_min", ColumnType.Float64, false), new("w_max", ColumnType.Float64, false), new("w_ess", ColumnType.Float32, false)]);
        var b = new BatchBuilder(new TableSchema("train_metrics", cols));
        for (int s = 1; s <= steps; s++)
        {
            b.Set("step", s);
            if (withLoss) b.Set("loss", 2.0 / s + 0.1);
            if (withWeights) b.Set("w_mean", w0 + 0.01 * s).Set("w_min", w0 - 0.3).Set("w_max", w0 + 0.5 + 0.02 * s).Set("w_ess", 7.5f);
            b.EndRow();
        }
        return b.Build();
    }

    sealed class Upstream(string name) : Stage(name)
    {
        public override string Kind => "fake";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("metrics", "eval_results")];
        public override System.Text.Json.Nodes.JsonNode ConfigJson() => new System.Text.Json.Nodes.JsonObject();
        public override void LoadConfigJson(System.Text.Json.Nodes.JsonNode json) { }
        public override Type ConfigType => typeof(object);
        public override Task RunAsync(IStageContext context) => Task.CompletedTask;
    }

    [Fact]
    public async Task StageWritesSummaryMarkdownAndReadablePngs()
    {
        var rows = new List<ResultRow>();
        var rng = new Random(5);
        foreach (var bench in new[] { "aime24", "math500" })
            foreach (var (ckpt, p) in new[] { ("sft_s1", 0.3), ("sft_s2", 0.35), ("iw_sft_s1", 0.5), ("iw_sft_s2", 0.45), ("base", 0.1) })
                for (int i = 0; i < 30; i++)
                    for (int s = 0; s < 4; s++) rows.Add(R(ckpt, $"{bench}-{i}", s, rng.NextDouble() < p, bench));
        var stage = new EvalReportStage("report", new EvalReportConfig { Title = "Demo evaluation", PassAtK = 4 })
            .AddTrainingMetrics("sft_s1", new Upstream("t1")["metrics"])
            .AddTrainingMetrics("iw_sft_s1", new Upstream("t2")["metrics"]);
        _ctx.Tables[EvalReportStage.ResultsInput] = [Results(rows)];
        _ctx.Tables["metrics_sft_s1"] = [Metrics(40, 1.0)];
        _ctx.Tables["metrics_iw_sft_s1"] = [Metrics(25, 1.4)];
        await stage.RunAsync(_ctx);

        var summary = _ctx.Written[EvalReportStage.SummaryOutput].Single();
        Assert.Equal(10, summary.Length);
        TableSchema.Get("eval_summary").Validate(summary.Schema, "report", "summary");
        var expected = EvalSummarizer.Summarize(rows, 4);
        for (int r = 0; r < summary.Length; r++)
        {
            Assert.Equal(expected[r].Checkpoint, summary.GetString("checkpoint", r));
            Assert.Equal(expected[r].Accuracy, summary.GetDouble("accuracy", r)!.Value, 12);
            Assert.Equal(expected[r].PassAtK, summary.GetDouble("pass_at_k", r));
        }

        string dir = _ctx.OutputDirs[EvalReportStage.ReportOutput];
        foreach (var png in new[] { EvalReportStage.AccuracyFigure, EvalReportStage.LossFigure, EvalReportStage.WeightsFigure })
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir, png));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
            Assert.True(bytes.Length > 10_000, $"{png} is only {bytes.Length} bytes");
        }
        var md = File.ReadAllText(Path.Combine(dir, "report.md"));
        Assert.StartsWith("# Demo evaluation", md);
        var sftAime = EvalSummarizer.ByMethod(expected).Single(m => m.Method == "sft" && m.Benchmark == "aime24");
        Assert.Contains($"| aime24 | sft | 2 | {100 * sftAime.Mean:0.0} | {100 * sftAime.Std:0.0} |", md);
        Assert.Contains("| sft_s1 | 40 | 2.1 | 0.15 |", md); // 40 steps, loss 2/1+0.1 → 2/40+0.1
        Assert.Contains("![", md);
        if (Environment.GetEnvironmentVariable("IWSFT_KEEP_REPORT") is { Length: > 0 } keep)
            foreach (var f in Directory.GetFiles(dir)) File.Copy(f, Path.Combine(keep, Path.GetFileName(f)), true);
    }

    [Fact]
    public async Task MetricsWithoutLossNameTheColumn()
    {
        var stage = new EvalReportStage("report").AddTrainingMetrics("x", new Upstream("t")["metrics"]);
        _ctx.Tables[EvalReportStage.ResultsInput] = [Results([R("a", "i", 0, true)])];
        _ctx.Tables["metrics_x"] = [Metrics(3, 1, withLoss: false)];
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => stage.RunAsync(_ctx));
        Assert.Contains("stage 'report'", e.Message);
        Assert.Contains("column 'loss'", e.Message);
    }
}
