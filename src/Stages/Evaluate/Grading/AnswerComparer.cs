using System.Numerics;

namespace IwSft.Stages.Evaluate.Grading;

/// <summary>
/// Compares two parsed answers (gold first). The rules, in order: identical canonical forms; relations
/// (labelled answers, equations up to a constant factor, inequalities in either direction, an inequality
/// against an interval); lists and sets without order; tuples and intervals element by element; unions;
/// then expressions by value — exactly when both sides are rational, else at fixed sample points.
/// </summary>
internal sealed class AnswerComparer(MathEquivalenceOptions options)
{
    /// <summary>Relative agreement required of two values computed in floating point from exact inputs.</summary>
    public const double FloatingPointTolerance = 1e-9;

    /// <summary>Sample points per symbolic comparison, and how many must be defined and agree.</summary>
    const int PointSets = 6, RequiredAgreements = 3;

    public bool Equivalent(MathNode gold, MathNode pred, int depth = 0)
    {
        if (depth > 12) return false;
        gold = Prepare(gold);
        pred = Prepare(pred);
        if (!(options.OrderedLists && (gold.Kind == NodeKind.List || pred.Kind == NodeKind.List)) && gold.Canonical() == pred.Canonical()) return true;
        if (gold.Kind == NodeKind.Relation || pred.Kind == NodeKind.Relation) return Relations(gold, pred, depth);
        if (gold.IsCollection || pred.IsCollection) return Collections(gold, pred, depth);
        if (gold.Kind == NodeKind.Tuple || pred.Kind == NodeKind.Tuple) return Tuples(gold, pred, depth);
        if (gold.Kind == NodeKind.Matrix && pred.Kind == NodeKind.Matrix)
            return gold.Rows == pred.Rows && gold.Columns == pred.Columns
                && gold.Children.Zip(pred.Children).All(x => Equivalent(x.First, x.Second, depth + 1));
        if (gold.Kind == NodeKind.Union || pred.Kind == NodeKind.Union)
            return Matching(Parts(gold, NodeKind.Union), Parts(pred, NodeKind.Union), ordered: false, depth);
        return Expressions(gold, pred);
    }

    // ---- preparation ----

    /// <summary>± expanded into the two answers; "x \in S" read as S; an approximation at the end of a chain dropped.</summary>
    static MathNode Prepare(MathNode n)
    {
        if (n.HasPlusMinus)
        {
            if (n.IsCollection) n = n.WithChildren(n.Children.SelectMany(Expand).ToList());
            else
            {
                var alternatives = Expand(n);
                n = alternatives.Count == 1 ? alternatives[0] : MathNode.List(alternatives);
            }
        }
        if (n.Kind == NodeKind.Relation)
        {
            if (n.Ops.Count == 1 && n.Ops[0] == "in") return n.Children[1];
            int approx = IndexOf(n.Ops, "~");
            if (approx == 0) n = MathNode.Relation(n.Children, n.Ops.Select(o => o == "~" ? "=" : o).ToList());
            else if (approx > 0) n = MathNode.Relation(n.Children.Take(approx + 1).ToList(), n.Ops.Take(approx).ToList());
        }
        return n;
    }

    static int IndexOf(IReadOnlyList<string> ops, string op)
    {
        for (int i = 0; i < ops.Count; i++) if (ops[i] == op) return i;
        return -1;
    }

    /// <summary>The answers an expression with ± stands for (at most 16).</summary>
    static List<MathNode> Expand(MathNode n)
    {
        if (!n.HasPlusMinus) return [n];
        if (n.Kind == NodeKind.PlusMinus)
        {
            var result = new List<MathNode>();
            foreach (var a in Expand(n.Children[0]))
                foreach (var b in Expand(n.Children[1]))
                {
                    bool prefix = a.Kind == NodeKind.Number && a.Value.IsZero && !a.Decimal;
                    result.Add(prefix ? b : MathNode.Add([a, b]));
                    result.Add(prefix ? MathNode.Negate(b) : MathNode.Add([a, MathNode.Negate(b)]));
                }
            return result.Take(16).ToList();
        }
        var combos = new List<List<MathNode>> { new() };
        foreach (var c in n.Children)
        {
            var options = Expand(c);
            combos = combos.SelectMany(prefix => options.Select(o => new List<MathNode>(prefix) { o })).Take(16).ToList();
        }
        return combos.Select(children => n.WithChildren(children)).ToList();
    }

