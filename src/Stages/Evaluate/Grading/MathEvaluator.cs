using System.Numerics;

namespace IwSft.Stages.Evaluate.Grading;

/// <summary>
/// A scalar value: exact when every step was rational arithmetic, else a complex double with a bound on
/// its rounding error (<see cref="ErrorScale"/>: the error is at most a small multiple of machine epsilon
/// times this), so that sin π ≈ 0 is accepted while √2·10⁻²⁰ ≠ 0 is not.
/// </summary>
internal readonly struct Scalar
{
    public BigRational? Exact { get; }
    public Complex Approx { get; }
    readonly double _errorScale;

    public Scalar(BigRational exact)
    {
        Exact = exact.TooLarge ? null : exact;
        Approx = new Complex(exact.ToDouble(), 0);
        _errorScale = Complex.Abs(Approx);
    }

    public Scalar(Complex approx) : this(approx, Complex.Abs(approx)) { }

    public Scalar(Complex approx, double errorScale)
    {
        Exact = null;
        Approx = approx;
        _errorScale = double.IsFinite(errorScale) ? Math.Max(errorScale, Complex.Abs(approx)) : double.PositiveInfinity;
    }

    /// <summary>Exact values: their magnitude (the rounding of their double); others: the propagated bound.</summary>
    public double ErrorScale => _errorScale;
    public double Magnitude => Complex.Abs(Approx);

    public bool IsFinite => double.IsFinite(Approx.Real) && double.IsFinite(Approx.Imaginary);
    public bool IsReal => Exact is not null || Math.Abs(Approx.Imaginary) <= 1e-12 * Math.Max(1, Math.Abs(Approx.Real));

    /// <summary>Zero within its rounding error.</summary>
    public bool IsZeroWithinError => Exact is { } e ? e.IsZero : Magnitude <= 64 * double.Epsilon + 64 * 2.220446049250313e-16 * _errorScale;
}

/// <summary>A value: a scalar or a matrix of scalars.</summary>
internal sealed class Value
{
    public Scalar? S { get; }
    public Scalar[,]? M { get; }
    public Value(Scalar s) { S = s; }
    public Value(Scalar[,] m) { M = m; }
}

/// <summary>The node cannot be evaluated at all (a tuple, an unknown function): compare structure instead.</summary>
internal sealed class NotEvaluableException(string message) : Exception(message);

/// <summary>The value is undefined at this point (division by zero, overflow).</summary>
internal sealed class UndefinedException() : Exception("undefined");

/// <summary>
/// Evaluates expressions: exactly (rational arithmetic on big integers) when only rationals and
/// integer powers and perfect roots are involved, else in complex doubles. Symbols take values from
/// the environment; <c>i</c> is the imaginary unit.
/// </summary>
internal static class MathEvaluator
{
    public static Value Evaluate(MathNode n, IReadOnlyDictionary<string, Scalar> env)
    {
        switch (n.Kind)
        {
            case NodeKind.Number: return new(new Scalar(n.Value));
            case NodeKind.Symbol:
                if (n.Name == "i") return new(new Scalar(Complex.ImaginaryOne));
                if (env.TryGetValue(n.Name, out var v)) return new(v);
                throw new NotEvaluableException($"no value for symbol '{n.Name}'");
            case NodeKind.Constant:
                return n.Name switch
                {
                    "pi" => new(new Scalar(new Complex(Math.PI, 0))),
                    "e" => new(new Scalar(new Complex(Math.E, 0))),
                    _ => throw new NotEvaluableException("infinity"),
                };
            case NodeKind.Add:
            {
                var acc = Evaluate(n.Children[0], env);
                for (int k = 1; k < n.Children.Count; k++) acc = Add(acc, Evaluate(n.Children[k], env));
                return acc;
            }
            case NodeKind.Negate: return Negate(Evaluate(n.Children[0], env));
            case NodeKind.Multiply:
            {
                var acc = Evaluate(n.Children[0], env);
                for (int k = 1; k < n.Children.Count; k++) acc = Multiply(acc, Evaluate(n.Children[k], env));
                return acc;
            }
            case NodeKind.Divide:
            {
                var a = Evaluate(n.Children[0], env);
                var b = Evaluate(n.Children[1], env);
                if (b.S is not { } d) throw new NotEvaluableException("division by a matrix");
                return Map(a, x => Div(x, d));
            }
            case NodeKind.Power:
            {
                var b = Evaluate(n.Children[0], env);
                var e = Evaluate(n.Children[1], env);
                if (b.S is not { } bs || e.S is not { } es) throw new NotEvaluableException("matrix power");
                return new(Pow(bs, es));
            }
            case NodeKind.Matrix:
            {
                var m = new Scalar[n.Rows, n.Columns];
                for (int r = 0; r < n.Rows; r++)
                    for (int c = 0; c < n.Columns; c++)
                        m[r, c] = Evaluate(n.Children[r * n.Columns + c], env).S ?? throw new NotEvaluableException("nested matrix");
                return new(m);
            }
            case NodeKind.Function: return Function(n, env);
            default: throw new NotEvaluableException($"{n.Kind} has no value");
        }
    }

