using IwSft.Gpu.Training;
using IwSft.Pipelines.Bandit;
using Xunit.Abstractions;

namespace IwSft.Pipelines.Tests;

public class BanditTests(ITestOutputHelper output)
{
    [Fact]
    public void Sft_converges_to_two_thirds_and_iw_sft_to_always_right_for_three_seeds()
    {
        // 20,000 reference pulls → |D+| ≈ 15,000: D+(right) has sd √(2/9/15000) ≈ 0.0038, so the 0.02
        // tolerance on SFT is over 5 sd of sampling noise, not a margin fitted to these seeds.
        var config = new BanditConfig { Pulls = 20_000 };
        var steps = BanditExperiment.DerivedSteps(config);
        var (sftSteps, iwSteps) = BanditExperiment.MeanFieldSteps(config);
        output.WriteLine($"mean-field: SFT {sftSteps} steps, iw-SFT {iwSteps} steps → running {steps}");
        foreach (ulong seed in new ulong[] { 1, 2, 3 })
        {
            var sft = BanditExperiment.Train(config, seed, LossKind.Sft, steps);
            var iw = BanditExperiment.Train(config, seed, LossKind.IwSftSequence, steps);
            output.WriteLine($"seed {seed}: D+(right) {sft.DataRight:F4}  SFT P(right) {sft.PRight:F4}  iw-SFT P(right) {iw.PRight:F4}");
            Assert.Equal(2.0 / 3.0, sft.PRight, 0.02);
            Assert.True(iw.PRight >= 0.97, $"seed {seed}: iw-SFT P(right) = {iw.PRight}");
            // SFT's fixed point is exactly the data's share of right pulls (maximum likelihood).
            Assert.Equal(sft.DataRight, sft.PRight, 0.005);
        }
    }

    [Fact]
    public void Data_are_the_successful_pulls_one_third_left()
    {
        var data = BanditExperiment.SuccessfulPulls(new BanditConfig { Pulls = 40_000 }, 9);
        // E|D+| = 40000 · (0.5·0.5 + 0.5·1) = 30000, sd ≈ 87; right share 2/3, sd ≈ 0.0027.
        Assert.InRange(data.Count, 29_500, 30_500);
        Assert.Equal(2.0 / 3.0, data.Count(d => d.InputIds[1] == BanditExperiment.Right) / (double)data.Count, 0.015);
        Assert.All(data, d => { Assert.Equal(1, d.LossTokens); Assert.Equal((float)Math.Log(0.5), d.RefLogProbs![0]); });
    }

    [Fact]
    public void Mean_field_step_counts_follow_the_closed_form_rates()
    {
        // SFT contracts the error by (1 − 2η·p(1−p)) ≈ (1 − 4η/9) per step near 2/3: from 1/6 to 0.002
        // takes about ln(83)/−ln(5/9) ≈ 7.5 steps at η = 1; iw-SFT's e^d grows by (4/3)η per step near 1,
        // so P(right) = 0.99 (e^d = 99) needs about 99·3/4 ≈ 74 steps.
        var (sft, iw) = BanditExperiment.MeanFieldSteps(new BanditConfig());
        Assert.InRange(sft, 6, 12);
        Assert.InRange(iw, 60, 90);
        // halving η doubles iw-SFT's time
        var (_, iwHalf) = BanditExperiment.MeanFieldSteps(new BanditConfig { LearningRate = 0.5 });
        Assert.InRange(iwHalf / (double)iw, 1.8, 2.2);
    }
}

public class BanditStageTests
{
    sealed class ReportOnlyContext(string root) : IwSft.Runtime.IStageContext
    {
        public string StageName => "bandit";
        public CancellationToken CancellationToken => default;
        public IwSft.Runtime.ExecutionOptions Execution { get; } = new();
        public IwSft.Runtime.ITableReader ReadTable(string input) => throw new NotSupportedException();
        public bool HasInput(string input) => false;
        public string InputDirectory(string input) => throw new NotSupportedException();
        public IwSft.Runtime.ITableWriter WriteTable(string output) => throw new NotSupportedException();
        public string OutputDirectory(string output) { var d = Path.Combine(root, output); Directory.CreateDirectory(d); return d; }
        public IwSft.Runtime.IDecisionWriter Decisions => throw new NotSupportedException();
        public IwSft.Runtime.IRecordMemo Memo => throw new NotSupportedException();
        public string ScratchDirectory => root;
        public List<string> Logs { get; } = new();
        public Dictionary<string, double> Metrics { get; } = new();
        public void Log(string message) => Logs.Add(message);
        public void ReportProgress(long done, long? total = null, string unit = "rows") { }
        public void SetMetric(string name, double value) => Metrics[name] = value;
    }

    [Fact]
    public async Task Stage_writes_a_report_with_both_losses_steps_and_seeds()
    {
        var root = Path.Combine(Path.GetTempPath(), "iwsft-bandit-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var stage = new BanditStage(config: new BanditConfig { Pulls = 2_000, Seeds = [4] });
            var ctx = new ReportOnlyContext(root);
            await stage.RunAsync(ctx);
            var report = File.ReadAllText(Path.Combine(root, "report", "report.md"));
            int steps = BanditExperiment.DerivedSteps(stage.Config);
            Assert.Contains($"| SFT | 4 | {steps} |", report);
            Assert.Contains($"| iw-SFT | 4 | {steps} |", report);
            Assert.True(ctx.Metrics["iwsft_p_right_mean"] > ctx.Metrics["sft_p_right_mean"]);
            Assert.Contains("bandit", PipelineCatalog.All.Select(p => p.Name));
            Assert.Single(PipelineCatalog.Get("bandit").Build(new IwSft.Runtime.PipelineBuildOptions { Quick = true }).Stages);
        }
        finally
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        }
    }
}
