using IwSft.Core;
using IwSft.Gpu.Training;

namespace IwSft.Pipelines.Bandit;

/// <summary>Configuration of the two-armed bandit reproduction (paper §toy example).</summary>
public sealed class BanditConfig
{
    /// <summary>Reference pulls drawn per seed (uniform over the two arms); the successful ones form D+.</summary>
    public int Pulls { get; set; } = 30_000;
    public double LeftPayoff { get; set; } = 0.5;
    public double RightPayoff { get; set; } = 1.0;
    public List<ulong> Seeds { get; set; } = [1, 2, 3];
    /// <summary>Full-batch gradient descent step size on θ (SGD keeps the dynamics analysable, see docs/training.md).</summary>
    public double LearningRate { get; set; } = 1.0;
    /// <summary>iw-SFT's weight constants: the authors' LLM defaults (temperature 1, clip [0, 16]).</summary>
    public double WeightTemperature { get; set; } = 1.0;
    public double WeightClipMax { get; set; } = 16.0;
    /// <summary>The step count is derived from the mean-field dynamics: enough for iw-SFT to reach this P(right)...</summary>
    public double IwTarget { get; set; } = 0.99;
    /// <summary>...and for SFT to be this close to its fixed point D+(right) = 2/3...</summary>
    public double SftTolerance { get; set; } = 0.002;
    /// <summary>...times this margin. Set <see cref="Steps"/> to override.</summary>
    public double StepMargin { get; set; } = 1.5;
    public int? Steps { get; set; }
}

public sealed record BanditRun(string Loss, ulong Seed, int Steps, int Successes, double DataRight, double PRight, double FinalLoss);

/// <summary>
/// Two arms, π_ref uniform, left pays with probability 0.5, right always. D+ = the successful pulls
/// (in expectation 1/3 left, 2/3 right). SFT's fixed point is P(right) = D+(right) ≈ 2/3; iw-SFT with
/// q = the current policy has weights w(a) = clamp(p(a)/0.5, 0, 16) = 2·p(a), which makes the weighted
/// data ∝ D+(a)·p(a), whose only fixed points are the corners: it converges to always-right.
/// </summary>
public static class BanditExperiment
{
    public const int Left = 0, Right = 1;

    /// <summary>Successful reference pulls of one seed, as length-1 completions [prompt, arm].</summary>
    public static List<TrainingExample> SuccessfulPulls(BanditConfig config, ulong seed)
    {
        var random = DeterministicRandom.ForStream(seed, 0xBA4D17);
        var data = new List<TrainingExample>();
        float refLogp = (float)Math.Log(0.5);   // uniform reference over two arms
        for (int i = 0; i < config.Pulls; i++)
        {
            int arm = random.NextDouble() < 0.5 ? Left : Right;
            double payoff = arm == Left ? config.LeftPayoff : config.RightPayoff;
            if (random.NextDouble() < payoff)
                data.Add(new TrainingExample($"pull{i}", [0, arm], CompletionStart: 1, RefLogProbs: [refLogp]));
        }
        return data;
    }

    /// <summary>
    /// Full-batch gradient descent on the token-normalised loss moves d = θ_R − θ_L by η·g(d) per step,
    /// with p = σ(d) = P(right): SFT g = 2(D_R − p); iw-SFT g = 2(D_R·w_R·(1−p) − D_L·w_L·p), which with
    /// w = 2p (never clipped: 2p ≤ 2 &lt; 16) is 4p(1−p)(D_R − D_L) = (4/3)·p(1−p) at D_R = 2/3 — always
    /// positive, so iw-SFT only stops at p = 1. Iterating both from d = 0 gives the steps each needs.
    /// </summary>
    public static (int Sft, int IwSft) MeanFieldSteps(BanditConfig config)
    {
        double dataRight = ExpectedDataRight(config);
        int sft = 0, iw = 0;
        for (double d = 0; Math.Abs(Sigmoid(d) - dataRight) > config.SftTolerance; sft++)
        {
            if (sft > 10_000_000) throw new InvalidOperationException("SFT mean-field dynamics do not converge at this learning rate");
            d += config.LearningRate * 2 * (dataRight - Sigmoid(d));
        }
        for (double d = 0; Sigmoid(d) < config.IwTarget; iw++)
        {
            if (iw > 10_000_000) throw new InvalidOperationException("iw-SFT mean-field dynamics do not reach the target");
            double p = Sigmoid(d);
            double wRight = Math.Min(config.WeightClipMax, Math.Exp(config.WeightTemperature * Math.Log(p / 0.5)));
            double wLeft = Math.Min(config.WeightClipMax, Math.Exp(config.WeightTemperature * Math.Log((1 - p) / 0.5)));
            // g = 2·(D_R·w_R·(1−p) − D_L·w_L·p): the d-component of E_D+[w ∇ log p].
            d += config.LearningRate * 2 * (dataRight * wRight * (1 - p) - (1 - dataRight) * wLeft * p);
        }
        return (sft, iw);
    }

    public static int DerivedSteps(BanditConfig config)
    {
        if (config.Steps is { } fixedSteps) return fixedSteps;
        var (sft, iw) = MeanFieldSteps(config);
        return (int)Math.Ceiling(config.StepMargin * Math.Max(sft, iw));
    }

    /// <summary>D+(right) in expectation: 0.5·R / (0.5·L + 0.5·R).</summary>
    public static double ExpectedDataRight(BanditConfig config) => config.RightPayoff / (config.LeftPayoff + config.RightPayoff);

    static double Sigmoid(double d) => 1 / (1 + Math.Exp(-d));

    public static BanditRun Train(BanditConfig config, ulong seed, LossKind loss, int steps)
    {
        var data = SuccessfulPulls(config, seed);
        var trainerConfig = new TrainerConfig
        {
            Loss = loss,
            Proposal = ProposalPolicy.Current,
            Reference = ReferenceSource.Precomputed,
            WeightTemperature = config.WeightTemperature,
            WeightClipMax = config.WeightClipMax,
            Optimiser = OptimiserKind.Sgd,
            LearningRate = config.LearningRate,
            MinLearningRate = config.LearningRate,   // constant step size
            WarmupSteps = 0,
            MaxGradNorm = 0,
            GlobalBatchSize = data.Count,
            MicroBatchSize = data.Count,
            MaxSteps = steps,
            Seed = seed,
        };
        var policy = new SoftmaxPolicy(2);
        using var trainer = new Trainer(policy, data, trainerConfig);
        trainer.Run(null);
        double dataRight = data.Count(d => d.InputIds[1] == Right) / (double)data.Count;
        return new BanditRun(loss == LossKind.Sft ? "SFT" : "iw-SFT", seed, steps, data.Count, dataRight,
                             policy.Probabilities()[Right], trainer.History[^1].Loss);
    }
}
