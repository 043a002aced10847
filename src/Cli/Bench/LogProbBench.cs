using System.Diagnostics;
using IwSft.Gpu.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Cli.Bench;

/// <summary>
/// `bench logprobs`: what the chunked, vocabulary-sharded log-probs (<see cref="ChunkedLogProbs"/>) save against
/// <see cref="TokenLogProbs.OfTargets"/> of the full logits, on the CPU, for one forward + backward of a model whose
/// vocabulary dominates (so the [T, V] logits are the largest tensors); and what gradient checkpointing saves (single
/// device and two tensor-parallel shards) on a deeper model whose layers dominate. Memory is the process's peak resident-set
/// growth during the step (the kernel's high-water mark, reset before each variant through /proc/self/clear_refs);
/// the figures that carry between machines are the ratios to the plain path measured in the same run.
/// </summary>
public static class LogProbBench
{
    public static Task<BenchReport> RunAsync(BenchContext context)
    {
        int vocab = context.Quick ? 32768 : 65536, tokens = context.Quick ? 1024 : 2048, chunk = 256;
        var config = new TransformerConfig
        {
            ModelType = "qwen2", VocabSize = vocab, HiddenSize = 128, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 256, TieWordEmbeddings = false, AttentionBias = true, MaxPositionEmbeddings = tokens,
        };
        using var model = Checkpoint.CreateRandom(config, seed: 0);
        using var sharded = Checkpoint.CreateRandom(config, seed: 0);
        TensorParallel.Apply(sharded, ["cpu", "cpu"]);
        using var gen = new Generator(1, CPU);
        using var ids = randint(0, vocab, new long[] { 1, tokens }, generator: gen);
        context.Log.WriteLine($"logprobs bench: CPU, {torch.get_num_threads()} torch threads; V {vocab}, T {tokens}, chunk {chunk}; " +
                              $"full fp32 logits {4.0 * tokens * vocab / (1 << 20):F0} MiB");

        // Gradient checkpointing: a deeper model with a small vocabulary, so the layers' activations dominate.
        var deep = config with { VocabSize = 512, NumHiddenLayers = 8, HiddenSize = 256, IntermediateSize = 1024 };
        using var layered = Checkpoint.CreateRandom(deep, seed: 0);
        using var recomputed = Checkpoint.CreateRandom(deep, seed: 0, new ModelOptions(GradientCheckpointing: true));
        using var recomputedShards = Checkpoint.CreateRandom(deep, seed: 0, new ModelOptions(GradientCheckpointing: true));
        TensorParallel.Apply(recomputedShards, ["cpu", "cpu"]);
        using var deepIds = randint(0, deep.VocabSize, new long[] { 1, tokens }, generator: gen);

        var names = new[] { "plain", "chunked", "tp2_chunked", "layers_plain", "layers_checkpointed", "tp2_layers_checkpointed" };
        var variants = new (Func<Tensor> LogProbs, nn.Module Model)[]
        {
            (() => TokenLogProbs.OfTargets(model.Forward(ids), ids), model),
            (() => model.TargetLogProbs(ids, null, chunk), model),
            (() => sharded.TargetLogProbs(ids, null, chunk), sharded),
            (() => layered.TargetLogProbs(deepIds, null, chunk), layered),
            (() => recomputed.TargetLogProbs(deepIds, null, chunk), recomputed),
            (() => recomputedShards.TargetLogProbs(deepIds, null, chunk), recomputedShards),
        };
        foreach (var (f, m) in variants) Step(f, m); // warm-up: first use of each shape is slow
        // Best of three, the variants interleaved so load drift hits them alike.
        var best = variants.Select(_ => new Measurement(long.MaxValue, double.MaxValue)).ToArray();
        for (int rep = 0; rep < 3; rep++)
            for (int v = 0; v < variants.Length; v++)
            {
                var m = Step(variants[v].LogProbs, variants[v].Model);
                best[v] = new Measurement(Math.Min(best[v].PeakBytes, m.PeakBytes), Math.Min(best[v].Seconds, m.Seconds));
            }
        var (plain, chunked, shards) = (best[0], best[1], best[2]);
        var report = new BenchReport();
        foreach (var (name, m) in names.Zip(best))
        {
            context.Log.WriteLine($"{name,-24} peak RSS growth {m.PeakBytes / (double)(1 << 20),8:F0} MiB  step {m.Seconds * 1000,8:F0} ms");
            report.Add($"{name}_peak_rss_growth_mib", m.PeakBytes / (double)(1 << 20)).Add($"{name}_step_ms", m.Seconds * 1000);
        }
        report.Add("chunked_peak_memory_ratio_vs_plain", chunked.PeakBytes / (double)plain.PeakBytes)
              .Add("tp2_chunked_peak_memory_ratio_vs_plain", shards.PeakBytes / (double)plain.PeakBytes)
              .Add("chunked_step_time_ratio_vs_plain", chunked.Seconds / plain.Seconds)
              .Add("tp2_chunked_step_time_ratio_vs_plain", shards.Seconds / plain.Seconds)
              .Add("checkpointed_peak_memory_ratio_vs_plain_layers", best[4].PeakBytes / (double)best[3].PeakBytes)
              .Add("tp2_checkpointed_peak_memory_ratio_vs_plain_layers", best[5].PeakBytes / (double)best[3].PeakBytes)
              .Add("checkpointed_step_time_ratio_vs_plain_layers", best[4].Seconds / best[3].Seconds);
        report.Notes.Add($"one forward + backward of -sum(log p), T {tokens}, chunk {chunk} positions: log-prob rows on a 2-layer model with V {vocab}; " +
                         "layers rows on an 8-layer, hidden-256 model with V 512, with and without gradient checkpointing; " +
                         "tp2 = two vocabulary/attention/MLP shards on the CPU; peak = VmHWM − VmRSS before the step (Linux)");
        return Task.FromResult(report);
    }

    sealed record Measurement(long PeakBytes, double Seconds);

    /// <summary>Peak resident growth and wall time of one forward + backward (gradients zeroed first).</summary>
    static Measurement Step(Func<Tensor> logProbs, nn.Module model)
    {
        model.zero_grad();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        MallocTrim(0);                                    // hand freed heap pages back, so reuse does not hide growth
        File.WriteAllText("/proc/self/clear_refs", "5"); // resets VmHWM to the current RSS
        long before = StatusKib("VmRSS");
        var sw = Stopwatch.StartNew();
        using (NewDisposeScope()) (-logProbs().sum()).backward();
        double seconds = sw.Elapsed.TotalSeconds;
        return new Measurement((StatusKib("VmHWM") - before) * 1024, seconds);
    }

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "malloc_trim")]
    static extern int MallocTrim(nuint pad);

    static long StatusKib(string field)
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":"));
        return long.Parse(line.Split(':', 2)[1].Trim().Split(' ')[0]);
    }
}
