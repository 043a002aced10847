using static TorchSharp.torch;

namespace IwSft.Gpu.Training;

/// <summary>
/// The importance weights of iw-SFT (Qin &amp; Springenberg 2025), exactly as the authors' code
/// computes them. Every constant is a parameter; defaults are the authors' call-site values.
/// All inputs are detached by the caller's contract: weights never carry gradient.
/// </summary>
public static class ImportanceWeights
{
    /// <summary>
    /// LLM, sequence level: diff_b = mean over completion tokens of (log q − log π_ref),
    /// w_b = clamp(exp(temperature · diff_b), minWeight, maxWeight). Authors: temperature 1.0
    /// (their loss's own default is 2.0), clip [0, 16]. Shapes: logp/refLogp/mask [B, T] → w [B].
    /// A sequence with no completion tokens gets diff 0 (w = 1); it contributes no loss anyway.
    /// </summary>
    public static Tensor Sequence(Tensor policyLogp, Tensor refLogp, Tensor mask,
                                  double temperature = 1.0, double minWeight = 0.0, double maxWeight = 16.0)
    {
        using var scope = NewDisposeScope();
        var keep = mask.to(ScalarType.Bool);
        var count = keep.to(ScalarType.Float32).sum(1).clamp_min(1.0);
        // where(), not a multiply: padded positions may hold -inf/NaN (e.g. absent reference log-probs).
        var delta = (policyLogp.detach() - refLogp.detach()).to(ScalarType.Float32);
        var diff = where(keep, delta, zeros_like(delta)).sum(1) / count;
        var w = (diff * temperature).exp().clamp(minWeight, maxWeight);
        return w.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// LLM, token level: w_t = clamp(exp(log q_t − log π_ref,t), 1 − ε, 1 + ε), zero where masked.
    /// Authors: ε = 0.8, i.e. [0.2, 1.8]. Shapes [B, T] → [B, T].
    /// </summary>
    public static Tensor Token(Tensor policyLogp, Tensor refLogp, Tensor mask, double epsilon = 0.8)
    {
        using var scope = NewDisposeScope();
        if (epsilon is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(epsilon), "epsilon must be in [0, 1]");
        var keep = mask.to(ScalarType.Bool);
        var w = (policyLogp.detach() - refLogp.detach()).to(ScalarType.Float32).exp().clamp(1.0 - epsilon, 1.0 + epsilon);
        return where(keep, w, zeros_like(w)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Control (trajectory level): diff_b = temperature · (log q(τ_b) − log π_ref(τ_b)) / len(τ_b),
    /// w_b = clamp(exp(diff_b), 0, maxWeight), then optionally normalised over the batch (w / Σw).
    /// Authors: q = EMA of the policy (decay 0.9), temperature 10, clip 1000, normalised.
    /// Shapes: summed log-probs [B], lengths [B] → [B].
    /// </summary>
    public static Tensor Trajectory(Tensor qLogpSum, Tensor refLogpSum, Tensor lengths,
                                    double temperature = 10.0, double maxWeight = 1000.0, bool normaliseOverBatch = true)
    {
        using var scope = NewDisposeScope();
        var diff = temperature * (qLogpSum.detach() - refLogpSum.detach()) / lengths.to(ScalarType.Float32);
        var w = diff.exp().clamp(0.0, maxWeight);
        if (normaliseOverBatch) w = w / w.sum();
        return w.MoveToOuterDisposeScope();
    }
}

/// <summary>Summary of one step's weights, logged every step.</summary>
public readonly record struct WeightStats(double Mean, double Min, double Max, double EffectiveSampleSize, int Count)
{
    /// <summary>Statistics over the entries where <paramref name="mask"/> is non-zero (all when null).
    /// ESS = (Σw)² / Σw², the Kish effective sample size.</summary>
    public static WeightStats Of(Tensor weights, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        var w = weights.detach().to(ScalarType.Float64).flatten();
        if (mask is not null) w = w.masked_select(mask.flatten().to(ScalarType.Bool));
        int n = (int)w.numel();
        if (n == 0) return new WeightStats(double.NaN, double.NaN, double.NaN, 0, 0);
        double sum = w.sum().item<double>(), sumSq = (w * w).sum().item<double>();
        return new WeightStats(sum / n, w.min().item<double>(), w.max().item<double>(),
                               sumSq > 0 ? sum * sum / sumSq : 0, n);
    }
}