    static IReadOnlyList<MathNode> Parts(MathNode n, NodeKind kind) => n.Kind == kind ? n.Children : [n];

    // ---- lists, sets, tuples ----

    bool Collections(MathNode gold, MathNode pred, int depth)
    {
        IReadOnlyList<MathNode> g = gold.IsCollection ? gold.Children : [gold];
        IReadOnlyList<MathNode> p = pred.IsCollection ? pred.Children : [pred];
        bool ordered = options.OrderedLists && gold.Kind == NodeKind.List && pred.Kind == NodeKind.List;
        if (!ordered)
        {
            // Set semantics, as Math-Verify's: an answer written twice counts once ("2, 3, 3" is {2, 3}).
            g = g.DistinctBy(x => x.Canonical()).ToList();
            p = p.DistinctBy(x => x.Canonical()).ToList();
        }
        return Matching(g, p, ordered, depth);
    }

    /// <summary>Every gold element matched by a distinct predicted one (in order when asked).</summary>
    bool Matching(IReadOnlyList<MathNode> g, IReadOnlyList<MathNode> p, bool ordered, int depth)
    {
        if (g.Count != p.Count || g.Count == 0) return g.Count == 0 && p.Count == 0;
        if (ordered) return g.Zip(p).All(x => Equivalent(x.First, x.Second, depth + 1));
        if (g.Count > 64) return false;
        var eq = new bool[g.Count, p.Count];
        for (int i = 0; i < g.Count; i++)
        {
            bool any = false;
            for (int j = 0; j < p.Count; j++) any |= eq[i, j] = Equivalent(g[i], p[j], depth + 1);
            if (!any) return false;
        }
        // Bipartite matching by augmenting paths.
        var matchOfPred = Enumerable.Repeat(-1, p.Count).ToArray();
        for (int i = 0; i < g.Count; i++)
            if (!Augment(i, eq, matchOfPred, new bool[p.Count])) return false;
        return true;
    }

    static bool Augment(int i, bool[,] eq, int[] matchOfPred, bool[] seen)
    {
        for (int j = 0; j < matchOfPred.Length; j++)
        {
            if (!eq[i, j] || seen[j]) continue;
            seen[j] = true;
            if (matchOfPred[j] < 0 || Augment(matchOfPred[j], eq, matchOfPred, seen))
            {
                matchOfPred[j] = i;
                return true;
            }
        }
        return false;
    }

    bool Tuples(MathNode gold, MathNode pred, int depth)
    {
        if (gold.Kind != NodeKind.Tuple || pred.Kind != NodeKind.Tuple) return false;
        bool bracketsAgree = gold.Name == pred.Name || gold.Name.Length == 0 || pred.Name.Length == 0;
        return bracketsAgree && gold.Children.Count == pred.Children.Count
            && gold.Children.Zip(pred.Children).All(x => Equivalent(x.First, x.Second, depth + 1));
    }

    // ---- relations ----

    bool Relations(MathNode gold, MathNode pred, int depth)
    {
        bool gr = gold.Kind == NodeKind.Relation, pr = pred.Kind == NodeKind.Relation;
        if (gr && pr) return RelationPair(gold, pred, depth);
        if (pr)
        {
            // The gold is a value: a predicted assignment or calculation counts by its last side
            // ("x = 5+6 = 11", "2 + 9 = 11" for 11); an equation in unknowns ("5x - 7y = 0") does not.
            if (IsAssignment(pred) || (IsEquation(pred) && pred.Children.Take(pred.Children.Count - 1).All(IsConstant)))
                return Equivalent(gold, pred.Children[^1], depth + 1);
            if (IsSetLike(gold) && options.AllowSetRelationComparison && AsSet(pred) is { } ps) return Equivalent(gold, ps, depth + 1);
            return false;
        }
        // The gold is a relation and the prediction is not: a labelled gold ("k = 1") counts by its value;
        // an inequality matches the interval it describes.
        if (IsAssignment(gold)) return Equivalent(gold.Children[^1], pred, depth + 1);
        if (IsSetLike(pred) && AsSet(gold) is { } gs) return Equivalent(gs, pred, depth + 1);
        return false;
    }

