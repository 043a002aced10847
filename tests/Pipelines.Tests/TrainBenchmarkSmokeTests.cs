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

public class EvalBenchmarkSmokeTests
{
    [Fact]
    public async Task Quick_eval_benchmark_compares_batch_sizes_and_serving_on_identical_samples()
    {
        var work = Directory.CreateTempSubdirectory("iwsft-bench-eval-").FullName;
        try
        {
            var log = new StringWriter();
            // The bench throws when any configuration's samples differ from one request at a time.
            var report = await EvalBench.RunAsync(new BenchContext(true, log, work, default));
            var metrics = report.Metrics.ToDictionary(m => m.Key, m => m.Value);
            foreach (var name in new[] { "one_at_a_time_tokens_per_s", "batched8_tokens_per_s", "batched32_tokens_per_s", "served_tokens_per_s",
                                         "batched8_speedup", "batched32_speedup", "served_vs_batched32" })
                Assert.True(metrics.TryGetValue(name, out var v) && double.IsFinite(v) && v > 0, $"{name} = {(metrics.TryGetValue(name, out var x) ? x : double.NaN)}");
            Assert.Equal(32, metrics["requests"]);
            Assert.Contains("identical samples", log.ToString());
        }
        finally { Directory.Delete(work, recursive: true); }
    }
}
