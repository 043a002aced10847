using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Gpu.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

public class ControlPolicyTests
{
    /// <summary>A policy with no hidden layer whose mean is tanh(bias) and whose log σ is set.</summary>
    static GaussianMlpPolicy Fixed(float[] bias, float[] logStd)
    {
        var policy = new GaussianMlpPolicy(2, bias.Length, hiddenSizes: []);
        using var _ = no_grad();
        foreach (var (name, p) in policy.named_parameters())
        {
            if (name.EndsWith("weight")) p.zero_();
            else if (name.EndsWith("bias")) p.copy_(tensor(bias));
            else p.copy_(tensor(logStd));
        }
        return policy;
    }

    [Fact]
    public void LogProbIsTheDiagonalGaussianDensitySummedOverActionDimensions()
    {
        using var policy = Fixed([0.2f, -0.3f], [-0.5f, 0.25f]);
        var obs = tensor(new float[] { 1, 2 }).reshape(1, 2);
        var act = tensor(new float[] { 0.5f, -1.0f }).reshape(1, 2);
        // Σ_d −½((a_d − tanh b_d)/e^{ℓ_d})² − ℓ_d − ½ log 2π, computed by hand (Python, float64).
        Assert.Equal(-1.8646608136446918, policy.LogProb(obs, act).item<float>(), 5);
    }

    [Fact]
    public void LogStdIsClampedToMinusFiveTwo()
    {
        using var low = Fixed([0f], [-10f]);
        using var high = Fixed([0f], [3f]);
        Assert.Equal(-5f, low.LogStd().item<float>());
        Assert.Equal(2f, high.LogStd().item<float>());
    }

    [Fact]
    public void MeanIsTanhBoundedAndDefaultArchitectureIsThreeLayersOf256()
    {
        var policy = new GaussianMlpPolicy(6, 2);
        Assert.Equal(new[] { 256, 256, 256 }, policy.HiddenSizes);
        Assert.Equal(6 * 256 + 256 + 2 * (256 * 256 + 256) + 256 * 2 + 2 + 2, policy.parameters().Sum(p => p.numel()));
        var mean = policy.forward(randn(64, 6) * 100);
        Assert.True(mean.abs().max().item<float>() <= 1f);
    }

    [Fact]
    public void SaveAndLoadRoundTripTheParameters()
    {
        var dir = Directory.CreateTempSubdirectory("iwsft-policy-");
        try
        {
            using var policy = new GaussianMlpPolicy(3, 1, [8, 8], seed: 3);
            var path = Path.Combine(dir.FullName, "p.pt");
            policy.SaveTo(path);
            using var loaded = GaussianMlpPolicy.LoadFrom(path);
            Assert.Equal(new[] { 8, 8 }, loaded.HiddenSizes);
            var x = randn(5, 3);
            Assert.Equal(policy.forward(x).data<float>().ToArray(), loaded.forward(x).data<float>().ToArray());
        }
        finally { dir.Delete(true); }
    }

    static Episode Ramp(int length, float value) =>
        new(1, 1, Enumerable.Range(0, length).Select(t => (float)t).ToArray(), Enumerable.Repeat(value, length).ToArray(),
            new float[length], false);

    [Fact]
    public void ChunkSamplerDrawsWholeShortEpisodesPaddedAndWeighsEpisodesByLength()
    {
        var sampler = new TrajectoryChunkSampler([Ramp(1, 1f), Ramp(3, 3f)], chunkLength: 4, seed: 11);
        using var batch = sampler.Next(4000);
        var lengths = batch.Lengths.data<float>().ToArray();
        Assert.All(lengths, l => Assert.True(l is 1f or 3f));
        // Padded steps are masked; a chunk's observations are the episode's, from step 0.
        var obs = batch.Observations.reshape(4000, 4).data<float>().ToArray();
        var act = batch.Actions.reshape(4000, 4).data<float>().ToArray();
        for (int b = 0; b < 4000; b++)
        {
            int len = (int)lengths[b];
            for (int t = 0; t < len; t++) { Assert.Equal(t, obs[b * 4 + t]); Assert.Equal(len, act[b * 4 + t]); }
            for (int t = len; t < 4; t++) Assert.Equal(0f, obs[b * 4 + t]);
        }
        // P(3-step episode) = 3/4: 3000 expected, binomial σ ≈ 27.4; allow 5σ.
        int longOnes = lengths.Count(l => l == 3f);
        Assert.InRange(longOnes, 3000 - 137, 3000 + 137);
    }

    [Fact]
    public void ChunkSamplerTakesContiguousWindowsOfLongEpisodes()
    {
        var sampler = new TrajectoryChunkSampler([Ramp(10, 0f)], chunkLength: 4, seed: 5);
        using var batch = sampler.Next(200);
        var obs = batch.Observations.reshape(200, 4).data<float>().ToArray();
        var starts = new HashSet<float>();
        for (int b = 0; b < 200; b++)
        {
            for (int t = 1; t < 4; t++) Assert.Equal(obs[b * 4] + t, obs[b * 4 + t]);
            starts.Add(obs[b * 4]);
        }
        Assert.Equal(Enumerable.Range(0, 7).Select(x => (float)x).ToHashSet(), starts); // every start 0…6, none past
        Assert.All(batch.Lengths.data<float>().ToArray(), l => Assert.Equal(4f, l));
    }
}
