using System.Text;

namespace IwSft.Stages.Evaluate.Grading;

internal enum NodeKind
{
    /// <summary>An exact number (<see cref="MathNode.Value"/>); <see cref="MathNode.Decimal"/> when written with a point or exponent.</summary>
    Number,
    /// <summary>A variable, a word, or an opaque command (<see cref="MathNode.Name"/>).</summary>
    Symbol,
    /// <summary>pi, e (Euler's number, only from \mathrm{e} or \exp), inf.</summary>
    Constant,
    Add,
    Negate,
    Multiply,
    Divide,
    Power,
    /// <summary>A function application: sqrt, root (index, radicand), sin, ..., abs, fact, binom, floor, ceil, log, sum, prod.</summary>
    Function,
    /// <summary>a ± b (Children: a, b); a prefix ± has a Number 0 as a.</summary>
    PlusMinus,
    /// <summary>A bracketed sequence: tuple, point or interval; <see cref="MathNode.Name"/> holds the two brackets ("()", "[)", ...) or "" when implicit.</summary>
    Tuple,
    /// <summary>\{a, b\} or {a, b}: a set, compared without order.</summary>
    Set,
    /// <summary>Answers separated by commas, semicolons, "and", "or": compared without order by default.</summary>
    List,
    /// <summary>A ∪ B.</summary>
    Union,
    /// <summary>A matrix (<see cref="MathNode.Rows"/> × <see cref="MathNode.Columns"/>, children row by row).</summary>
    Matrix,
    /// <summary>A relation chain: Children are the parts, <see cref="MathNode.Ops"/> the operators between them.</summary>
    Relation,
}

/// <summary>A parsed answer. Immutable after construction.</summary>
internal sealed class MathNode
{
    public NodeKind Kind { get; }
    public IReadOnlyList<MathNode> Children { get; }
    public string Name { get; }
    public BigRational Value { get; }
    public bool Decimal { get; }
    public IReadOnlyList<string> Ops { get; }
    public int Rows { get; }
    public int Columns { get; }
    /// <summary>For a number written as a decimal: digits after the point as written (4.5e33: -32; 1e-8: 8).</summary>
    public int Places { get; }
    /// <summary>For a number written as a decimal: its significant digits as written (0.0330: 3).</summary>
    public int SignificantDigits { get; }

    MathNode(NodeKind kind, IReadOnlyList<MathNode>? children = null, string name = "", BigRational value = default,
        bool isDecimal = false, IReadOnlyList<string>? ops = null, int rows = 0, int columns = 0, int places = 0, int significant = 0)
    {
        Places = places;
        SignificantDigits = significant;
        Kind = kind;
        Children = children ?? [];
        Name = name;
        Value = value;
        Decimal = isDecimal;
        Ops = ops ?? [];
        Rows = rows;
        Columns = columns;
    }

    public static MathNode Number(BigRational v, bool isDecimal = false, int places = 0, int significant = 0) =>
        new(NodeKind.Number, value: v, isDecimal: isDecimal, places: places, significant: significant);
    public static MathNode Integer(int v) => Number(BigRational.FromInteger(v));
    public static MathNode Symbol(string name) => new(NodeKind.Symbol, name: name);
    public static MathNode Constant(string name) => new(NodeKind.Constant, name: name);
    public static MathNode Add(IReadOnlyList<MathNode> terms) => terms.Count == 1 ? terms[0] : new(NodeKind.Add, terms);
    public static MathNode Negate(MathNode a) => new(NodeKind.Negate, [a]);
    public static MathNode Multiply(IReadOnlyList<MathNode> factors) => factors.Count == 1 ? factors[0] : new(NodeKind.Multiply, factors);
    public static MathNode Divide(MathNode a, MathNode b) => new(NodeKind.Divide, [a, b]);
    public static MathNode Power(MathNode a, MathNode b) => new(NodeKind.Power, [a, b]);
    public static MathNode Function(string name, params MathNode[] args) => new(NodeKind.Function, args, name);
    public static MathNode PlusMinus(MathNode a, MathNode b) => new(NodeKind.PlusMinus, [a, b]);
    public static MathNode Tuple(string brackets, IReadOnlyList<MathNode> items) => new(NodeKind.Tuple, items, brackets);
    public static MathNode Set(IReadOnlyList<MathNode> items) => new(NodeKind.Set, items);
    public static MathNode List(IReadOnlyList<MathNode> items) => items.Count == 1 ? items[0] : new(NodeKind.List, items);
    public static MathNode Union(IReadOnlyList<MathNode> parts) => parts.Count == 1 ? parts[0] : new(NodeKind.Union, parts);
    public static MathNode Matrix(int rows, int columns, IReadOnlyList<MathNode> cells) => new(NodeKind.Matrix, cells, rows: rows, columns: columns);
    public static MathNode Relation(IReadOnlyList<MathNode> parts, IReadOnlyList<string> ops) => new(NodeKind.Relation, parts, ops: ops);

