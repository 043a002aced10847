using IwSft.Pipelines.Demo;
using IwSft.Pipelines.Demo.Stages;

namespace IwSft.Pipelines.Tests;

/// <summary>The demo's mean-field prediction (pipelines/Demo/MeanField.cs) on hand-checked numbers.</summary>
public sealed class DemoMeanFieldTests
{
    static MeanField Design(double careful, double shortcut) => MeanField.FromDesign(new BehaviourMixture(careful, shortcut), 38, 11);

    [Fact]
    public void SFT_converges_to_the_reference_conditioned_on_success()
    {
        // D+ careful share = 0.5·1 / (0.5·1 + 0.5·0.3) = 10/13.
        var mf = Design(0.5, 0.3);
        Assert.Equal(10.0 / 13, mf.CuratedCarefulShare, 12);
        Assert.Equal(10.0 / 13, mf.Sft.CarefulProbability, 9);
        Assert.Equal(1.0, mf.Sft.GreedyCarefulShare);
        Assert.Equal(1.0, mf.Sft.GreedyAccuracy, 12);
        // 0.1 careful, 0.5 shortcut: D+ = 0.1 / (0.1 + 0.45) = 2/11 careful, so greedy SFT answers with the shortcut.
        var low = Design(0.1, 0.5);
        Assert.Equal(2.0 / 11, low.Sft.CarefulProbability, 9);
        Assert.Equal(0.0, low.Sft.GreedyCarefulShare);
        Assert.Equal(0.5, low.Sft.GreedyAccuracy, 12);
    }

    [Fact]
    public void Token_level_weights_multiply_the_odds_by_at_most_nine()
    {
        // 0.5/0.3: the ratio grows until both arms clip (α > 0.9): 1.8·s(1−α) = 0.2·(1−s)·α, odds = 9 · 10/3 = 30.
        Assert.Equal(30.0 / 31, Design(0.5, 0.3).IwSftToken.CarefulProbability, 9);
        // 0.1/0.5: only the careful arm clips (α/0.1 ≥ 1.8): 1.8·s = (1−s)·α/0.9, α = 1.62 · (2/11)/(9/11) = 0.36, still below ½.
        var low = Design(0.1, 0.5).IwSftToken;
        Assert.Equal(0.36, low.CarefulProbability, 9);
        Assert.Equal(0.0, low.GreedyCarefulShare);
    }

    [Fact]
    public void Few_careful_demonstrations_as_designed_predict_no_greedy_gap()
    {
        // A reference that reproduced a 0.1/0.7 mixture exactly: D+ = 0.1 / (0.1 + 0.63) = 10/73 careful; token level
        // clips the careful arm only: α = 1.62 · (10/73)/(63/73) = 9/35. Every method stays on the shortcut under greedy
        // decoding. (The trained reference's own shares are what the report's prediction uses; docs/demo.md.)
        var mf = Design(0.1, 0.7);
        Assert.Equal(10.0 / 73, mf.Sft.CarefulProbability, 9);
        Assert.Equal(9.0 / 35, mf.IwSftToken.CarefulProbability, 9);
        Assert.InRange(mf.IwSftSequence.CarefulProbability, 10.0 / 73, 0.14);
        Assert.All(mf.Methods, p => Assert.Equal(0.0, p.GreedyCarefulShare));
        // 0.25/0.9: D+ = 0.25/0.925 = 10/37 careful; token level: both arms unclipped until α = 0.45, then
        // α = 1.8 · 0.75 · (10/37)/(27/37) = 1/2 exactly, the greedy threshold.
        var d = Design(0.25, 0.9);
        Assert.Equal(10.0 / 37, d.Sft.CarefulProbability, 9);
        Assert.Equal(0.5, d.IwSftToken.CarefulProbability, 9);
    }

