using static TorchSharp.torch;

namespace IwSft.Gpu.Training;

/// <summary>
/// The loss family. SFT, SFT(Q) and iw-SFT all reduce to a weighted negative log-likelihood:
/// SFT weighs every completion token 1, iw-SFT weighs them by <see cref="ImportanceWeights"/>,
/// SFT(Q) changes which examples are drawn (see the samplers), not the loss.
/// </summary>
public static class Losses
{
    /// <summary>
    /// Σ_{b,t} w_{b,t} · mask_{b,t} · (−log p_{b,t}) / <paramref name="normaliser"/>. The authors divide by
    /// num_items_in_batch: the number of loss tokens in the global batch (so gradient accumulation
    /// over micro-batches sums to the same loss as one big batch). <paramref name="weights"/> may be
    /// null (SFT), [B] (sequence level, broadcast over tokens) or [B, T] (token level).
    /// </summary>
    public static Tensor WeightedTokenNll(Tensor logp, Tensor mask, Tensor? weights, double normaliser)
    {
        if (normaliser <= 0) throw new ArgumentOutOfRangeException(nameof(normaliser), "number of loss tokens must be positive");
        var nll = -logp;
        if (weights is not null)
        {
            var w = weights.detach().to(logp.dtype);
            nll = w.dim() == 1 ? nll * w.unsqueeze(1) : nll * w;
        }
        // where(), not a multiply by the mask: a masked position may hold -inf or NaN, and 0 · inf is NaN.
        nll = where(mask.to(ScalarType.Bool), nll, zeros_like(nll));
        return nll.sum() / normaliser;
    }

    /// <summary>
    /// Control: −Σ_b w_b · log p(τ_b) / len(τ_b). With batch-normalised weights this is a weighted
    /// mean; plain BC/SFT uses w_b = 1/B.
    /// </summary>
    public static Tensor WeightedTrajectoryNll(Tensor logpSum, Tensor lengths, Tensor weights) =>
        -(weights.detach().to(logpSum.dtype) * logpSum / lengths.to(logpSum.dtype)).sum();

    /// <summary>
    /// Control, as the authors' code: −mean_b(w_b · log p(τ_b) / len(τ_b)). BC and SFT pass w_b = 1 (the mean
    /// per-episode average log-likelihood); iw-SFT passes its batch-normalised weights w/Σw.
    /// </summary>
    public static Tensor MeanWeightedTrajectoryNll(Tensor logpSum, Tensor lengths, Tensor weights) =>
        -(weights.detach().to(logpSum.dtype) * logpSum / lengths.to(logpSum.dtype)).mean();

    /// <summary>EMA update of q's parameters: q ← decay · q + (1 − decay) · θ, in place, no gradient.</summary>
    public static void EmaUpdate(IEnumerable<TorchSharp.Modules.Parameter> emaParams, IEnumerable<TorchSharp.Modules.Parameter> policyParams, double decay)
    {
        if (decay is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(decay), "decay must be in [0, 1]");
        using var _ = no_grad();
        foreach (var (q, p) in emaParams.Zip(policyParams, (q, p) => (q, p)))
        {
            if (!q.shape.SequenceEqual(p.shape)) throw new ArgumentException("EMA and policy parameters differ in shape");
            q.mul_(decay).add_(p, alpha: 1 - decay);
        }
    }
}
