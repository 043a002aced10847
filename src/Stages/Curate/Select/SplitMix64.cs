namespace IwSft.Stages.Curate.Select;

/// <summary>Uniform doubles in [0, 1); a seam so tests can script the draws.</summary>
public interface IRandomSource
{
    double NextDouble();
}

/// <summary>
/// SplitMix64 (Steele, Lea &amp; Flood 2014): a tiny generator whose output for a seed is fixed by its
/// definition, so a selection is reproducible across .NET versions (System.Random makes no such promise).
/// </summary>
public sealed class SplitMix64(ulong seed) : IRandomSource
{
    readonly IwSft.Gpu.Training.DeterministicRandom _random = new(seed);

    public ulong NextUInt64() => _random.NextUInt64();

    /// <summary>53 random bits scaled to [0, 1).</summary>
    public double NextDouble() => _random.NextDouble();
}
