using IwSft.Gpu.Training;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>Every importance-weight formula against values computed by hand (the arithmetic is in the comments).</summary>
public class WeightFormulaTests
{
    const double Tol = 1e-6;

    static Tensor F(float[,] v) => tensor(v);
    static Tensor F(float[] v) => tensor(v);

    // Row 0: prompt token masked; completion diffs (−2.0 − −2.5) = 0.5 and (−0.5 − −1.0) = 0.5 → mean 0.5.
    // Row 1: right padding whose reference log-prob is NaN; diffs −0.2 and −0.5 → mean −0.35.
    // Row 2: one completion token with diff (−0.1 − −5.0) = 4.9 → e^4.9 ≈ 134.3, clipped to 16.
    // Row 3: no completion tokens → diff 0 → w = 1.
    static readonly float[,] Policy = { { -1.0f, -2.0f, -0.5f }, { -0.3f, -0.7f, 0f }, { -0.1f, -3f, -3f }, { -1f, -1f, -1f } };
    static readonly float[,] Reference = { { -7.0f, -2.5f, -1.0f }, { -0.1f, -0.2f, float.NaN }, { -5.0f, -3f, -3f }, { -2f, -2f, -2f } };
    static readonly float[,] Mask = { { 0, 1, 1 }, { 1, 1, 0 }, { 1, 0, 0 }, { 0, 0, 0 } };

    [Fact]
    public void Sequence_level_uses_mean_completion_log_ratio_ignores_padding_and_clips_at_16()
    {
        var w = ImportanceWeights.Sequence(F(Policy), F(Reference), F(Mask)).data<float>().ToArray();
        Assert.Equal(1.6487212707, w[0], Tol);   // e^0.5
        Assert.Equal(0.7046880897, w[1], Tol);   // e^−0.35 (the NaN in padding does not leak)
        Assert.Equal(16.0, w[2], Tol);           // e^4.9 clipped at the upper end
        Assert.Equal(1.0, w[3], Tol);            // no completion tokens
    }

    [Fact]
    public void Sequence_level_temperature_scales_the_mean_before_exp_and_clips_at_the_lower_end()
    {
        var hot = ImportanceWeights.Sequence(F(Policy), F(Reference), F(Mask), temperature: 2.0).data<float>().ToArray();
        Assert.Equal(2.7182818285, hot[0], Tol);  // e^(2·0.5)
        Assert.Equal(0.4965853038, hot[1], Tol);  // e^(2·−0.35)

        var floored = ImportanceWeights.Sequence(F(Policy), F(Reference), F(Mask), minWeight: 0.8, maxWeight: 1.5).data<float>().ToArray();
        Assert.Equal(1.5, floored[0], Tol);  // 1.6487 → upper clip 1.5
        Assert.Equal(0.8, floored[1], Tol);  // 0.7047 → lower clip 0.8
        Assert.Equal(1.5, floored[2], Tol);
        Assert.Equal(1.0, floored[3], Tol);
    }

    [Fact]
    public void Token_level_clips_each_ratio_to_one_plus_minus_epsilon_and_zeroes_masked_tokens()
    {
        // diffs 0.5, −2.0, 0.0, 1.0 → ratios 1.6487, 0.1353, 1, 2.7183; last token masked (NaN reference).
        var policy = F(new float[,] { { -1.0f, -3.0f, -0.2f, -0.5f } });
        var reference = F(new float[,] { { -1.5f, -1.0f, -0.2f, float.NaN } });
        var mask = F(new float[,] { { 1, 1, 1, 0 } });

        var w = ImportanceWeights.Token(policy, reference, mask).data<float>().ToArray();   // ε = 0.8 → [0.2, 1.8]
        Assert.Equal(new[] { 1.6487212707, 0.2, 1.0, 0.0 }, w.Select(x => (double)x), new ToleranceComparer(Tol));

        var tight = ImportanceWeights.Token(policy, reference, mask, epsilon: 0.5).data<float>().ToArray();   // [0.5, 1.5]
        Assert.Equal(new[] { 1.5, 0.5, 1.0, 0.0 }, tight.Select(x => (double)x), new ToleranceComparer(Tol));
    }

