using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

public class LossTests
{
    const double Tol = 1e-6;

    [Fact]
    public void Token_nll_is_normalised_by_the_given_loss_token_count_and_ignores_masked_infinities()
    {
        var logp = tensor(new float[,] { { -1f, -2f }, { -0.5f, float.NegativeInfinity } });
        var mask = tensor(new float[,] { { 1, 1 }, { 1, 0 } });
        // SFT: (1 + 2 + 0.5) / 3
        Assert.Equal(3.5 / 3, Losses.WeightedTokenNll(logp, mask, null, 3).item<float>(), Tol);
        // sequence weights [2, 3]: (2·1 + 2·2 + 3·0.5) / 3 = 7.5 / 3 = 2.5
        Assert.Equal(2.5, Losses.WeightedTokenNll(logp, mask, tensor(new[] { 2f, 3f }), 3).item<float>(), Tol);
        // token weights with NaN on the masked token: (0.5·1 + 1·2 + 2·0.5) / 3 = 3.5 / 3
        var tokenW = tensor(new float[,] { { 0.5f, 1f }, { 2f, float.NaN } });
        Assert.Equal(3.5 / 3, Losses.WeightedTokenNll(logp, mask, tokenW, 3).item<float>(), Tol);
        // the global-batch normaliser: same sum over 7 loss tokens (the rest in other micro-batches)
        Assert.Equal(3.5 / 7, Losses.WeightedTokenNll(logp, mask, null, 7).item<float>(), Tol);
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.WeightedTokenNll(logp, mask, null, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Losses.WeightedTokenNll(logp, mask, null, -3));
        Assert.Equal(3.5 / 0.5, Losses.WeightedTokenNll(logp, mask, null, 0.5).item<float>(), Tol); // a fraction is allowed
    }

    [Fact]
    public void Trajectory_nll_is_the_weighted_per_step_log_likelihood()
    {
        // −(0.25 · (−2/2) + 0.75 · (−6/3)) = 0.25 + 1.5 = 1.75
        var loss = Losses.WeightedTrajectoryNll(tensor(new[] { -2f, -6f }), tensor(new[] { 2f, 3f }), tensor(new[] { 0.25f, 0.75f }));
        Assert.Equal(1.75, loss.item<float>(), Tol);
    }

    [Fact]
    public void Iw_sft_gradient_is_the_weight_times_the_sft_gradient_of_each_sequence()
    {
        var model = new TinyLanguageModel(vocab: 7, hidden: 5, seed: 3);
        var ids = tensor(new long[,] { { 1, 2, 3, 4 }, { 5, 6, 2, 0 } });
        var mask = tensor(new[,] { { false, true, true }, { true, true, false } });
        var refLogp = tensor(new float[,] { { -2f, -2.5f, -1.5f }, { -1.0f, -3.0f, 0f } });
        const double normaliser = 4;   // loss tokens in the batch

        Tensor Logp() => TokenLogProbs.OfTargets(model.Forward(ids), ids);
        Tensor[] Grads(Tensor loss)
        {
            foreach (var p in model.parameters()) p.grad?.zero_();
            loss.backward();
            return model.parameters().Select(p => p.grad!.clone()).ToArray();
        }

        var logp = Logp();
        var w = ImportanceWeights.Sequence(logp, refLogp, mask);
        var iwGrad = Grads(Losses.WeightedTokenNll(logp, mask, w, normaliser));

        // The same gradient assembled by hand: w_b × (SFT gradient of sequence b alone).
        var wValues = w.data<float>().ToArray();
        Assert.NotEqual(wValues[0], wValues[1], 3);   // the check would be vacuous with equal weights
        var expected = model.parameters().Select(p => zeros_like(p)).ToArray();
        for (int b = 0; b < 2; b++)
        {
            var onlyB = mask.clone();
            onlyB[1 - b] = tensor(new[] { false, false, false });
            var sftB = Grads(Losses.WeightedTokenNll(Logp(), onlyB, null, normaliser));
            for (int i = 0; i < expected.Length; i++) expected[i] += wValues[b] * sftB[i];
        }
        for (int i = 0; i < expected.Length; i++)
            Assert.True(allclose(iwGrad[i], expected[i], rtol: 1e-5, atol: 1e-7), $"parameter {i}: iw-SFT gradient != Σ_b w_b · SFT gradient_b");
    }

    [Fact]
    public void Target_log_probs_align_entry_t_minus_1_with_token_t()
    {
        // logits favour nothing at t=0 (uniform over 4) and token 2 at t=1 by a margin of ln 3.
        var logits = zeros(1, 3, 4);
        logits[0, 1, 2] = tensor((float)Math.Log(3));
        var ids = tensor(new long[,] { { 0, 1, 2 } });
        var lp = TokenLogProbs.OfTargets(logits, ids).data<float>().ToArray();
        Assert.Equal(Math.Log(0.25), lp[0], Tol);        // token 1 under uniform
        Assert.Equal(Math.Log(3.0 / 6.0), lp[1], Tol);   // token 2: 3 / (3 + 1 + 1 + 1)
    }
}