    static Scalar ScalarOf(MathNode n, IReadOnlyDictionary<string, Scalar> env) =>
        Evaluate(n, env).S ?? throw new NotEvaluableException("matrix argument");

    static Value Map(Value v, Func<Scalar, Scalar> f)
    {
        if (v.S is { } s) return new(f(s));
        var m = v.M!;
        var r = new Scalar[m.GetLength(0), m.GetLength(1)];
        for (int i = 0; i < m.GetLength(0); i++)
            for (int j = 0; j < m.GetLength(1); j++) r[i, j] = f(m[i, j]);
        return new(r);
    }

    static Value Add(Value a, Value b)
    {
        if (a.S is { } x && b.S is { } y) return new(Add(x, y));
        if (a.M is { } m1 && b.M is { } m2 && m1.GetLength(0) == m2.GetLength(0) && m1.GetLength(1) == m2.GetLength(1))
        {
            var r = new Scalar[m1.GetLength(0), m1.GetLength(1)];
            for (int i = 0; i < r.GetLength(0); i++)
                for (int j = 0; j < r.GetLength(1); j++) r[i, j] = Add(m1[i, j], m2[i, j]);
            return new(r);
        }
        throw new NotEvaluableException("adding a matrix and a scalar");
    }

    static Value Negate(Value a) => Map(a, Negate);

    static Value Multiply(Value a, Value b)
    {
        if (a.S is { } x && b.S is { } y) return new(Mul(x, y));
        if (a.S is { } s) return Map(b, v => Mul(s, v));
        if (b.S is { } t) return Map(a, v => Mul(v, t));
        var m1 = a.M!; var m2 = b.M!;
        if (m1.GetLength(1) != m2.GetLength(0)) throw new NotEvaluableException("matrix shapes");
        var r = new Scalar[m1.GetLength(0), m2.GetLength(1)];
        for (int i = 0; i < r.GetLength(0); i++)
            for (int j = 0; j < r.GetLength(1); j++)
            {
                var acc = new Scalar(BigRational.Zero);
                for (int k = 0; k < m1.GetLength(1); k++) acc = Add(acc, Mul(m1[i, k], m2[k, j]));
                r[i, j] = acc;
            }
        return new(r);
    }

    public static Scalar Add(Scalar a, Scalar b)
    {
        if (a.Exact is { } x && b.Exact is { } y) return new Scalar(x + y);
        var r = a.Approx + b.Approx;
        return new Scalar(r, a.ErrorScale + b.ErrorScale);
    }

    public static Scalar Mul(Scalar a, Scalar b)
    {
        if (a.Exact is { } x && b.Exact is { } y) return new Scalar(x * y);
        var r = a.Approx * b.Approx;
        return new Scalar(r, a.ErrorScale * b.Magnitude + b.ErrorScale * a.Magnitude);
    }

