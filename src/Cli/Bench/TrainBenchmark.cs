using IwSft.Core;
using System.Diagnostics;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;

using IwSft.Stages.Training;

namespace IwSft.Cli.Bench;

/// <summary>
/// `iwsft bench train`: tokens/s of one optimiser step on the ~10M-parameter Qwen2-shaped model for SFT
/// and iw-SFT (precomputed reference log-probs, live reference model, EMA q), and iw-SFT's cost as a
/// ratio to SFT measured in the same run. Steps of the configurations are interleaved and the median
/// taken, so drift in machine load hits all of them alike.
/// </summary>
public static class TrainBenchmark
{
    public sealed record Figures(List<KeyValuePair<string, double>> Metrics, List<string> Notes);

    /// <param name="batch">Sequences per global batch (default 4; quick 2).</param>
    /// <param name="repeats">Timed steps per configuration (default 5; quick 2).</param>
    public static Figures Run(bool quick, TextWriter log, CancellationToken cancellationToken = default, int? batch = null, int? repeats = null)
    {
        int length = quick ? 64 : 256, prompt = quick ? 8 : 32;
        int batchSize = batch ?? (quick ? 2 : 4), timedSteps = repeats ?? (quick ? 2 : 5);
        return Run(quick ? "tiny" : "10m", batchSize, length, prompt, timedSteps, log, cancellationToken);
    }

    static Figures Run(string preset, int batch, int length, int prompt, int repeats, TextWriter log, CancellationToken cancellationToken)
    {
        var modelConfig = TransformerConfig.Preset(preset);
        log.WriteLine($"model preset {preset}: global batch {batch} × {length} tokens ({length - prompt} loss tokens each), {repeats} timed steps per configuration");

        var random = new DeterministicRandom(17);
        var sequences = Enumerable.Range(0, batch).Select(i =>
            Enumerable.Range(0, length).Select(_ => random.NextInt(modelConfig.VocabSize)).ToArray()).ToArray();
        using var reference = Checkpoint.CreateRandom(modelConfig, seed: 1);
        var refLogp = CompletionScorer.Score(reference, sequences.Select(s => (s[..prompt], s[prompt..])).ToList(), batch);
        var data = sequences.Select((s, i) => new TrainingExample($"b{i}", s, prompt, refLogp[i])).ToList();

        TrainerConfig Config(LossKind loss, ProposalPolicy q = ProposalPolicy.Current, ReferenceSource r = ReferenceSource.Precomputed) => new()
        {
            Loss = loss, Proposal = q, Reference = r, GlobalBatchSize = batch, MicroBatchSize = batch, MaxSteps = repeats + 1,
            MaxSequenceLength = length, Seed = 5,
        };
        var runs = new List<(string Name, Trainer Trainer, IDisposable[] Models)>();
        Transformer Fresh() => Checkpoint.CreateRandom(modelConfig, seed: 1);
        void Add(string name, TrainerConfig config, bool ema = false, bool live = false)
        {
            var policy = Fresh();
            var emaModel = ema ? Fresh() : null;
            var liveModel = live ? Fresh() : null;
            var trainer = new Trainer(policy, data, config, new AuxiliaryModels(emaModel, liveModel));
            runs.Add((name, trainer, new IDisposable?[] { policy, emaModel, liveModel }.OfType<IDisposable>().ToArray()));
        }
        try
        {
            Add("sft", Config(LossKind.Sft));
            Add("iwsft_precomputed", Config(LossKind.IwSftSequence));
            Add("iwsft_live_reference", Config(LossKind.IwSftSequence, r: ReferenceSource.Live), live: true);
            Add("iwsft_ema_q", Config(LossKind.IwSftSequence, q: ProposalPolicy.Ema), ema: true);

            foreach (var r in runs) r.Trainer.TrainStep();   // warm-up: allocations, first-call costs
            var seconds = runs.ToDictionary(r => r.Name, _ => new List<double>());
            for (int k = 0; k < repeats; k++)
                foreach (var r in runs)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    var clock = Stopwatch.StartNew();
                    r.Trainer.TrainStep();
                    seconds[r.Name].Add(clock.Elapsed.TotalSeconds);
                    log.WriteLine($"  {r.Name} step {k + 1}/{repeats}: {clock.Elapsed.TotalMilliseconds:F0} ms");
                }

            long tokens = data.Sum(d => (long)d.InputIds.Length);
            var metrics = new List<KeyValuePair<string, double>>();
            double sft = Median(seconds["sft"]);
            foreach (var r in runs)
            {
                double s = Median(seconds[r.Name]);
                metrics.Add(new($"{r.Name}_tokens_per_s", tokens / s));
                log.WriteLine($"{r.Name,-22} {tokens / s,10:F0} tokens/s  (median step {s * 1000:F0} ms of {string.Join(", ", seconds[r.Name].Select(x => $"{x * 1000:F0}"))})");
            }
            foreach (var r in runs.Skip(1))
                metrics.Add(new($"{r.Name}_step_time_ratio_vs_sft", Median(seconds[r.Name]) / sft));
            var notes = new List<string>
            {
                $"{modelConfig.NumHiddenLayers} layers, hidden {modelConfig.HiddenSize}, vocab {modelConfig.VocabSize}; batch {batch}×{length}; CPU threads {Environment.ProcessorCount}",
                "ratio = median step time / SFT median step time, same process, interleaved steps",
                "a live reference or EMA q costs one extra forward (no backward) per step; precomputed log-probs cost a column read",
            };
            return new Figures(metrics, notes);
        }
        finally
        {
            foreach (var r in runs)
            {
                r.Trainer.Dispose();
                foreach (var m in r.Models) m.Dispose();
            }
        }
    }

    static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