    static bool IsEquation(MathNode rel) => rel.Ops.All(o => o == "=");

    /// <summary>"x = 5", "(p,q) = (3,2)", "x = 5+5+1 = 11": an equation chain with a label before its last part.</summary>
    static bool IsAssignment(MathNode rel) =>
        rel.Kind == NodeKind.Relation && IsEquation(rel) && rel.Children.Take(rel.Children.Count - 1).Any(IsLabel);

    static MathNode? LabelOf(MathNode rel) => rel.Children.Take(rel.Children.Count - 1).FirstOrDefault(IsLabel);

    /// <summary>A name rather than a value: a variable, a word, f(x), |AB|, AB/CD, (p,q), a_3.</summary>
    static bool IsLabel(MathNode n) => n.Kind switch
    {
        NodeKind.Symbol => n.Name != "i",
        NodeKind.Multiply => n.Children.All(IsLabel),
        NodeKind.Divide => IsLabel(n.Children[0]) && IsLabel(n.Children[1]),
        NodeKind.Tuple => n.Children.All(IsLabel),
        NodeKind.Function => n.Name is "abs" or "norm" or "sub" && IsLabel(n.Children[0]),
        _ => false,
    };

    static bool IsConstant(MathNode n)
    {
        var s = new HashSet<string>();
        n.CollectSymbols(s);
        return s.Count == 0;
    }

    static bool IsSetLike(MathNode n) =>
        n.Kind is NodeKind.Union or NodeKind.Set || (n.Kind == NodeKind.Tuple && n.Children.Count == 2 && n.Name is "()" or "[]" or "(]" or "[)");

    /// <summary>An inequality (chain) in one quantity as an interval: 1 &lt; x ≤ 2 → (1, 2]; x ≥ 5 → [5, ∞).</summary>
    static MathNode? AsSet(MathNode rel)
    {
        if (rel.Ops.Any(o => o is not ("<" or "<=" or ">" or ">="))) return null;
        var parts = rel.Children.ToList();
        var ops = rel.Ops.ToList();
        if (ops.All(o => o is ">" or ">="))
        {
            parts.Reverse();
            ops.Reverse();
            ops = ops.Select(o => o == ">" ? "<" : "<=").ToList();
        }
        else if (!ops.All(o => o is "<" or "<=")) return null;
        var inf = MathNode.Constant("inf");
        if (parts.Count == 2)
        {
            if (!IsConstant(parts[0]) && IsConstant(parts[1]))
                return MathNode.Tuple("(" + (ops[0] == "<" ? ")" : "]"), [MathNode.Negate(inf), parts[1]]);
            if (IsConstant(parts[0]) && !IsConstant(parts[1]))
                return MathNode.Tuple((ops[0] == "<" ? "(" : "[") + ")", [parts[0], inf]);
            return null;
        }
        if (parts.Count == 3 && IsConstant(parts[0]) && !IsConstant(parts[1]) && IsConstant(parts[2]))
            return MathNode.Tuple((ops[0] == "<" ? "(" : "[") + (ops[1] == "<" ? ")" : "]"), [parts[0], parts[2]]);
        return null;
    }

