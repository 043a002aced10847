using IwSft.Cli.Bench;

namespace IwSft.Pipelines.Tests;

public class TrainBenchmarkSmokeTests
{
    [Fact]
    public void Quick_benchmark_reports_throughput_for_every_configuration_and_ratios_to_sft()
    {
        var log = new StringWriter();
        var figures = TrainBenchmark.Run(quick: true, log);
        var names = figures.Metrics.Select(m => m.Key).ToList();
        Assert.Equal(new[]
        {
            "sft_tokens_per_s", "iwsft_precomputed_tokens_per_s", "iwsft_live_reference_tokens_per_s", "iwsft_ema_q_tokens_per_s",
            "iwsft_precomputed_step_time_ratio_vs_sft", "iwsft_live_reference_step_time_ratio_vs_sft", "iwsft_ema_q_step_time_ratio_vs_sft",
        }, names);
        Assert.All(figures.Metrics, m => Assert.True(double.IsFinite(m.Value) && m.Value > 0, $"{m.Key} = {m.Value}"));
        Assert.Contains("tokens/s", log.ToString());
    }
}
