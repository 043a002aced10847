using IwSft.Control.Environments;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using static TorchSharp.torch;

namespace IwSft.Gpu.Control;

/// <summary>Optimisation settings of one training run (BC pre-training or a fine-tune).</summary>
public sealed record ControlTrainingSettings
{
    public int Steps { get; init; }
    public double LearningRate { get; init; }
    /// <summary>Transitions per batch (drawn as BatchSize / ChunkLength trajectory chunks).</summary>
    public int BatchSize { get; init; }
    public int ChunkLength { get; init; } = 16;
    /// <summary>Linear warm-up from 0, then (if <see cref="Cosine"/>) cosine decay to 0 at the last step.</summary>
    public int WarmupSteps { get; init; }
    public bool Cosine { get; init; }

    /// <summary>BC pre-training (π_ref) and BC(10%): 10K steps, lr 1e-3, batch 128, constant rate.</summary>
    public static ControlTrainingSettings BehaviourCloning => new() { Steps = 10_000, LearningRate = 1e-3, BatchSize = 128 };
    /// <summary>SFT, SFT(Q), iw-SFT(Q) fine-tuning of π_ref: 2K steps, lr 4e-5, batch 256, 300 warm-up steps, cosine.</summary>
    public static ControlTrainingSettings FineTune => new() { Steps = 2_000, LearningRate = 4e-5, BatchSize = 256, WarmupSteps = 300, Cosine = true };

    /// <summary>The rate of update <paramref name="step"/> (0-based): the shared warm-up + cosine schedule
    /// (<see cref="LearningRateSchedule"/>) when <see cref="Cosine"/>, else constant after any warm-up.</summary>
    public double LearningRateAt(int step)
    {
        if (Cosine) return new LearningRateSchedule(LearningRate, Steps, WarmupSteps: WarmupSteps).At(step);
        return WarmupSteps > 0 && step < WarmupSteps ? LearningRate * step / WarmupSteps : LearningRate;
    }
}

/// <summary>iw-SFT(Q)'s importance weighting: q = EMA of the policy; weights per trajectory chunk.</summary>
public sealed record ImportanceWeighting
{
    public double EmaDecay { get; init; } = 0.9;
    public double Temperature { get; init; } = 10.0;
    public double MaxWeight { get; init; } = 1000.0;
    public bool NormaliseOverBatch { get; init; } = true;
}

/// <summary>One logged training step.</summary>
public readonly record struct TrainingStep(int Step, double Loss, double LearningRate, double WeightMax, double WeightEss);

/// <summary>A learning-curve point: mean normalised score of the policy after <paramref name="Step"/> updates.</summary>
public readonly record struct CurvePoint(int Step, double NormalisedScore);

/// <summary>
/// The training loop shared by BC, SFT, SFT(Q) and iw-SFT(Q): they differ only in the episodes sampled
/// (all, top 10%, percentile-stratified), the starting point (scratch or π_ref) and the chunk weights
/// (uniform 1/B, or <see cref="ImportanceWeights.Trajectory"/>); the loss is always
/// <see cref="Losses.WeightedTrajectoryNll"/>, the same code as the language path.
/// </summary>
public static class ControlTrainer
{
    /// <summary>
    /// Trains <paramref name="policy"/> in place with Adam. With <paramref name="weighting"/>, the reference
    /// policy π_ref must be given (the data-generating policy's stand-in: the BC policy); q starts as a copy of
    /// the initial policy and follows it by EMA after every update. <paramref name="onCheckpoint"/> is called at
    /// step 0 and every <paramref name="checkpointEvery"/> updates (for learning curves).
    /// </summary>
    public static List<TrainingStep> Train(
        GaussianMlpPolicy policy,
        IReadOnlyList<Episode> episodes,
        ControlTrainingSettings settings,
        ulong seed,
        ImportanceWeighting? weighting = null,
        GaussianMlpPolicy? reference = null,
        int checkpointEvery = 0,
        Action<int, GaussianMlpPolicy>? onCheckpoint = null,
        CancellationToken cancellationToken = default)
    {
        if (settings.Steps < 0 || settings.BatchSize < 1 || settings.LearningRate <= 0)
            throw new ArgumentException($"invalid training settings: {settings}");
        if (weighting is not null && reference is null)
            throw new ArgumentException("importance weighting needs the reference policy π_ref", nameof(reference));

        var sampler = new TrajectoryChunkSampler(episodes, settings.ChunkLength, ControlRng.Derive((long)seed, 0xBA7C));
        int chunks = sampler.ChunksFor(settings.BatchSize);
        using var q = weighting is null ? null : policy.Clone();
        var optimiser = optim.Adam(policy.parameters(), lr: settings.LearningRate);
        var log = new List<TrainingStep>(settings.Steps);
        var uniform = full(chunks, 1.0f / chunks);

        policy.train();
        onCheckpoint?.Invoke(0, policy);
        for (int step = 0; step < settings.Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double lr = settings.LearningRateAt(step);
            foreach (var group in optimiser.ParamGroups) group.LearningRate = lr;
            double loss, wMax = 1.0 / chunks, wEss = chunks;
            using (var scope = NewDisposeScope())
            {
                using var batch = sampler.Next(chunks);
                var lengths = batch.Lengths;
                var logpSum = (policy.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
                Tensor weights = uniform;
                if (weighting is not null)
                {
                    Tensor qSum, refSum;
                    using (no_grad())
                    {
                        qSum = (q!.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
                        refSum = (reference!.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
                    }
                    weights = ImportanceWeights.Trajectory(qSum, refSum, lengths, weighting.Temperature, weighting.MaxWeight, weighting.NormaliseOverBatch);
                    var stats = WeightStats.Of(weights);
                    wMax = stats.Max; wEss = stats.EffectiveSampleSize;
                }
                var lossTensor = Losses.WeightedTrajectoryNll(logpSum, lengths, weights);
                optimiser.zero_grad();
                lossTensor.backward();
                optimiser.step();
                loss = lossTensor.item<float>();
            }
            if (weighting is not null) Losses.EmaUpdate(q!.parameters(), policy.parameters(), weighting.EmaDecay);
            log.Add(new TrainingStep(step + 1, loss, lr, wMax, wEss));
            if (checkpointEvery > 0 && (step + 1) % checkpointEvery == 0) onCheckpoint?.Invoke(step + 1, policy);
        }
        uniform.Dispose();
        policy.eval();
        return log;
    }
}