    bool RelationPair(MathNode gold, MathNode pred, int depth)
    {
        bool ga = IsAssignment(gold), pa = IsAssignment(pred);
        if (ga && pa)
        {
            // x = 1 and y = 1 differ; the labels must agree (unless variables are not strict).
            bool sameLabel = !options.StrictVariables || LabelOf(gold)!.Canonical() == LabelOf(pred)!.Canonical();
            return sameLabel && Equivalent(gold.Children[^1], pred.Children[^1], depth + 1);
        }
        var g = Binary(gold);
        var p = Binary(pred);
        if (g is null || p is null || g.Count != p.Count) return false;
        for (int k = 0; k < g.Count; k++)
            if (!BinaryRelationsEqual(g[k], p[k], depth)) return false;
        return true;
    }

    /// <summary>A chain as binary relations, oriented with &lt; / ≤ (a &gt; b becomes b &lt; a); an assignment as label = value.</summary>
    static List<(MathNode L, string Op, MathNode R)>? Binary(MathNode rel)
    {
        if (IsAssignment(rel)) return [(LabelOf(rel)!, "=", rel.Children[^1])];
        var parts = rel.Children.ToList();
        var ops = rel.Ops.ToList();
        if (ops.Any(o => o == "in")) return null;
        // a > b > c is c < b < a; a single a > b is b < a.
        bool reversed = ops.All(o => o is ">" or ">=");
        if (reversed)
        {
            parts.Reverse();
            ops.Reverse();
        }
        var result = new List<(MathNode, string, MathNode)>();
        for (int k = 0; k < ops.Count; k++)
        {
            var (l, op, r) = (parts[k], ops[k], parts[k + 1]);
            if (reversed) op = op == ">" ? "<" : "<=";
            result.Add((l, op, r));
        }
        return result;
    }