    static Scalar Negate(Scalar a) => a.Exact is { } e ? new Scalar(-e) : new Scalar(-a.Approx, a.ErrorScale);

    static Scalar Div(Scalar a, Scalar b)
    {
        if (b.Exact is { IsZero: true }) throw new UndefinedException();
        if (a.Exact is { } x && b.Exact is { } y) return new Scalar(x / y);
        if (b.Approx == Complex.Zero || b.IsZeroWithinError) throw new UndefinedException();
        var r = a.Approx / b.Approx;
        return new Scalar(r, (a.ErrorScale + Complex.Abs(r) * b.ErrorScale) / b.Magnitude);
    }

    /// <summary>f(x) computed in doubles: its error is |f'(x)| times x's, plus its own rounding.</summary>
    static Scalar Derived(Complex result, Scalar x, double derivative) =>
        new(result, Complex.Abs(result) + (double.IsFinite(derivative) ? derivative : double.PositiveInfinity) * x.ErrorScale);

    static Scalar Pow(Scalar b, Scalar e)
    {
        if (b.Exact is { } bx && e.Exact is { } ex)
        {
            if (ex.IsInteger)
            {
                if (bx.IsZero && ex.Sign < 0) throw new UndefinedException();
                if (BigRational.Pow(bx, ex.Num) is { } r) return new Scalar(r);
            }
            else if (ex.Den <= 12 && BigRational.Root(bx, (int)ex.Den) is { } root && BigRational.Pow(root, ex.Num) is { } r2)
                return new Scalar(r2);
        }
        // A real negative base with a rational exponent of odd denominator: the real root, as for \sqrt[3]{-8}.
        if (e.Exact is { } q && !q.IsInteger && q.Den <= 1000 && !q.Den.IsEven && b.IsReal && b.Approx.Real < 0)
        {
            double mag = Math.Pow(-b.Approx.Real, q.ToDouble());
            var real = new Complex(q.Num.IsEven ? mag : -mag, 0);
            return new Scalar(real, mag * Math.Abs(q.ToDouble()) * b.ErrorScale / b.Magnitude);
        }
        if (b.Approx == Complex.Zero)
        {
            if (e.IsReal && e.Approx.Real > 0) return new Scalar(BigRational.Zero);
            throw new UndefinedException();
        }
        Complex result = e.Exact is { IsInteger: true } n && BigInteger.Abs(n.Num) <= 64
            ? Complex.Pow(b.Approx, (double)n.Num)
            : Complex.Pow(b.Approx, e.Approx);
        double magnitude = Complex.Abs(result);
        double err = magnitude * (Complex.Abs(e.Approx) * b.ErrorScale / b.Magnitude + Complex.Abs(Complex.Log(b.Approx)) * (e.Exact is null ? e.ErrorScale : 0));
        return new Scalar(result, err);
    }

