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
    /// <summary>With <see cref="ControlBatching.Episodes"/> (the default, the authors'): whole episodes per batch.
    /// With <see cref="ControlBatching.Chunks"/>: transitions per batch, drawn as BatchSize / ChunkLength chunks.</summary>
    public int BatchSize { get; init; }
    public ControlBatching Batching { get; init; } = ControlBatching.Episodes;
    /// <summary>Consecutive steps per chunk; only with <see cref="ControlBatching.Chunks"/>.</summary>
    public int ChunkLength { get; init; } = 16;
    /// <summary>Linear warm-up from 0, then (if <see cref="Cosine"/>) cosine decay to 0 at the last step.</summary>
    public int WarmupSteps { get; init; }
    public bool Cosine { get; init; }

    /// <summary>BC pre-training (π_ref) and BC(10%): 10K steps, lr 1e-3, 128 episodes per batch, constant rate.</summary>
    public static ControlTrainingSettings BehaviourCloning => new() { Steps = 10_000, LearningRate = 1e-3, BatchSize = 128 };
    /// <summary>SFT, SFT(Q), iw-SFT(Q) fine-tuning of π_ref: 2K steps, lr 4e-5, 256 episodes per batch, 300 warm-up steps, cosine.</summary>
    public static ControlTrainingSettings FineTune => new() { Steps = 2_000, LearningRate = 4e-5, BatchSize = 256, WarmupSteps = 300, Cosine = true };

    /// <summary>The rate of update <paramref name="step"/> (0-based): the shared warm-up + cosine schedule
    /// (<see cref="LearningRateSchedule"/>) when <see cref="Cosine"/>, else constant after any warm-up.</summary>
    public double LearningRateAt(int step)
    {
        // Step 0 of a warm-up runs at rate 0, as the authors' WarmupCosineLR (base · last_epoch / warmup) does.
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

/// <summary>
/// One logged training step. <paramref name="WeightMax"/> and <paramref name="WeightEss"/>: the largest weight as
/// used in the loss and the Kish ESS (Σw)²/Σw²; <paramref name="MaxShare"/> = max w / Σw; with normalised weights
/// ESS = 1/Σ(w/Σw)². <paramref name="MeanLogRatio"/>: the batch mean of (log q(τ) − log π_ref(τ))/len(τ), the
/// per-step log-ratio before the temperature (NaN without importance weighting). <paramref name="Trajectories"/>: B;
/// <paramref name="Steps"/>: real (unmasked) steps in the batch.
/// </summary>
public readonly record struct TrainingStep(int Step, double Loss, double LearningRate, double WeightMax, double WeightEss,
                                           double MaxShare = double.NaN, double MeanLogRatio = double.NaN, int Trajectories = 0, int Steps = 0);

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
    /// <summary>The batch sampler of <paramref name="settings"/>: whole episodes (the authors') or chunks (the old batching).</summary>
    public static ITrajectoryBatchSampler Sampler(IReadOnlyList<Episode> episodes, ControlTrainingSettings settings, ulong seed) => settings.Batching switch
    {
        ControlBatching.Episodes => new EpisodeBatchSampler(episodes, settings.BatchSize, ControlRng.Derive((long)seed, 0xE915)),
        ControlBatching.Chunks => new TrajectoryChunkSampler(episodes, settings.ChunkLength, ControlRng.Derive((long)seed, 0xBA7C), settings.BatchSize),
        _ => throw new ArgumentOutOfRangeException(nameof(settings), $"unknown batching {settings.Batching}"),
    };

    /// <summary>
    /// Trains <paramref name="policy"/> in place with Adam, in the authors' order per update: draw the batch; with
    /// <paramref name="weighting"/>, first move q towards the policy being trained (q ← decay·q + (1 − decay)·θ),
    /// then weigh each trajectory by <see cref="ImportanceWeights.Trajectory"/> of (q, π_ref); the loss is
    /// −mean_b(w_b · log p_θ(τ_b)/len(τ_b)) with w_b = 1 without weighting (BC, BC(10%), SFT, SFT(Q)). π_ref
    /// (<paramref name="reference"/>, fixed) must be given with weighting; q starts as a copy of the initial policy.
    /// <paramref name="onCheckpoint"/> is called at step 0 and every <paramref name="checkpointEvery"/> updates.
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

        var sampler = Sampler(episodes, settings, seed);
        using var q = weighting is null ? null : policy.Clone();
        var optimiser = optim.Adam(policy.parameters(), lr: settings.LearningRate);
        var log = new List<TrainingStep>(settings.Steps);

        policy.train();
        onCheckpoint?.Invoke(0, policy);
        for (int step = 0; step < settings.Steps; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            double lr = settings.LearningRateAt(step);
            foreach (var group in optimiser.ParamGroups) group.LearningRate = lr;
            var record = Update(policy, optimiser, sampler.Next(), weighting, q, reference, step + 1, lr, disposeBatch: true).Step;
            log.Add(record);
            if (checkpointEvery > 0 && (step + 1) % checkpointEvery == 0) onCheckpoint?.Invoke(step + 1, policy);
        }
        policy.eval();
        return log;
    }

    /// <summary>
    /// One update on <paramref name="batch"/>, in the authors' order: with <paramref name="weighting"/>, first
    /// q ← decay·q + (1 − decay)·θ (θ before this update), then the weights of (q, π_ref), then the loss
    /// −mean_b(w_b · log p_θ(τ_b)/len(τ_b)), backward and the optimiser's step. Returns the logged record and the
    /// weights used (w_b = 1 without weighting). One batched MLP pass over the [B × T] rows per policy.
    /// </summary>
    public static (TrainingStep Step, float[] Weights) Update(GaussianMlpPolicy policy, optim.Optimizer optimiser, TrajectoryBatch batch,
        ImportanceWeighting? weighting, GaussianMlpPolicy? q, GaussianMlpPolicy? reference, int stepNumber, double learningRate, bool disposeBatch = false)
    {
        if (weighting is not null && (q is null || reference is null))
            throw new ArgumentException("importance weighting needs q and the reference policy π_ref");
        try
        {
            using var scope = NewDisposeScope();
            int b = (int)batch.Mask.shape[0];
            var lengths = batch.Lengths;
            int realSteps = (int)lengths.sum().item<float>();
            // Padded steps are zeroed by the mask (their inputs are zeros, so their log-densities are finite).
            var logpSum = (policy.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
            Tensor weights;
            double wMax = 1, wEss = b, share = 1.0 / b, logRatio = double.NaN;
            if (weighting is not null)
            {
                // The authors' order: q follows θ before this update's weights are computed.
                Losses.EmaUpdate(q!.parameters(), policy.parameters(), weighting.EmaDecay);
                Tensor qSum, refSum;
                using (no_grad())
                {
                    qSum = (q.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
                    refSum = (reference!.LogProb(batch.Observations, batch.Actions) * batch.Mask).sum(1);
                }
                weights = ImportanceWeights.Trajectory(qSum, refSum, lengths, weighting.Temperature, weighting.MaxWeight, weighting.NormaliseOverBatch);
                var stats = WeightStats.Of(weights);
                wMax = stats.Max; wEss = stats.EffectiveSampleSize;
                share = stats.Max / (stats.Mean * stats.Count);
                logRatio = ((qSum - refSum) / lengths).mean().item<float>();
            }
            else weights = ones(b);
            var loss = Losses.MeanWeightedTrajectoryNll(logpSum, lengths, weights);
            optimiser.zero_grad();
            loss.backward();
            optimiser.step();
            return (new TrainingStep(stepNumber, loss.item<float>(), learningRate, wMax, wEss, share, logRatio, b, realSteps),
                    weights.data<float>().ToArray());
        }
        finally
        {
            if (disposeBatch) batch.Dispose();
        }
    }
}
