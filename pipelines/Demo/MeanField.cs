namespace IwSft.Pipelines.Demo;

/// <summary>
/// The bandit's reasoning applied to the demo, computed before any fine-tuning: the reference policy is a two-armed
/// mixture (careful / shortcut, chosen by the first completion token), D+ keeps each arm in proportion to
/// share × accuracy, and each fine-tuning method moves the arm probability α to the stationary point of its weighted
/// likelihood on D+. Mean field: every problem has the same α; the within-arm answer distributions stay π_ref's
/// (the shortcut cannot compute the answer, so fine-tuning cannot make it more accurate on new problems).
///
/// <para>Gradient of the arm token's weighted log-likelihood with respect to the arm logit z (α = σ(z)):
/// g(α) = s⁺·w_c(α)·(1 − α) − (1 − s⁺)·w_s(α)·α, where s⁺ is the careful share of D+ and w the method's weight on
/// that arm's sequences. SFT: w = 1, so α → s⁺ (π_ref conditioned on success). iw-SFT with the exact sequence ratio
/// (the bandit): w = α/α_ref resp. (1 − α)/(1 − α_ref), and α runs away to 1 when careful is the more reliable arm.
/// The authors' LLM weights are weaker: sequence level w = clamp(exp(T · mean token log-ratio), 0, 16) spreads the
/// arm token's log-ratio over the L tokens of the completion (exponent T/L); token level
/// w_t = clamp(exp(log-ratio_t), 1 − ε, 1 + ε) weights the arm token by its own clipped ratio, so it can multiply
/// the odds of D+ by at most (1 + ε)/(1 − ε).</para>
///
/// <para>Greedy decoding takes the likelier arm: predicted greedy careful share = 1 if α &gt; ½ (0 if below, ½ on a
/// tie) and greedy accuracy the chosen arm's accuracy. Deterministic: the flow z ← z + η·g from α_ref, fixed step
/// and iteration count.</para>
/// </summary>
public sealed record MeanField(double CarefulShare, double CarefulAccuracy, double ShortcutAccuracy,
    double CarefulLength, double ShortcutLength, double SequenceTemperature = 1.0, double SequenceClipMax = 16.0, double TokenClipEpsilon = 0.8)
{
    public const int FlowSteps = 20_000;
    public const double FlowRate = 0.05;

    /// <summary>The mixture as designed, a reference that reproduces it exactly (careful always right).</summary>
    public static MeanField FromDesign(BehaviourMixture mixture, double carefulLength, double shortcutLength) =>
        new(mixture.CarefulWeight, 1.0, mixture.ShortcutCorrectProbability, carefulLength, shortcutLength);

    /// <summary>Careful share of D+: α_ref·a_c / (α_ref·a_c + (1 − α_ref)·a_s).</summary>
    public double CuratedCarefulShare
    {
        get
        {
            double c = CarefulShare * CarefulAccuracy, s = (1 - CarefulShare) * ShortcutAccuracy;
            return c + s == 0 ? double.NaN : c / (c + s);
        }
    }

    /// <summary>Share of D+ that is an unreliable arm's lucky success (1 − s⁺).</summary>
    public double CuratedShortcutShare => 1 - CuratedCarefulShare;

    public Prediction Sft => Predict("sft", _ => (1.0, 1.0));
    public Prediction IwSftExactRatio => Predict("iw_sft_exact", a => (a / CarefulShare, (1 - a) / (1 - CarefulShare)));

    public Prediction IwSftSequence => Predict("iw_sft", a => (
        Math.Clamp(Math.Exp(SequenceTemperature / CarefulLength * Math.Log(a / CarefulShare)), 0, SequenceClipMax),
        Math.Clamp(Math.Exp(SequenceTemperature / ShortcutLength * Math.Log((1 - a) / (1 - CarefulShare))), 0, SequenceClipMax)));

    public Prediction IwSftToken => Predict("iw_sft_token", a => (
        Math.Clamp(a / CarefulShare, 1 - TokenClipEpsilon, 1 + TokenClipEpsilon),
        Math.Clamp((1 - a) / (1 - CarefulShare), 1 - TokenClipEpsilon, 1 + TokenClipEpsilon)));

    public IReadOnlyList<Prediction> Methods => [Sft, IwSftSequence, IwSftToken];

    Prediction Predict(string method, Func<double, (double Careful, double Shortcut)> weights)
    {
        if (CarefulShare is <= 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(CarefulShare), CarefulShare, "must be in (0, 1)");
        double s = CuratedCarefulShare, z = Math.Log(CarefulShare / (1 - CarefulShare));
        for (int i = 0; i < FlowSteps; i++)
        {
            double a = 1 / (1 + Math.Exp(-z));
            var (wc, ws) = weights(a);
            z += FlowRate * (s * wc * (1 - a) - (1 - s) * ws * a);
            z = Math.Clamp(z, -30, 30);
        }
        double alpha = 1 / (1 + Math.Exp(-z));
        double greedyCareful = alpha > 0.5 ? 1 : alpha < 0.5 ? 0 : 0.5;
        return new Prediction(method, alpha, alpha * CarefulAccuracy + (1 - alpha) * ShortcutAccuracy, greedyCareful,
            greedyCareful * CarefulAccuracy + (1 - greedyCareful) * ShortcutAccuracy);
    }

    /// <summary>One method's predicted stationary point: arm probability α (sampled careful share), sampled accuracy,
    /// greedy careful share and greedy accuracy (per-arm accuracies taken as the sampled ones).</summary>
    public sealed record Prediction(string Method, double CarefulProbability, double SampledAccuracy, double GreedyCarefulShare, double GreedyAccuracy);
}