    static Value Function(MathNode n, IReadOnlyDictionary<string, Scalar> env)
    {
        switch (n.Name)
        {
            case "sqrt":
            {
                var x = ScalarOf(n.Children[0], env);
                if (x.Exact is { } ex && BigRational.Root(ex, 2) is { } r) return new(new Scalar(r));
                var root = Complex.Sqrt(x.Approx);
                if (root == Complex.Zero) return new(new Scalar(root, Math.Sqrt(x.ErrorScale)));
                return new(Derived(root, x, 0.5 / Complex.Abs(root)));
            }
            case "root":
            {
                var idx = ScalarOf(n.Children[0], env);
                if (idx.Exact is not { IsInteger: true } k || k.Sign <= 0 || k.Num > 1000) throw new NotEvaluableException("root index");
                var x = ScalarOf(n.Children[1], env);
                return new(Pow(x, new Scalar(new BigRational(1, k.Num))));
            }
            case "abs":
            {
                var v = Evaluate(n.Children[0], env);
                if (v.S is not { } x) throw new NotEvaluableException("determinant as |A|");
                if (x.Exact is { } ex) return new(new Scalar(ex.Sign < 0 ? -ex : ex));
                return new(new Scalar(new Complex(Complex.Abs(x.Approx), 0), x.ErrorScale));
            }
            case "fact":
            {
                var x = ScalarOf(n.Children[0], env);
                if (x.Exact is not { IsInteger: true } k || k.Sign < 0 || k.Num > 5000) throw new NotEvaluableException("factorial of a non-integer");
                BigInteger f = BigInteger.One;
                for (int j = 2; j <= (int)k.Num; j++) f *= j;
                return new(new Scalar(BigRational.FromInteger(f)));
            }
            case "binom":
            {
                var a = ScalarOf(n.Children[0], env);
                var b = ScalarOf(n.Children[1], env);
                if (a.Exact is not { IsInteger: true } na || b.Exact is not { IsInteger: true } kb || na.Num > 100_000)
                    throw new NotEvaluableException("binomial of non-integers");
                if (kb.Sign < 0 || kb.Num > na.Num) return new(new Scalar(BigRational.Zero));
                BigInteger r = BigInteger.One;
                int nn = (int)na.Num, kk = (int)kb.Num;
                for (int j = 1; j <= kk; j++) r = r * (nn - kk + j) / j;
                return new(new Scalar(BigRational.FromInteger(r)));
            }
            case "floor":
            case "ceil":
            {
                var x = ScalarOf(n.Children[0], env);
                if (x.Exact is { } ex)
                {
                    var q = BigInteger.DivRem(ex.Num, ex.Den, out var rem);
                    if (!rem.IsZero && ex.Sign < 0 && n.Name == "floor") q -= 1;
                    if (!rem.IsZero && ex.Sign > 0 && n.Name == "ceil") q += 1;
                    return new(new Scalar(BigRational.FromInteger(q)));
                }
                if (!x.IsReal) throw new UndefinedException();
                double fl = n.Name == "floor" ? Math.Floor(x.Approx.Real) : Math.Ceiling(x.Approx.Real);
                // Too close to an integer to tell which side the exact value is on.
                if (Math.Abs(x.Approx.Real - Math.Round(x.Approx.Real)) <= 64 * 2.220446049250313e-16 * x.ErrorScale) throw new UndefinedException();
                return new(new Scalar(BigRational.FromInteger(new BigInteger(fl))));
            }
            case "sum":
            case "prod":
            {
                string variable = n.Children[0].Name;
                var lo = ScalarOf(n.Children[1], env);
                var hi = ScalarOf(n.Children[2], env);
                if (lo.Exact is not { IsInteger: true } a || hi.Exact is not { IsInteger: true } b || b.Num - a.Num > 10_000)
                    throw new NotEvaluableException("sum bounds");
                var inner = new Dictionary<string, Scalar>(env);
                var acc = new Scalar(n.Name == "sum" ? BigRational.Zero : BigRational.One);
                for (var k = a.Num; k <= b.Num; k++)
                {
                    inner[variable] = new Scalar(BigRational.FromInteger(k));
                    var term = ScalarOf(n.Children[3], inner);
                    acc = n.Name == "sum" ? Add(acc, term) : Mul(acc, term);
                }
                return new(acc);
            }
            case "det":
            {
                var v = Evaluate(n.Children[0], env);
                if (v.M is not { } m || m.GetLength(0) != m.GetLength(1)) throw new NotEvaluableException("det");
                return new(Determinant(m));
            }
            case "logb":
            {
                var b = ScalarOf(n.Children[0], env);
                var x = ScalarOf(n.Children[1], env);
                if (x.Approx == Complex.Zero || b.Approx == Complex.Zero || b.Approx == Complex.One) throw new UndefinedException();
                var r = Complex.Log(x.Approx) / Complex.Log(b.Approx);
                // log_2 8 = 3 exactly when the rounding says so: exact powers keep exact answers.
                if (b.Exact is { } be && x.Exact is { } xe && Math.Abs(r.Imaginary) < 1e-12)
                {
                    var rounded = Math.Round(r.Real);
                    if (Math.Abs(r.Real - rounded) < 1e-9 && Math.Abs(rounded) < 10_000 && BigRational.Pow(be, new BigInteger(rounded)) is { } p && p.Equals(xe))
                        return new(new Scalar(BigRational.FromInteger(new BigInteger(rounded))));
                }
                return new(new Scalar(r, Complex.Abs(r) + (x.ErrorScale / x.Magnitude + Complex.Abs(r) * b.ErrorScale / b.Magnitude) / Complex.Abs(Complex.Log(b.Approx))));
            }
        }
        var arg = ScalarOf(n.Children[0], env);
        Complex z = arg.Approx;
        Complex result = n.Name switch
        {
            "sin" => Complex.Sin(z),
            "cos" => Complex.Cos(z),
            "tan" => Complex.Tan(z),
            "sec" => 1 / Complex.Cos(z),
            "csc" => 1 / Complex.Sin(z),
            "cot" => Complex.Cos(z) / Complex.Sin(z),
            "arcsin" => Complex.Asin(z),
            "arccos" => Complex.Acos(z),
            "arctan" => Complex.Atan(z),
            "sinh" => Complex.Sinh(z),
            "cosh" => Complex.Cosh(z),
            "tanh" => Complex.Tanh(z),
            "log" or "ln" => z == Complex.Zero ? throw new UndefinedException() : Complex.Log(z),
            "log10" => z == Complex.Zero ? throw new UndefinedException() : Complex.Log10(z),
            "exp" => Complex.Exp(z),
            _ => throw new NotEvaluableException($"function {n.Name}"),
        };
        // sin 0, cos 0, ln 1, e^0: exact values where the argument is exactly 0 (or 1 for log).
        if (arg.Exact is { } ax && ((ax.IsZero && n.Name is "sin" or "tan" or "arcsin" or "arctan" or "sinh" or "tanh") || (ax.Equals(BigRational.One) && n.Name is "log" or "ln" or "log10")))
            return new(new Scalar(BigRational.Zero));
        if (arg.Exact is { IsZero: true } && n.Name is "cos" or "cosh" or "exp" or "sec")
            return new(new Scalar(BigRational.One));
        double az = Complex.Abs(z), ar = Complex.Abs(result);
        double derivative = n.Name switch
        {
            "sin" or "cos" => Complex.Abs(Complex.Cosh(new Complex(z.Imaginary, 0))),
            "tan" or "sec" or "csc" or "cot" => 1 + ar * ar,
            "arcsin" or "arccos" => 1 / Math.Sqrt(Math.Max(Complex.Abs(1 - z * z), 1e-300)),
            "arctan" => 1 / Math.Max(Complex.Abs(1 + z * z), 1e-300),
            "sinh" or "cosh" => Complex.Abs(Complex.Cosh(z)) + ar,
            "tanh" => 1,
            "log" or "ln" or "log10" => 1 / Math.Max(az, 1e-300),
            "exp" => ar,
            _ => double.PositiveInfinity,
        };
        return new(Derived(result, arg, derivative));
    }

    static Scalar Determinant(Scalar[,] m)
    {
        int n = m.GetLength(0);
        if (n == 1) return m[0, 0];
        var acc = new Scalar(BigRational.Zero);
        for (int c = 0; c < n; c++)
        {
            var minor = new Scalar[n - 1, n - 1];
            for (int i = 1; i < n; i++)
                for (int j = 0, jj = 0; j < n; j++)
                    if (j != c) minor[i - 1, jj++] = m[i, j];
            var term = Mul(m[0, c], Determinant(minor));
            if (c % 2 == 1) term = Negate(term);
            acc = Add(acc, term);
        }
        return acc;
    }
}
