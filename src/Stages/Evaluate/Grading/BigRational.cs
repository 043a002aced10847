using System.Numerics;

namespace IwSft.Stages.Evaluate.Grading;

/// <summary>An exact rational number (numerator / positive denominator, in lowest terms) for the grader.</summary>
internal readonly struct BigRational : IEquatable<BigRational>
{
    /// <summary>Numbers larger than this many bits are not kept exactly (the grader falls back to doubles).</summary>
    public const int MaxBits = 200_000;

    public BigInteger Num { get; }
    public BigInteger Den { get; }

    public BigRational(BigInteger num, BigInteger den)
    {
        if (den.IsZero) throw new DivideByZeroException();
        if (den.Sign < 0) { num = -num; den = -den; }
        var g = BigInteger.GreatestCommonDivisor(num, den);
        if (!g.IsOne && !g.IsZero) { num /= g; den /= g; }
        if (num.IsZero) den = BigInteger.One;
        Num = num;
        Den = den;
    }

    public static BigRational FromInteger(BigInteger n) => new(n, BigInteger.One);
    public static readonly BigRational Zero = FromInteger(0);
    public static readonly BigRational One = FromInteger(1);

    public bool IsInteger => Den.IsOne;
    public bool IsZero => Num.IsZero;
    public int Sign => Num.Sign;
    public bool TooLarge => Num.GetBitLength() > MaxBits || Den.GetBitLength() > MaxBits;

    /// <summary>True when the decimal expansion terminates (the denominator has no prime factor but 2 and 5).</summary>
    public bool IsTerminatingDecimal
    {
        get
        {
            var d = Den;
            while (d.IsEven) d >>= 1;
            while (!d.IsZero && (d % 5).IsZero) d /= 5;
            return d.IsOne;
        }
    }

    /// <summary>Parses "123", "-4.50", "1.5e3": decimals are exact (4.50 = 9/2).</summary>
    public static bool TryParseDecimal(string s, out BigRational value)
    {
        value = Zero;
        s = s.Trim();
        if (s.Length == 0) return false;
        int exp = 0;
        int e = s.IndexOfAny(['e', 'E']);
        if (e >= 0)
        {
            if (!int.TryParse(s[(e + 1)..], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out exp)
                || Math.Abs(exp) > 10_000) return false;
            s = s[..e];
        }
        bool negative = s.StartsWith('-');
        if (s.StartsWith('-') || s.StartsWith('+')) s = s[1..];
        int dot = s.IndexOf('.');
        string intPart = dot < 0 ? s : s[..dot], frac = dot < 0 ? "" : s[(dot + 1)..];
        if (intPart.Length + frac.Length == 0 || !intPart.All(char.IsAsciiDigit) || !frac.All(char.IsAsciiDigit)) return false;
        var num = BigInteger.Parse("0" + intPart + frac, System.Globalization.CultureInfo.InvariantCulture);
        var den = BigInteger.Pow(10, frac.Length);
        if (exp > 0) num *= BigInteger.Pow(10, exp);
        else if (exp < 0) den *= BigInteger.Pow(10, -exp);
        value = new BigRational(negative ? -num : num, den);
        return true;
    }

    public static BigRational operator +(BigRational a, BigRational b) => new(a.Num * b.Den + b.Num * a.Den, a.Den * b.Den);
    public static BigRational operator -(BigRational a, BigRational b) => new(a.Num * b.Den - b.Num * a.Den, a.Den * b.Den);
    public static BigRational operator -(BigRational a) => new(-a.Num, a.Den);
    public static BigRational operator *(BigRational a, BigRational b) => new(a.Num * b.Num, a.Den * b.Den);
    public static BigRational operator /(BigRational a, BigRational b) => new(a.Num * b.Den, a.Den * b.Num);

    /// <summary>a^n for an integer n, or null when the result would be too large to keep exactly (or 0^negative).</summary>
    public static BigRational? Pow(BigRational a, BigInteger n)
    {
        if (n.IsZero) return One;
        if (a.IsZero) return n.Sign > 0 ? Zero : null;
        if (a.Num.IsOne && a.Den.IsOne) return One;
        if (BigInteger.Abs(n) > 1_000_000) return null;
        long bits = (long)Math.Max(a.Num.GetBitLength(), a.Den.GetBitLength()) * (long)BigInteger.Abs(n);
        if (bits > MaxBits) return null;
        int k = (int)BigInteger.Abs(n);
        var num = BigInteger.Pow(a.Num, k);
        var den = BigInteger.Pow(a.Den, k);
        return n.Sign > 0 ? new BigRational(num, den) : new BigRational(den, num);
    }

    /// <summary>The exact k-th root when numerator and denominator are perfect k-th powers (and the sign allows).</summary>
    public static BigRational? Root(BigRational a, int k)
    {
        if (k < 1) return null;
        if (k == 1) return a;
        if (a.Sign < 0 && k % 2 == 0) return null;
        var n = IntegerRoot(BigInteger.Abs(a.Num), k);
        var d = IntegerRoot(a.Den, k);
        if (n is null || d is null) return null;
        return new BigRational(a.Sign < 0 ? -n.Value : n.Value, d.Value);
    }

    static BigInteger? IntegerRoot(BigInteger x, int k)
    {
        if (x.IsZero || x.IsOne) return x;
        // Newton's method from a double estimate, then correct by ±1.
        double estimate = Math.Exp(BigInteger.Log(x) / k);
        if (double.IsInfinity(estimate) || double.IsNaN(estimate)) return null;
        var r = new BigInteger(Math.Round(estimate));
        for (int iter = 0; iter < 100; iter++)
        {
            if (r.IsZero) r = BigInteger.One;
            var next = ((k - 1) * r + x / BigInteger.Pow(r, k - 1)) / k;
            if (BigInteger.Abs(next - r) <= 1) { r = next; break; }
            r = next;
        }
        for (var c = r - 2; c <= r + 2; c++)
            if (c.Sign >= 0 && BigInteger.Pow(c, k) == x) return c;
        return null;
    }

    public double ToDouble()
    {
        if (Num.IsZero) return 0;
        long nb = (long)Num.GetBitLength(), db = (long)Den.GetBitLength();
        if (nb < 1000 && db < 1000) return (double)Num / (double)Den;
        // Scale both to ~64 significant bits, then apply the binary exponent.
        int shiftN = (int)Math.Max(0, nb - 64), shiftD = (int)Math.Max(0, db - 64);
        double m = (double)(Num >> shiftN) / (double)(Den >> shiftD);
        return m * Math.Pow(2, shiftN - shiftD);
    }

    public int CompareTo(BigRational other) => (Num * other.Den).CompareTo(other.Num * Den);
    public bool Equals(BigRational other) => Num == other.Num && Den == other.Den;
    public override bool Equals(object? obj) => obj is BigRational r && Equals(r);
    public override int GetHashCode() => HashCode.Combine(Num, Den);
    public override string ToString() => Den.IsOne ? Num.ToString() : $"{Num}/{Den}";
}