    [Fact]
    public void The_default_regime_predicts_that_token_level_crosses_the_greedy_threshold_and_SFT_does_not()
    {
        // The default demo's reference as measured on its held-out samples (docs/demo.md): α_ref = 128/2308, careful
        // right 111/128, shortcut right 138/2180. D+ = 111 careful of 249: s⁺ = 111/249 < ½, so SFT stays on the shortcut.
        var mf = new MeanField(128.0 / 2308, 111.0 / 128, 138.0 / 2180, 35.7, 10.7);
        double s = 111.0 / 249;
        Assert.Equal(s, mf.CuratedCarefulShare, 12);
        Assert.Equal(s, mf.Sft.CarefulProbability, 9);
        Assert.Equal(0.0, mf.Sft.GreedyCarefulShare);
        // Token level: both clips bind (α/α_ref ≥ 1.8, (1−α)/(1−α_ref) ≤ 0.2): 1.8·s(1−α) = 0.2·(1−s)·α, odds 9s/(1−s).
        Assert.Equal(9 * s / (1 + 8 * s), mf.IwSftToken.CarefulProbability, 9);
        Assert.Equal(1.0, mf.IwSftToken.GreedyCarefulShare);
        Assert.Equal(111.0 / 128, mf.IwSftToken.GreedyAccuracy, 12);
        // Sequence level moves a little and stays below ½: no greedy gap predicted there.
        Assert.InRange(mf.IwSftSequence.CarefulProbability, s, 0.5);
    }

    [Fact]
    public void Sequence_level_weights_sit_between_SFT_and_the_exact_ratio_and_equal_it_at_exponent_one()
    {
        var mf = Design(0.5, 0.3);
        double sft = mf.Sft.CarefulProbability, seq = mf.IwSftSequence.CarefulProbability, exact = mf.IwSftExactRatio.CarefulProbability;
        Assert.True(sft < seq && seq < exact, $"{sft} < {seq} < {exact}");
        Assert.True(seq - sft < 0.05, "the mean over ~38 tokens dilutes the arm token's ratio");
        Assert.InRange(seq, 0.784, 0.786); // the figure docs/demo.md quotes (0.769 → 0.785)
        Assert.True(exact > 0.99, $"the exact ratio runs away to the reliable arm (the bandit): {exact}");
        // Temperature = length makes the mean-token exponent 1: the clipped exact ratio (clip 16 allows α/α_ref ≤ 2).
        var full = mf with { SequenceTemperature = 38, ShortcutLength = 38 };
        Assert.True(full.IwSftSequence.CarefulProbability > 0.99);
    }

    [Fact]
    public void Paired_difference_uses_the_t_quantile_with_n_minus_one_degrees_of_freedom()
    {
        CheckpointScore Score(string method, int seed, double greedy) => new($"{method}_s{seed}", method, seed, 10, greedy, 10, 0, 0, 0);
        var scores = new[] { Score("sft", 1, 0.5), Score("sft", 2, 0.5), Score("sft", 3, 0.5), Score("iw_sft", 1, 0.6), Score("iw_sft", 2, 0.7), Score("iw_sft", 3, 0.8) };
        var (mean, low, high, n) = ReportMarkdown.PairedDifference(scores, "iw_sft", s => s.GreedyAccuracy);
        // d = 0.1, 0.2, 0.3: mean 0.2, sd 0.1, half width 4.3027 · 0.1 / √3.
        Assert.Equal(3, n);
        Assert.Equal(0.2, mean, 12);
        Assert.Equal(0.2 - 4.3027 * 0.1 / Math.Sqrt(3), low, 9);
        Assert.Equal(0.2 + 4.3027 * 0.1 / Math.Sqrt(3), high, 9);
        Assert.Equal(2.7764, ReportMarkdown.TQuantile975(4));
        Assert.Contains("iw_sft − SFT (greedy accuracy, 3 seeds):** +0.200 [-0.048, +0.448]", ReportMarkdown.Verdict(scores));
    }
}