    public MathNode WithChildren(IReadOnlyList<MathNode> children) =>
        new(Kind, children, Name, Value, Decimal, Ops, Rows, Columns, Places, SignificantDigits);

    public bool IsCollection => Kind is NodeKind.List or NodeKind.Set;

    /// <summary>True when a number written with a decimal point or exponent occurs anywhere below.</summary>
    public bool HasDecimal => Decimal || Children.Any(c => c.HasDecimal);

    /// <summary>True when a ± occurs anywhere below.</summary>
    public bool HasPlusMinus => Kind == NodeKind.PlusMinus || Children.Any(c => c.HasPlusMinus);

    public void CollectSymbols(ISet<string> into)
    {
        if (Kind == NodeKind.Symbol && Name != "i") into.Add(Name);
        if (Kind == NodeKind.Function && Name is "sum" or "prod" && Children.Count == 4)
        {
            // The bound variable of a sum is not free.
            var inner = new SortedSet<string>(StringComparer.Ordinal);
            foreach (var c in Children.Skip(1)) c.CollectSymbols(inner);
            inner.Remove(Children[0].Name);
            into.UnionWith(inner);
            return;
        }
        foreach (var c in Children) c.CollectSymbols(into);
    }

    /// <summary>
    /// A canonical text form: children of sums and products sorted, numbers in lowest terms, so that two
    /// answers differing only in term order or in formatting print the same.
    /// </summary>
    public string Canonical()
    {
        if (_canonical is not null) return _canonical;
        var sb = new StringBuilder();
        Write(sb);
        return _canonical = sb.ToString();
    }

    string? _canonical;

    void Write(StringBuilder sb)
    {
        switch (Kind)
        {
            case NodeKind.Number: sb.Append(NumberText(Value)); break;
            case NodeKind.Symbol: sb.Append(Name); break;
            case NodeKind.Constant: sb.Append('\\').Append(Name); break;
            case NodeKind.Add: WriteSorted(sb, "+"); break;
            case NodeKind.Multiply: WriteSorted(sb, "*"); break;
            case NodeKind.Negate: sb.Append("-("); Children[0].Write(sb); sb.Append(')'); break;
            case NodeKind.Divide: sb.Append('('); Children[0].Write(sb); sb.Append(")/("); Children[1].Write(sb); sb.Append(')'); break;
            case NodeKind.Power: sb.Append('('); Children[0].Write(sb); sb.Append(")^("); Children[1].Write(sb); sb.Append(')'); break;
            case NodeKind.PlusMinus: sb.Append('('); Children[0].Write(sb); sb.Append("±"); Children[1].Write(sb); sb.Append(')'); break;
            case NodeKind.Function: WriteSequence(sb, Name + "(", ")", Children, sorted: false); break;
            case NodeKind.Tuple: WriteSequence(sb, "tuple" + (Name.Length == 2 ? Name[0] : '<'), Name.Length == 2 ? Name[1].ToString() : ">", Children, sorted: false); break;
            case NodeKind.Set: WriteSequence(sb, "set{", "}", Children, sorted: true); break;
            case NodeKind.List: WriteSequence(sb, "list{", "}", Children, sorted: true); break;
            case NodeKind.Union: WriteSequence(sb, "union{", "}", Children, sorted: true); break;
            case NodeKind.Matrix: sb.Append("matrix").Append(Rows).Append('x').Append(Columns); WriteSequence(sb, "[", "]", Children, sorted: false); break;
            case NodeKind.Relation:
                for (int i = 0; i < Children.Count; i++)
                {
                    if (i > 0) sb.Append(Ops[i - 1]);
                    Children[i].Write(sb);
                }
                break;
        }
    }

    /// <summary>A terminating value as a decimal (0.5, 1000.99), any other as a fraction (1/3).</summary>
    static string NumberText(BigRational v)
    {
        if (v.IsInteger || !v.IsTerminatingDecimal) return v.ToString();
        var scale = System.Numerics.BigInteger.One;
        int places = 0;
        while (!(v.Num * scale % v.Den).IsZero && places < 400) { scale *= 10; places++; }
        var digits = System.Numerics.BigInteger.Abs(v.Num * scale / v.Den).ToString().PadLeft(places + 1, '0');
        return (v.Sign < 0 ? "-" : "") + digits[..^places] + "." + digits[^places..];
    }

    void WriteSorted(StringBuilder sb, string op)
    {
        var parts = Children.Select(c => c.Canonical()).Order(StringComparer.Ordinal).ToList();
        sb.Append('(').Append(string.Join(op, parts)).Append(')');
    }

    static void WriteSequence(StringBuilder sb, string open, string close, IReadOnlyList<MathNode> items, bool sorted)
    {
        var parts = items.Select(c => c.Canonical());
        if (sorted) parts = parts.Order(StringComparer.Ordinal);
        sb.Append(open).Append(string.Join(",", parts)).Append(close);
    }

    public override string ToString() => Canonical();
}
