using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace IwSft.Gpu.Models;

/// <summary>
/// The control policy of the paper's D4RL experiments: an MLP (ReLU hidden layers, 3 × 256 by default)
/// giving a tanh-squashed mean μ(s) ∈ (−1, 1)^A, and a state-independent log standard deviation
/// clamped to [<see cref="MinLogStd"/>, <see cref="MaxLogStd"/>]. The action distribution is
/// N(μ(s), diag σ²) (not squashed: dataset actions lie in [−1, 1] and are scored as they are).
/// Evaluation acts with the mean.
/// <para>
/// A new policy's weights come from its own generator, seeded by the caller (PyTorch's default Linear
/// initialisation: weight and bias ~ U(−1/√fan_in, 1/√fan_in)), never from libtorch's process-wide RNG:
/// stages train policies concurrently, and a shared RNG would make each one's start depend on the others.
/// </para>
/// </summary>
public sealed class GaussianMlpPolicy : nn.Module<Tensor, Tensor>
{
    public const double MinLogStd = -5.0, MaxLogStd = 2.0;
    static readonly double HalfLogTwoPi = 0.5 * Math.Log(2 * Math.PI);

    readonly ModuleList<Linear> _layers;
    readonly Parameter _logStd;

    public int ObservationSize { get; }
    public int ActionSize { get; }
    public IReadOnlyList<int> HiddenSizes { get; }

    /// <param name="seed">Seeds the policy's own generator for the initial weights.</param>
    public GaussianMlpPolicy(int observationSize, int actionSize, IReadOnlyList<int>? hiddenSizes = null, double initialLogStd = 0.0, long seed = 0)
        : base(nameof(GaussianMlpPolicy))
    {
        if (observationSize < 1 || actionSize < 1) throw new ArgumentOutOfRangeException(nameof(observationSize), "sizes must be positive");
        ObservationSize = observationSize;
        ActionSize = actionSize;
        HiddenSizes = (hiddenSizes ?? [256, 256, 256]).ToArray();
        if (HiddenSizes.Any(h => h < 1)) throw new ArgumentOutOfRangeException(nameof(hiddenSizes), "hidden sizes must be positive");
        var widths = new List<int> { observationSize };
        widths.AddRange(HiddenSizes);
        widths.Add(actionSize);
        using (var generator = new Generator((ulong)seed, new Device("cpu")))
            _layers = new ModuleList<Linear>(widths.Zip(widths.Skip(1), (i, o) => InitialisedLinear(i, o, generator)).ToArray());
        _logStd = nn.Parameter(full(actionSize, initialLogStd, dtype: ScalarType.Float32));
        RegisterComponents();
    }

    /// <summary>A Linear layer with PyTorch's default initialisation drawn from <paramref name="generator"/>.</summary>
    static Linear InitialisedLinear(int inputs, int outputs, Generator generator)
    {
        double bound = 1.0 / Math.Sqrt(inputs);
        Parameter Uniform(params long[] shape)
        {
            using var u = rand(shape, ScalarType.Float32, generator: generator);
            return nn.Parameter(u * (2 * bound) - bound);
        }
        var weight = Uniform(outputs, inputs);
        return nn.Linear(weight, Uniform(outputs));
    }

    /// <summary>The mean action μ(s) for observations [N, S] → [N, A].</summary>
    public override Tensor forward(Tensor observations)
    {
        using var scope = NewDisposeScope();
        var h = observations;
        for (int i = 0; i < _layers.Count - 1; i++) h = nn.functional.relu(_layers[i].forward(h));
        return tanh(_layers[_layers.Count - 1].forward(h)).MoveToOuterDisposeScope();
    }

    /// <summary>log σ, clamped to [−5, 2].</summary>
    public Tensor LogStd() => _logStd.clamp(MinLogStd, MaxLogStd);

    /// <summary>
    /// log π(a | s) summed over action dimensions: Σ_d −½((a_d − μ_d)/σ_d)² − log σ_d − ½ log 2π.
    /// Observations [..., S], actions [..., A] → [...].
    /// </summary>
    public Tensor LogProb(Tensor observations, Tensor actions)
    {
        using var scope = NewDisposeScope();
        var mean = forward(observations);
        var logStd = LogStd();
        var z = (actions - mean) * (-logStd).exp();
        var perDim = -0.5 * z.square() - logStd - HalfLogTwoPi;
        return perDim.sum(-1).MoveToOuterDisposeScope();
    }

    /// <summary>A new policy with the same sizes and a copy of these parameters (e.g. the EMA policy q).</summary>
    public GaussianMlpPolicy Clone()
    {
        var copy = new GaussianMlpPolicy(ObservationSize, ActionSize, HiddenSizes);
        copy.CopyParametersFrom(this);
        return copy;
    }

    public void CopyParametersFrom(GaussianMlpPolicy source)
    {
        using var _ = no_grad();
        foreach (var (dst, src) in parameters().Zip(source.parameters()))
        {
            if (!dst.shape.SequenceEqual(src.shape)) throw new ArgumentException("policies differ in architecture");
            dst.copy_(src);
        }
    }

    /// <summary>Writes the weights (TorchSharp format) and the architecture beside them.</summary>
    public void SaveTo(string path)
    {
        File.WriteAllText(path + ".json", System.Text.Json.JsonSerializer.Serialize(new Architecture(ObservationSize, ActionSize, HiddenSizes.ToArray())));
        save(path);
    }

    /// <summary>Reads a policy written by <see cref="SaveTo"/>.</summary>
    public static GaussianMlpPolicy LoadFrom(string path)
    {
        var archPath = path + ".json";
        if (!File.Exists(archPath)) throw new FileNotFoundException($"policy architecture file missing: {archPath}");
        var arch = System.Text.Json.JsonSerializer.Deserialize<Architecture>(File.ReadAllText(archPath))
                   ?? throw new InvalidDataException($"{archPath}: empty architecture");
        var policy = new GaussianMlpPolicy(arch.ObservationSize, arch.ActionSize, arch.HiddenSizes);
        policy.load(path);
        return policy;
    }

    sealed record Architecture(int ObservationSize, int ActionSize, int[] HiddenSizes);
}
