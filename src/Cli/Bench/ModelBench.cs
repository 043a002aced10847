using System.Diagnostics;
using IwSft.Gpu.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Cli.Bench;

/// <summary>
/// `bench model`: forward and training-step throughput for the ~10M and ~100M presets on the CPU,
/// with achieved FLOP/s reported as a fraction of a plain fp32 matmul's FLOP/s measured in the same
/// run (so the ratio, not the absolute number, is what carries between machines).
/// FLOPs per token: 2 × (matmul parameters, lm_head included) + 2 × layers × T × hidden for
/// attention scores and values under the causal mask (T/2 keys on average, ×2 matmuls, ×2 FLOPs);
/// a training step counts 3× the forward (backward ≈ 2× forward). On a shared machine the load
/// drifts, so the matmul baseline is re-measured right before and after each timed phase and the
/// phase is compared with the mean of the two.
/// </summary>
public static class ModelBench
{
    public sealed record Result(string Name, long Parameters, int Batch, int Seq, double ForwardTokensPerSec, double ForwardFlopFraction,
                                double TrainTokensPerSec, double TrainFlopFraction, double MatmulGflops);

    /// <summary>Entry point for <c>iwsft bench model</c> (see <see cref="BenchCatalog"/>).</summary>
    public static Task<BenchReport> RunAsync(BenchContext context)
    {
        var report = new BenchReport();
        // IWSFT_BENCH_THREADS pins torch's intra-op threads (model and baseline alike): on an
        // oversubscribed machine one thread avoids OpenMP barrier stalls in the small elementwise kernels.
        int threads = int.TryParse(Environment.GetEnvironmentVariable("IWSFT_BENCH_THREADS"), out var t) ? t : 0;
        foreach (var r in Run(context.Log, context.Quick, threads))
        {
            report.Add($"{r.Name}_forward_tokens_per_s", r.ForwardTokensPerSec)
                  .Add($"{r.Name}_forward_flop_fraction_of_matmul", r.ForwardFlopFraction)
                  .Add($"{r.Name}_train_tokens_per_s", r.TrainTokensPerSec)
                  .Add($"{r.Name}_train_flop_fraction_of_matmul", r.TrainFlopFraction)
                  .Add($"{r.Name}_matmul_gflops", r.MatmulGflops);
        }
        report.Notes.Add("CPU fp32; FLOP fractions are against an fp32 [2048x768]x[768x2560] matmul re-measured around each phase in the same run");
        return Task.FromResult(report);
    }

    public static IReadOnlyList<Result> Run(TextWriter output, bool quick = false, int threads = 0)
    {
        if (threads > 0) torch.set_num_threads(threads);
        int seq = quick ? 256 : 512;
        output.WriteLine($"model bench: CPU, {torch.get_num_threads()} torch threads, {Environment.ProcessorCount} logical cores, sequence {seq}");
        var results = new List<Result>();
        foreach (var (name, batch) in new[] { ("10m", 4), ("100m", 1) })
        {
            var r = BenchModel(name, batch, seq, quick ? 1 : 3, quick ? 2 : 5);
            results.Add(r);
            output.WriteLine($"{r.Name,-5} {r.Parameters / 1e6,6:F1}M params  batch {r.Batch}×{r.Seq}  forward {r.ForwardTokensPerSec,8:F0} tok/s ({r.ForwardFlopFraction:P0} of matmul)  train step {r.TrainTokensPerSec,8:F0} tok/s ({r.TrainFlopFraction:P0} of matmul)  [matmul {r.MatmulGflops:F1} GFLOP/s]");
        }
        return results;
    }

    /// <summary>FLOP/s of an fp32 [2048x768]·[768x2560] matmul (the shape of a 100M model's MLP at 2048 tokens).</summary>
    public static double MatmulFlops(int reps)
    {
        using var _ = no_grad();
        using var a = randn(2048, 768);
        using var b = randn(768, 2560);
        using (matmul(a, b)) { } // warm-up
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) using (matmul(a, b)) { }
        return 2.0 * 2048 * 768 * 2560 * reps / sw.Elapsed.TotalSeconds;
    }

    static Result BenchModel(string preset, int batch, int seq, int reps, int matmulReps)
    {
        var config = TransformerConfig.Preset(preset);
        using var model = Checkpoint.CreateRandom(config, seed: 0);
        long parameters = model.ParameterCount();
        long matmulParams = parameters - (long)config.VocabSize * config.HiddenSize // embedding lookup is not a matmul
                            + (long)config.VocabSize * config.HiddenSize;          // ... but the (tied) lm_head is
        matmulParams -= model.named_parameters().Where(p => p.name.EndsWith("norm.weight") || p.name.EndsWith(".bias")).Sum(p => p.parameter.numel());
        double flopsPerToken = 2.0 * matmulParams + 2.0 * config.NumHiddenLayers * seq * config.HiddenSize;
        using var gen = new Generator(1, CPU);
        using var ids = randint(0, config.VocabSize, new long[] { batch, seq }, generator: gen);
        long tokens = (long)batch * seq;

        double forward, forwardBase;
        using (no_grad())
        {
            model.eval();
            using (model.Forward(ids)) { }
            double before = MatmulFlops(matmulReps);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < reps; i++) using (model.Forward(ids)) { }
            forward = tokens * reps / sw.Elapsed.TotalSeconds;
            forwardBase = (before + MatmulFlops(matmulReps)) / 2;
        }

        model.train();
        using var opt = optim.AdamW(model.parameters(), lr: 1e-4);
        void Step()
        {
            using var scope = NewDisposeScope();
            opt.zero_grad();
            var logp = TokenLogProbs.OfTargets(model.Forward(ids), ids);
            (-logp.mean()).backward();
            opt.step();
        }
        Step();
        double trainBefore = MatmulFlops(matmulReps);
        var sw2 = Stopwatch.StartNew();
        for (int i = 0; i < reps; i++) Step();
        double train = tokens * reps / sw2.Elapsed.TotalSeconds;
        double trainBase = (trainBefore + MatmulFlops(matmulReps)) / 2;
        return new Result(preset, parameters, batch, seq, forward, forward * flopsPerToken / forwardBase, train, train * 3 * flopsPerToken / trainBase,
                          (forwardBase + trainBase) / 2e9);
    }
}