    bool BinaryRelationsEqual((MathNode L, string Op, MathNode R) g, (MathNode L, string Op, MathNode R) p, int depth)
    {
        if (g.Op != p.Op) return false;
        var symbols = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var n in new[] { g.L, g.R, p.L, p.R }) n.CollectSymbols(symbols);
        bool symmetric = g.Op is "=" or "!=";
        if (symbols.Count == 0)
        {
            if (Equivalent(g.L, p.L, depth + 1) && Equivalent(g.R, p.R, depth + 1)) return true;
            return symmetric && Equivalent(g.L, p.R, depth + 1) && Equivalent(g.R, p.L, depth + 1);
        }
        // Same relation up to a constant factor: 2x + 4y - 3 = 0 and y = -x/2 + 3/4; x < 1 and -x > -1.
        var dg = MathNode.Add([g.L, MathNode.Negate(g.R)]);
        var dp = MathNode.Add([p.L, MathNode.Negate(p.R)]);
        return Proportional(dg, dp, positiveOnly: !symmetric);
    }

    bool Proportional(MathNode a, MathNode b, bool positiveOnly)
    {
        if (!options.StrictVariables) b = RenameToGold(a, b);
        var symbols = SymbolsOf(a, b);
        Complex? ratio = null;
        int agreements = 0;
        for (int k = 0; k < PointSets; k++)
        {
            var env = SamplePoint(symbols, k);
            Scalar sa, sb;
            try
            {
                if (MathEvaluator.Evaluate(a, env).S is not { } x || MathEvaluator.Evaluate(b, env).S is not { } y) return false;
                (sa, sb) = (x, y);
            }
            catch (NotEvaluableException) { return false; }
            catch (UndefinedException) { continue; }
            if (!sa.IsFinite || !sb.IsFinite) continue;
            bool za = sa.IsZeroWithinError, zb = sb.IsZeroWithinError;
            if (za || zb)
            {
                if (za && zb) continue;
                return false;
            }
            var r = sa.Approx / sb.Approx;
            if (ratio is null)
            {
                ratio = r;
                if (positiveOnly && (Math.Abs(r.Imaginary) > 1e-9 * Complex.Abs(r) || r.Real <= 0)) return false;
            }
            else if (!Close(ratio.Value, r, FloatingPointTolerance)) return false;
            agreements++;
        }
        return agreements >= RequiredAgreements;
    }

    // ---- expressions ----

    bool Expressions(MathNode gold, MathNode pred)
    {
        var symbols = SymbolsOf(gold, pred);
        if (!options.StrictVariables) { pred = RenameToGold(gold, pred); symbols = SymbolsOf(gold, pred); }
        if (symbols.Count == 0)
        {
            Value vg, vp;
            try
            {
                vg = MathEvaluator.Evaluate(gold, Empty);
                vp = MathEvaluator.Evaluate(pred, Empty);
            }
            catch (NotEvaluableException) { return false; }
            catch (UndefinedException) { return false; }
            if (vg.S is { } x && vp.S is { } y)
            {
                // A decimal standing for a value it rounds: 0.333333 for 1/3, 1.414214 for √2.
                if (BareDecimal(gold) is { } gd && BareDecimal(pred) is null && Approximates(gd, y)) return true;
                if (BareDecimal(pred) is { } pd && BareDecimal(gold) is null && Approximates(pd, x)) return true;
            }
            return ValuesEqual(vg, vp);
        }
        int agreements = 0;
        for (int k = 0; k < PointSets; k++)
        {
            var env = SamplePoint(symbols, k);
            Value vg, vp;
            try
            {
                vg = MathEvaluator.Evaluate(gold, env);
                vp = MathEvaluator.Evaluate(pred, env);
            }
            catch (NotEvaluableException) { return false; }
            catch (UndefinedException) { continue; }
            if (!AllFinite(vg) || !AllFinite(vp)) continue;
            if (!ValuesEqual(vg, vp)) return false;
            agreements++;
        }
        return agreements >= RequiredAgreements;
    }

    static readonly Dictionary<string, Scalar> Empty = new();

    static bool ValuesEqual(Value a, Value b)
    {
        if (a.S is { } x && b.S is { } y) return ScalarsEqual(x, y);
        if (a.M is { } m && b.M is { } n && m.GetLength(0) == n.GetLength(0) && m.GetLength(1) == n.GetLength(1))
        {
            for (int i = 0; i < m.GetLength(0); i++)
                for (int j = 0; j < m.GetLength(1); j++)
                    if (!ScalarsEqual(m[i, j], n[i, j])) return false;
            return true;
        }
        return false;
    }

    /// <summary>
    /// Exact values compare exactly; values known only in floating point agree within
    /// <see cref="FloatingPointTolerance"/> (relative) plus their propagated rounding error.
    /// </summary>
    static bool ScalarsEqual(Scalar x, Scalar y)
    {
        if (x.Exact is { } ex && y.Exact is { } ey) return ex.Equals(ey);
        if (!x.IsFinite || !y.IsFinite) return false;
        // Relative agreement, plus the rounding error carried by each side (sin π is 1.2e-16, not 0, in doubles).
        double slack = 64 * 2.220446049250313e-16 * (x.ErrorScale + y.ErrorScale);
        return Complex.Abs(x.Approx - y.Approx) <= FloatingPointTolerance * Math.Max(x.Magnitude, y.Magnitude) + slack;
    }

    /// <summary>A number written with a decimal point or exponent, possibly negated: the node of the number and its sign.</summary>
    static (MathNode Number, bool Negative)? BareDecimal(MathNode n)
    {
        bool negative = false;
        while (n.Kind == NodeKind.Negate) { negative = !negative; n = n.Children[0]; }
        return n.Kind == NodeKind.Number && n.Decimal ? (n, negative) : null;
    }

    /// <summary>The decimal places (and significant digits) a decimal must carry to stand for a value: 6 for a tolerance of 1e-6.</summary>
    int RequiredDigits => Math.Max(0, (int)Math.Round(-Math.Log10(options.RelativeTolerance)));

    /// <summary>
    /// Whether a written decimal is <paramref name="value"/> rounded to the decimal's own places, written to
    /// at least <see cref="RequiredDigits"/> decimal places and significant digits, and the value has no
    /// finite decimal expansion (an exact decimal must be written exactly: 3.0000001 is not 3).
    /// </summary>
    bool Approximates((MathNode Number, bool Negative) d, Scalar value)
    {
        int required = RequiredDigits;
        var n = d.Number;
        if (n.Places < required || n.SignificantDigits < required) return false;
        var dv = d.Negative ? -n.Value : n.Value;
        if (value.Exact is { } exact)
        {
            if (exact.IsTerminatingDecimal || n.Places > 400) return false;
            // round(value · 10^places) half away from zero, compared with the decimal's digits.
            var scale = BigInteger.Pow(10, n.Places);
            var scaled = exact * BigRational.FromInteger(scale);
            var twice = BigInteger.Abs(scaled.Num) * 2 + scaled.Den;
            var rounded = twice / (2 * scaled.Den) * scaled.Num.Sign;
            var target = dv * BigRational.FromInteger(scale);
            return target.IsInteger && target.Num == rounded;
        }
        if (!value.IsReal || !value.IsFinite) return false;
        double v = value.Approx.Real, dd = dv.ToDouble();
        return Math.Abs(dd - v) <= 0.5 * Math.Pow(10, -n.Places) + 4 * double.Epsilon + 1e-15 * Math.Max(1, Math.Abs(v));
    }

    static bool Close(Complex a, Complex b, double tol) =>
        Complex.Abs(a - b) <= tol * Math.Max(1, Math.Max(Complex.Abs(a), Complex.Abs(b)));

    static bool Finite(Complex z) => double.IsFinite(z.Real) && double.IsFinite(z.Imaginary);

    static bool AllFinite(Value v)
    {
        if (v.S is { } s) return s.IsFinite;
        foreach (var x in v.M!) if (!x.IsFinite) return false;
        return true;
    }

    static SortedSet<string> SymbolsOf(MathNode a, MathNode b)
    {
        var s = new SortedSet<string>(StringComparer.Ordinal);
        a.CollectSymbols(s);
        b.CollectSymbols(s);
        return s;
    }

    /// <summary>Non-strict mode: the prediction's variables renamed to the gold's, in sorted order, when there are as many.</summary>
    static MathNode RenameToGold(MathNode gold, MathNode pred)
    {
        var gs = new SortedSet<string>(StringComparer.Ordinal); gold.CollectSymbols(gs);
        var ps = new SortedSet<string>(StringComparer.Ordinal); pred.CollectSymbols(ps);
        if (gs.Count != ps.Count || gs.SetEquals(ps)) return pred;
        var map = ps.Zip(gs).ToDictionary(x => x.First, x => x.Second);
        return Rename(pred, map);
    }

    static MathNode Rename(MathNode n, IReadOnlyDictionary<string, string> map)
    {
        if (n.Kind == NodeKind.Symbol) return map.TryGetValue(n.Name, out var to) ? MathNode.Symbol(to) : n;
        if (n.Children.Count == 0) return n;
        return n.WithChildren(n.Children.Select(c => Rename(c, map)).ToList());
    }

    /// <summary>
    /// Fixed sample points (no randomness: grading is part of results that are cached): positive reals,
    /// mixed signs, negative reals and complex values, each symbol a different value.
    /// </summary>
    internal static Dictionary<string, Scalar> SamplePoint(IEnumerable<string> symbols, int set)
    {
        var env = new Dictionary<string, Scalar>(StringComparer.Ordinal);
        int j = 0;
        foreach (var name in symbols)
        {
            double u = Frac(0.5 + (j + 1) * 0.6180339887498949 + (set + 1) * 0.7548776662466927);
            double w = Frac(0.25 + (j + 1) * 0.4142135623730950 + (set + 1) * 0.3247179572447460);
            Complex v = set switch
            {
                0 or 1 => new(0.6 + 1.9 * u, 0),
                2 => new((j % 2 == 0 ? -1 : 1) * (0.4 + 1.7 * u), 0),
                3 => new(-(0.5 + 1.5 * u), 0),
                _ => new(0.5 + 1.5 * u, 0.3 + 1.1 * w),
            };
            env[name] = new Scalar(v);
            j++;
        }
        return env;
    }

    static double Frac(double x) => x - Math.Floor(x);
}