    [Fact]
    public void Trajectory_weights_divide_by_length_scale_by_temperature_clip_at_1000_and_normalise_over_the_batch()
    {
        // diff_0 = 10·(−1.0 − −1.2)/2 = 1.0, diff_1 = 10·(−2.0 − −1.9)/4 = −0.25.
        var raw = ImportanceWeights.Trajectory(F(new[] { -1.0f, -2.0f }), F(new[] { -1.2f, -1.9f }), F(new[] { 2f, 4f }), normaliseOverBatch: false)
            .data<float>().ToArray();
        Assert.Equal(2.7182818285, raw[0], 1e-5);
        Assert.Equal(0.7788007831, raw[1], 1e-6);

        // normalised: e / (e + e^−0.25) and e^−0.25 / (e + e^−0.25)
        var normalised = ImportanceWeights.Trajectory(F(new[] { -1.0f, -2.0f }), F(new[] { -1.2f, -1.9f }), F(new[] { 2f, 4f })).data<float>().ToArray();
        Assert.Equal(0.7772998612, normalised[0], Tol);
        Assert.Equal(0.2227001388, normalised[1], Tol);

        // exp(10·1000) overflows to inf and is clipped to 1000; the other weight is e^0 = 1 → 1000/1001, 1/1001.
        var clipped = ImportanceWeights.Trajectory(F(new[] { 0f, -3f }), F(new[] { -1000f, -3f }), F(new[] { 1f, 5f })).data<float>().ToArray();
        Assert.Equal(1000.0 / 1001.0, clipped[0], Tol);
        Assert.Equal(1.0 / 1001.0, clipped[1], Tol);
    }

    [Fact]
    public void Weights_carry_no_gradient()
    {
        var policy = F(new float[,] { { -1f, -2f } }).requires_grad_(true);
        var w = ImportanceWeights.Sequence(policy, F(new float[,] { { -1f, -1f } }), F(new float[,] { { 1, 1 } }));
        Assert.False(w.requires_grad);
        Assert.False(ImportanceWeights.Token(policy, F(new float[,] { { -1f, -1f } }), F(new float[,] { { 1, 1 } })).requires_grad);
    }

