namespace IwSft.Core;

/// <summary>
/// SplitMix64: a tiny generator whose whole state is one 64-bit word, so the trainer's data order is
/// a pure function of (seed, epoch) and resume never needs to serialise an opaque RNG object.
/// </summary>
public sealed class DeterministicRandom : IRandomSource
{
    ulong _state;

    public DeterministicRandom(ulong seed) => _state = seed;

    /// <summary>A generator for one stream (e.g. one epoch) derived from a base seed.</summary>
    public static DeterministicRandom ForStream(ulong seed, ulong stream) =>
        new(Mix(seed ^ Mix(stream + 0x632BE59BD9B4E019UL)));

    public ulong State => _state;

    public ulong NextUInt64() => Next(ref _state);

    /// <summary>One SplitMix64 step on a bare state word (for value-type generators that embed it).</summary>
    public static ulong Next(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    /// <summary>SplitMix64's output finaliser: a bijective 64-bit mix.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform integer in [0, n) without modulo bias (rejection sampling).</summary>
    public int NextInt(int n)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n));
        ulong limit = ulong.MaxValue - ulong.MaxValue % (ulong)n;
        ulong r;
        do r = NextUInt64(); while (r >= limit);
        return (int)(r % (ulong)n);
    }

    /// <summary>A Fisher–Yates permutation of 0..n-1.</summary>
    public int[] Permutation(int n)
    {
        var p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--)
        {
            int j = NextInt(i + 1);
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }
}
