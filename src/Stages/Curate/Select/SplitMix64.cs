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
    ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>53 random bits scaled to [0, 1).</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