    [Fact]
    public void Ema_update_moves_q_a_tenth_of_the_way_to_the_policy_at_decay_0_9()
    {
        var q = new TorchSharp.Modules.Parameter(tensor(new[] { 1f, 2f }));
        var p = new TorchSharp.Modules.Parameter(tensor(new[] { 3f, -2f }));
        Losses.EmaUpdate([q], [p], 0.9);
        // 0.9·1 + 0.1·3 = 1.2 ; 0.9·2 + 0.1·(−2) = 1.6
        Assert.Equal(new[] { 1.2, 1.6 }, q.data<float>().ToArray().Select(x => (double)x), new ToleranceComparer(Tol));
        Losses.EmaUpdate([q], [p], 0.5);   // 0.5·1.2 + 0.5·3 = 2.1 ; 0.5·1.6 + 0.5·(−2) = −0.2
        Assert.Equal(new[] { 2.1, -0.2 }, q.data<float>().ToArray().Select(x => (double)x), new ToleranceComparer(Tol));
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.EmaUpdate([q], [p], 1.5));
    }

    [Fact]
    public void Weight_stats_give_mean_min_max_and_kish_ess()
    {
        var s = WeightStats.Of(tensor(new[] { 1f, 2f, 3f }));
        Assert.Equal(2.0, s.Mean, Tol);
        Assert.Equal(1.0, s.Min, Tol);
        Assert.Equal(3.0, s.Max, Tol);
        Assert.Equal(36.0 / 14.0, s.EffectiveSampleSize, Tol);   // (1+2+3)² / (1+4+9)

        Assert.Equal(4.0, WeightStats.Of(tensor(new[] { 5f, 5f, 5f, 5f })).EffectiveSampleSize, Tol);  // equal weights → n
        Assert.Equal(1.0, WeightStats.Of(tensor(new[] { 2f, 0f, 0f, 0f })).EffectiveSampleSize, Tol);  // one weight → 1

        // masked: only 4 and 1 count → mean 2.5, ESS 25/17.
        var masked = WeightStats.Of(tensor(new[] { 4f, 100f, 1f }), tensor(new[] { true, false, true }));
        Assert.Equal(2, masked.Count);
        Assert.Equal(2.5, masked.Mean, Tol);
        Assert.Equal(25.0 / 17.0, masked.EffectiveSampleSize, Tol);   // (4+1)² / (16+1)
    }

    [Fact]
    public void Token_level_epsilon_must_be_in_zero_to_one_inclusive()
    {
        var policy = F(new float[,] { { -1.0f, -3.0f } });
        var reference = F(new float[,] { { -1.5f, -1.0f } });   // ratios e^0.5 ≈ 1.6487 and e^−2 ≈ 0.1353
        var mask = F(new float[,] { { 1, 1 } });
        Assert.Throws<ArgumentOutOfRangeException>(() => ImportanceWeights.Token(policy, reference, mask, epsilon: -0.01));
        Assert.Throws<ArgumentOutOfRangeException>(() => ImportanceWeights.Token(policy, reference, mask, epsilon: 1.01));
        var none = ImportanceWeights.Token(policy, reference, mask, epsilon: 0).data<float>().ToArray();   // [1, 1]: plain SFT
        Assert.Equal(new[] { 1.0, 1.0 }, none.Select(x => (double)x), new ToleranceComparer(Tol));
        var widest = ImportanceWeights.Token(policy, reference, mask, epsilon: 1).data<float>().ToArray(); // [0, 2]
        Assert.Equal(new[] { 1.6487212707, 0.1353352832 }, widest.Select(x => (double)x), new ToleranceComparer(Tol));
    }

    [Fact]
    public void Ema_decay_must_be_in_zero_to_one_inclusive_and_the_shapes_must_agree()
    {
        var q = new TorchSharp.Modules.Parameter(tensor(new[] { 1f, 2f }));
        var p = new TorchSharp.Modules.Parameter(tensor(new[] { 3f, -2f }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.EmaUpdate([q], [p], -0.01));
        Losses.EmaUpdate([q], [p], 1);   // decay 1: q stays
        Assert.Equal(new[] { 1.0, 2.0 }, q.data<float>().ToArray().Select(x => (double)x), new ToleranceComparer(Tol));
        Losses.EmaUpdate([q], [p], 0);   // decay 0: q becomes the policy
        Assert.Equal(new[] { 3.0, -2.0 }, q.data<float>().ToArray().Select(x => (double)x), new ToleranceComparer(Tol));
        var wide = new TorchSharp.Modules.Parameter(tensor(new[] { 1f, 2f, 3f }));
        Assert.Throws<ArgumentException>(() => Losses.EmaUpdate([q], [wide], 0.9));
    }

    [Fact]
    public void Weight_stats_of_nothing_are_nan_with_count_zero_and_of_zero_weights_have_no_effective_sample()
    {
        var empty = WeightStats.Of(tensor(new[] { 4f, 5f }), tensor(new[] { false, false }));
        Assert.Equal(0, empty.Count);
        Assert.True(double.IsNaN(empty.Mean) && double.IsNaN(empty.Min) && double.IsNaN(empty.Max));
        Assert.Equal(0.0, empty.EffectiveSampleSize);

        var zeros = WeightStats.Of(tensor(new[] { 0f, 0f, 0f }));
        Assert.Equal(3, zeros.Count);
        Assert.Equal(0.0, zeros.Mean);
        Assert.Equal(0.0, zeros.EffectiveSampleSize);   // not NaN (0/0)
    }
}

internal sealed class ToleranceComparer(double tolerance) : IEqualityComparer<double>
{
    public bool Equals(double x, double y) => Math.Abs(x - y) <= tolerance;
    public int GetHashCode(double obj) => 0;
}
