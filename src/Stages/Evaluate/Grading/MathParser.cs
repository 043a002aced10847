using System.Text;

namespace IwSft.Stages.Evaluate.Grading;

/// <summary>The parser could not read an answer as mathematics; the grader then compares its text.</summary>
internal sealed class MathParseException(string message) : Exception(message);

/// <summary>
/// A small recursive-descent parser for final answers written in LaTeX or plain text, after
/// <see cref="MathEquivalence"/>'s cleaning: numbers, variables, + - * / ^, \frac, \sqrt, functions,
/// |x|, !, ±, tuples and intervals, sets, unions, matrices, relation chains, and lists separated by
/// commas, semicolons, "and", "or". Our own grammar; it reads what answers contain, not all of LaTeX.
/// </summary>
internal sealed class MathParser
{
    enum T { Number, Word, Command, Op, End }

    readonly record struct Token(T Type, string Text, bool SpaceBefore = false);

    static readonly HashSet<string> FunctionNames =
    [
        "sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "log", "ln", "exp", "lg",
    ];

    static readonly HashSet<string> Greek =
    [
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta", "iota", "kappa",
        "lambda", "mu", "nu", "xi", "rho", "varrho", "sigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega",
        "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega", "ell", "hbar", "nabla", "partial",
    ];

    static readonly Dictionary<string, string> RelationCommands = new()
    {
        ["le"] = "<=", ["leq"] = "<=", ["leqslant"] = "<=", ["ge"] = ">=", ["geq"] = ">=", ["geqslant"] = ">=",
        ["lt"] = "<", ["gt"] = ">", ["ne"] = "!=", ["neq"] = "!=", ["approx"] = "~", ["simeq"] = "~", ["approxeq"] = "~",
        ["equiv"] = "=", ["in"] = "in",
    };

    static readonly HashSet<string> Decorations = ["overline", "vec", "overrightarrow", "hat", "bar", "tilde", "widehat", "underline", "mathbb", "mathcal", "mathfrak", "dot", "ddot", "angle", "triangle", "measuredangle"];

    static readonly HashSet<string> IgnoredCommands = ["displaystyle", "limits", "nolimits", "mathstrut", "strut", "quad", "qquad", "cdotp", "space", "thinspace", "medspace", "negthinspace", "middle", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl", "Bigr", "biggl", "biggr", "left", "right"];

    readonly List<Token> _tokens;
    int _pos;
    int _absDepth;

    MathParser(List<Token> tokens) { _tokens = tokens; }

    /// <summary>Parses a cleaned answer; throws <see cref="MathParseException"/> when it is not readable as mathematics.</summary>
    public static MathNode Parse(string text)
    {
        var p = new MathParser(Tokenize(text));
        var node = p.ParseSequence(topLevel: true, closers: []);
        if (p.Peek.Type != T.End) throw new MathParseException($"unexpected '{p.Peek.Text}'");
        return node;
    }

    // ---- tokens ----

    static List<Token> Tokenize(string s)
    {
        var tokens = new List<Token>();
        bool space = false;
        void Add(T type, string text) { tokens.Add(new(type, text, space)); space = false; }
        int i = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c)) { i++; space = true; continue; }
            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < s.Length && char.IsAsciiDigit(s[i + 1])))
            {
                int j = i;
                while (j < s.Length && char.IsAsciiDigit(s[j])) j++;
                if (j < s.Length && s[j] == '.' && j + 1 < s.Length && char.IsAsciiDigit(s[j + 1]))
                {
                    j++;
                    while (j < s.Length && char.IsAsciiDigit(s[j])) j++;
                }
                // 4.5e33, 1e-5: an exponent directly after the digits.
                if (j + 1 < s.Length && s[j] is 'e' or 'E')
                {
                    int k = j + 1;
                    if (k < s.Length && s[k] is '+' or '-') k++;
                    int digitsFrom = k;
                    while (k < s.Length && char.IsAsciiDigit(s[k])) k++;
                    if (k > digitsFrom && (k >= s.Length || !char.IsAsciiLetter(s[k]))) j = k;
                }
                Add(T.Number, s[i..j]);
                i = j;
                continue;
            }
            if (char.IsAsciiLetter(c))
            {
                int j = i;
                while (j < s.Length && char.IsAsciiLetter(s[j])) j++;
                Add(T.Word, s[i..j]);
                i = j;
                continue;
            }
            if (c == '\\')
            {
                if (i + 1 >= s.Length) { i++; continue; }
                int j = i + 1;
                if (char.IsAsciiLetter(s[j]))
                {
                    while (j < s.Length && char.IsAsciiLetter(s[j])) j++;
                    Add(T.Command, s[(i + 1)..j]);
                }
                else if (s[j] == '\\') { Add(T.Op, "\\\\"); j++; }
                else { Add(T.Command, s[j].ToString()); j++; }
                i = j;
                continue;
            }
            if (i + 1 < s.Length)
            {
                string two = s.Substring(i, 2);
                if (two is "<=" or ">=" or "!=" or "==")
                {
                    Add(T.Op, two == "==" ? "=" : two);
                    i += 2;
                    continue;
                }
            }
            if ("+-*/^_()[]{}|,;:=<>!'&".Contains(c)) { Add(T.Op, c.ToString()); i++; continue; }
            throw new MathParseException($"unexpected character '{c}'");
        }
        Add(T.End, "");
        return tokens;
    }

    Token Peek => _tokens[_pos];
    Token PeekAt(int k) => _tokens[Math.Min(_pos + k, _tokens.Count - 1)];
    Token Next() => _tokens[_pos++];
    bool IsOp(string op) => Peek.Type == T.Op && Peek.Text == op;
    bool IsCommand(string name) => Peek.Type == T.Command && Peek.Text == name;

    void Expect(string op)
    {
        if (!IsOp(op)) throw new MathParseException($"expected '{op}', got '{Peek.Text}'");
        _pos++;
    }

    void SkipIgnored()
    {
        while (Peek.Type == T.Command && IgnoredCommands.Contains(Peek.Text)) _pos++;
        while (_matrixDepth == 0 && (IsOp("&") || IsOp("\\\\"))) _pos++;
    }

    int _matrixDepth;

    // ---- sequences: lists, tuples, sets ----

    bool AtSeparator(out bool semicolon)
    {
        semicolon = false;
        if (IsOp(",")) return true;
        if (IsOp(";")) { semicolon = true; return true; }
        if (Peek.Type == T.Word && Peek.Text is "and" or "or") return true;
        return false;
    }

    bool AtCloser(IReadOnlyCollection<string> closers)
    {
        if (Peek.Type == T.End) return true;
        if (Peek.Type == T.Op && closers.Contains(Peek.Text)) return true;
        if (Peek.Type == T.Command && closers.Contains("\\" + Peek.Text)) return true;
        return false;
    }

    /// <summary>
    /// Items separated by , ; and or (empty items, as in "1, 2, and 3", are skipped). At the top level,
    /// semicolons between groups that contain commas make each group a tuple ("p=5,q=2; p=7,q=2").
    /// </summary>
    MathNode ParseSequence(bool topLevel, IReadOnlyCollection<string> closers) => MathNode.List(ParseItems(topLevel, closers));

    List<MathNode> ParseItems(bool topLevel, IReadOnlyCollection<string> closers)
    {
        var groups = new List<List<MathNode>> { new() };
        bool sawSemicolon = false;
        while (true)
        {
            SkipIgnored();
            if (AtCloser(closers)) break;
            if (AtSeparator(out bool semi))
            {
                _pos++;
                if (semi && topLevel) { groups.Add(new()); sawSemicolon = true; }
                continue;
            }
            groups[^1].Add(ParseRelation(closers));
            SkipIgnored();
            if (!AtCloser(closers) && !AtSeparator(out _))
                throw new MathParseException($"unexpected '{Peek.Text}'");
        }
        if (sawSemicolon && groups.Any(g => g.Count > 1))
            return groups.Where(g => g.Count > 0).Select(g => g.Count == 1 ? g[0] : MathNode.Tuple("", g)).ToList();
        return groups.SelectMany(g => g).ToList();
    }

    // ---- relations ----

    string? RelationOp()
    {
        if (Peek.Type == T.Op && Peek.Text is "=" or "<" or ">" or "<=" or ">=" or "!=") return Peek.Text;
        if (Peek.Type == T.Command && RelationCommands.TryGetValue(Peek.Text, out var op)) return op;
        return null;
    }

    MathNode ParseRelation(IReadOnlyCollection<string> closers)
    {
        var parts = new List<MathNode> { ParseUnion(closers) };
        var ops = new List<string>();
        while (RelationOp() is { } op)
        {
            _pos++;
            ops.Add(op);
            parts.Add(ParseUnion(closers));
        }
        return ops.Count == 0 ? parts[0] : MathNode.Relation(parts, ops);
    }

    MathNode ParseUnion(IReadOnlyCollection<string> closers)
    {
        var parts = new List<MathNode> { ParseExpression(closers) };
        while (IsCommand("cup") || IsCommand("bigcup"))
        {
            _pos++;
            parts.Add(ParseExpression(closers));
        }
        return MathNode.Union(parts);
    }

    // ---- arithmetic ----

    MathNode ParseExpression(IReadOnlyCollection<string> closers)
    {
        SkipIgnored();
        var terms = new List<MathNode>();
        MathNode? pm = null; // the expression so far, when a ± has been seen
        terms.Add(ParseTerm(closers));
        while (true)
        {
            SkipIgnored();
            if (IsOp("+")) { _pos++; terms.Add(ParseTerm(closers)); }
            else if (IsOp("-")) { _pos++; terms.Add(MathNode.Negate(ParseTerm(closers))); }
            else if (IsCommand("pm") || IsCommand("mp"))
            {
                bool minusPlus = Peek.Text == "mp";
                _pos++;
                var rhs = ParseTerm(closers);
                pm = MathNode.PlusMinus(MathNode.Add(terms), minusPlus ? MathNode.Negate(rhs) : rhs);
                terms = [pm];
            }
            else break;
        }
        return MathNode.Add(terms);
    }

    bool StartsFactor()
    {
        var t = Peek;
        switch (t.Type)
        {
            case T.Number: return true;
            case T.Word: return t.Text is not ("and" or "or");
            case T.Command:
                if (RelationCommands.ContainsKey(t.Text)) return false;
                return t.Text is not ("pm" or "mp" or "cup" or "bigcup" or "cdot" or "times" or "div" or "right" or "rfloor" or "rceil" or "rangle" or "}" or "end" or "cap" or "setminus" or "rvert" or "rVert" or "colon" or "to" or "mid");
            case T.Op:
                if (t.Text == "|") return _absDepth == 0;
                return t.Text is "(" or "{";
            default: return false;
        }
    }

    MathNode ParseTerm(IReadOnlyCollection<string> closers)
    {
        var factors = new List<MathNode> { ParseUnary(closers) };
        while (true)
        {
            SkipIgnored();
            if (IsOp("*") || IsCommand("cdot") || IsCommand("times") || IsCommand("ast"))
            {
                _pos++;
                factors.Add(ParseUnary(closers));
            }
            else if (IsOp("/") || IsCommand("div") || IsOp(":"))
            {
                _pos++;
                var divisor = ParseUnary(closers);
                var num = MathNode.Multiply(factors);
                factors = [MathNode.Divide(num, divisor)];
            }
            else if (StartsFactor() && !AtCloser(closers))
            {
                factors.Add(ParsePower(closers));
            }
            else break;
        }
        return MathNode.Multiply(factors);
    }

    /// <summary>Nesting deeper than this is not an answer (and would exhaust the stack).</summary>
    const int MaxDepth = 64;
    int _depth;

    MathNode ParseUnary(IReadOnlyCollection<string> closers)
    {
        if (++_depth > MaxDepth) throw new MathParseException("nested too deeply");
        try { return ParseUnaryInner(closers); }
        finally { _depth--; }
    }

    MathNode ParseUnaryInner(IReadOnlyCollection<string> closers)
    {
        SkipIgnored();
        if (IsOp("-")) { _pos++; return MathNode.Negate(ParseUnary(closers)); }
        if (IsOp("+")) { _pos++; return ParseUnary(closers); }
        if (IsCommand("pm") || IsCommand("mp")) { _pos++; return MathNode.PlusMinus(MathNode.Integer(0), ParseUnary(closers)); }
        return ParsePower(closers);
    }

    MathNode ParsePower(IReadOnlyCollection<string> closers)
    {
        var b = ParsePostfix(closers);
        SkipIgnored();
        if (IsOp("^"))
        {
            _pos++;
            var e = ParseScriptArgument();
            b = MathNode.Power(b, e);
            // x^2! is rare; x^{a}^{b} is not LaTeX. A factorial or prime after the exponent binds to the power.
            while (IsOp("!")) { _pos++; b = MathNode.Function("fact", b); }
        }
        return b;
    }

    MathNode ParsePostfix(IReadOnlyCollection<string> closers)
    {
        var p = ParsePrimary(closers);
        while (true)
        {
            if (IsOp("!")) { _pos++; p = MathNode.Function("fact", p); }
            else if (IsOp("'")) { _pos++; p = p.Kind == NodeKind.Symbol ? MathNode.Symbol(p.Name + "'") : MathNode.Function("prime", p); }
            else if (IsOp("_"))
            {
                _pos++;
                var sub = ParseScriptArgument();
                string subText = sub.Kind is NodeKind.Symbol or NodeKind.Number ? sub.Canonical() : "{" + sub.Canonical() + "}";
                p = p.Kind switch
                {
                    NodeKind.Symbol => MathNode.Symbol(p.Name + "_" + subText),
                    // 204_5: a numeral in another base stays as written.
                    NodeKind.Number => MathNode.Symbol(p.Value + "_" + subText),
                    _ => MathNode.Function("sub", p, sub),
                };
            }
            else break;
        }
        return p;
    }

    /// <summary>The argument of ^ or _: a brace group, or one character or command (x^23 is x^2·3 in TeX).</summary>
    MathNode ParseScriptArgument()
    {
        if (_depth > MaxDepth) throw new MathParseException("nested too deeply");
        SkipIgnored();
        var t = Peek;
        if (t.Type == T.Op && t.Text == "{") { _pos++; var inner = ParseSequence(false, ["}"]); Expect("}"); return inner; }
        if (t.Type == T.Number) return SplitFirstCharacter(t, number: true);
        if (t.Type == T.Word) return SplitFirstCharacter(t, number: false);
        if (t.Type == T.Op && t.Text is "-" or "+")
        {
            // x^-1 (not TeX, but common in plain answers)
            _pos++;
            var arg = ParseScriptArgument();
            return t.Text == "-" ? MathNode.Negate(arg) : arg;
        }
        if (t.Type == T.Command || (t.Type == T.Op && t.Text == "("))
            return ParsePrimary([]);
        throw new MathParseException($"bad script argument '{t.Text}'");
    }

    MathNode SplitFirstCharacter(Token t, bool number)
    {
        if (t.Text.Length == 1 || (number && t.Text.Contains('.')))
        {
            _pos++;
            return number ? NumberNode(t.Text) : MathNode.Symbol(t.Text);
        }
        _tokens[_pos] = new Token(t.Type, t.Text[1..]);
        string first = t.Text[..1];
        return number ? NumberNode(first) : MathNode.Symbol(first);
    }

    static MathNode NumberNode(string text)
    {
        if (!BigRational.TryParseDecimal(text, out var v)) throw new MathParseException($"bad number '{text}'");
        bool isDecimal = text.Contains('.') || text.Contains('e') || text.Contains('E');
        if (!isDecimal) return MathNode.Number(v);
        int e = text.IndexOfAny(['e', 'E']);
        int exponent = e < 0 ? 0 : int.Parse(text[(e + 1)..], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture);
        string mantissa = e < 0 ? text : text[..e];
        int dot = mantissa.IndexOf('.');
        int fraction = dot < 0 ? 0 : mantissa.Length - dot - 1;
        string digits = mantissa.Replace(".", "").TrimStart('0');
        return MathNode.Number(v, true, places: fraction - exponent, significant: Math.Max(digits.Length, 1));
    }

    /// <summary>The argument of \frac, \sqrt, \text...: a brace group, or a single character or command.</summary>
    MathNode ParseGroupArgument()
    {
        SkipIgnored();
        if (IsOp("{")) { _pos++; var inner = ParseSequence(false, ["}"]); Expect("}"); return inner; }
        return ParseScriptArgument();
    }

    // ---- primaries ----

    MathNode ParsePrimary(IReadOnlyCollection<string> closers)
    {
        SkipIgnored();
        var t = Peek;
        switch (t.Type)
        {
            case T.Number:
            {
                _pos++;
                var number = NumberNode(t.Text);
                // A mixed number: 2\frac{1}{2} is 5/2 (integers only; 2\frac{\pi}{2} stays a product).
                if (!number.Decimal && number.Value.IsInteger && Peek.Type == T.Command && Peek.Text is "frac" or "dfrac" or "tfrac"
                    && PeekAt(1) is { Type: T.Op, Text: "{" } && PeekAt(2).Type == T.Number && PeekAt(3) is { Type: T.Op, Text: "}" }
                    && PeekAt(4) is { Type: T.Op, Text: "{" } && PeekAt(5).Type == T.Number && PeekAt(6) is { Type: T.Op, Text: "}" }
                    && !PeekAt(2).Text.Contains('.') && !PeekAt(5).Text.Contains('.'))
                {
                    var a = NumberNode(PeekAt(2).Text);
                    var b = NumberNode(PeekAt(5).Text);
                    if (b.Value.IsZero) throw new MathParseException("mixed number over zero");
                    _pos += 7;
                    return MathNode.Number(number.Value + a.Value / b.Value);
                }
                return number;
            }
            case T.Word:
                _pos++;
                if (FunctionNames.Contains(t.Text)) return ParseFunction(t.Text, closers);
                if (t.Text is "sqrt") return MathNode.Function("sqrt", ParseGroupArgument());
                return ApplicationOrSymbol(t.Text);
            case T.Command:
                return ParseCommand(closers);
            case T.Op:
                switch (t.Text)
                {
                    case "(":
                    case "[":
                        return ParseBracketed();
                    case "{":
                    {
                        _pos++;
                        var items = ParseItems(false, ["}"]);
                        Expect("}");
                        if (items.Count == 0) return MathNode.Set([]);
                        return items.Count == 1 ? items[0] : MathNode.Set(items);
                    }
                    case "|":
                    {
                        _pos++;
                        _absDepth++;
                        var inner = ParseSequence(false, ["|"]);
                        _absDepth--;
                        Expect("|");
                        return MathNode.Function("abs", inner);
                    }
                }
                break;
        }
        throw new MathParseException($"unexpected '{t.Text}'");
    }

    /// <summary>
    /// f(x), I(0), P(A), g(x, y): a name applied to plain arguments (numbers or single names) is one opaque
    /// symbol, not a product (I(0) is not 0). x(x+1) stays a product.
    /// </summary>
    MathNode ApplicationOrSymbol(string name)
    {
        if (!(IsOp("(") && !Peek.SpaceBefore)) return MathNode.Symbol(name);
        int k = 1;
        var args = new List<string>();
        while (true)
        {
            var t = PeekAt(k);
            string sign = "";
            if (t.Type == T.Op && t.Text == "-") { sign = "-"; k++; t = PeekAt(k); }
            if (t.Type == T.Number || (t.Type == T.Word && !FunctionNames.Contains(t.Text) && t.Text is not ("and" or "or"))
                || (t.Type == T.Command && Greek.Contains(t.Text)))
            {
                args.Add(sign + (t.Type == T.Command ? "\\" + t.Text : t.Text));
                k++;
            }
            else return MathNode.Symbol(name);
            var sep = PeekAt(k);
            if (sep.Type == T.Op && sep.Text == ",") { k++; continue; }
            if (sep.Type == T.Op && sep.Text == ")") { k++; break; }
            return MathNode.Symbol(name);
        }
        _pos += k;
        return MathNode.Symbol(name + "(" + string.Join(",", args) + ")");
    }

    /// <summary>( ... ) or [ ... ] with any closing bracket: a group when it holds one item, else a tuple or interval.</summary>
    MathNode ParseBracketed()
    {
        string open = Next().Text;
        int savedAbs = _absDepth;
        _absDepth = 0;
        var items = ParseItems(false, [")", "]"]);
        _absDepth = savedAbs;
        if (!(IsOp(")") || IsOp("]"))) throw new MathParseException("unclosed bracket");
        string close = Next().Text;
        if (items.Count == 1 && items[0].Kind != NodeKind.Tuple && (open + close) is "()" or "[]") return items[0];
        if (items.Count == 0) throw new MathParseException("empty brackets");
        return MathNode.Tuple(open + close, items);
    }

    MathNode ParseFunction(string name, IReadOnlyCollection<string> closers)
    {
        // \log_2 x, \sin^2 x, \sin^{-1} x
        MathNode? logBase = null, power = null;
        for (int k = 0; k < 2; k++)
        {
            if (IsOp("_") && name is "log") { _pos++; logBase = ParseScriptArgument(); }
            else if (IsOp("^")) { _pos++; power = ParseScriptArgument(); }
        }
        bool inverse = power is { Kind: NodeKind.Negate } neg && neg.Children[0] is { Kind: NodeKind.Number } one && one.Value.Equals(BigRational.One);
        if (inverse && name is "sin" or "cos" or "tan") { name = "arc" + name; power = null; }
        MathNode arg;
        SkipIgnored();
        if (IsOp("(") || IsOp("["))
        {
            arg = ParseBracketed();
        }
        else
        {
            // \sin 2x, \sin b \cos a: the argument runs over the following numbers and letters, not over other commands.
            var factors = new List<MathNode> { ParsePower(closers) };
            while (Peek.Type is T.Number or T.Word && !(Peek.Type == T.Word && (Peek.Text is "and" or "or" || FunctionNames.Contains(Peek.Text))))
                factors.Add(ParsePower(closers));
            arg = MathNode.Multiply(factors);
        }
        string fname = name switch { "ln" => "ln", "lg" => "log10", "exp" => "exp", _ => name };
        MathNode f = logBase is null ? MathNode.Function(fname, arg) : MathNode.Function("logb", logBase, arg);
        return power is null ? f : MathNode.Power(f, power);
    }

    MathNode ParseCommand(IReadOnlyCollection<string> closers)
    {
        string name = Next().Text;
        switch (name)
        {
            case "frac":
            case "dfrac":
            case "tfrac":
            case "cfrac":
            {
                var a = ParseGroupArgument();
                var b = ParseGroupArgument();
                return MathNode.Divide(a, b);
            }
            case "binom":
            case "dbinom":
            case "tbinom":
            case "choose":
            {
                var a = ParseGroupArgument();
                var b = ParseGroupArgument();
                return MathNode.Function("binom", a, b);
            }
            case "sqrt":
            {
                MathNode? index = null;
                if (IsOp("["))
                {
                    _pos++;
                    index = ParseSequence(false, ["]"]);
                    Expect("]");
                }
                var radicand = ParseGroupArgument();
                return index is null ? MathNode.Function("sqrt", radicand) : MathNode.Function("root", index, radicand);
            }
            case "pi": return MathNode.Constant("pi");
            case "infty":
            case "infin":
                return MathNode.Constant("inf");
            case "emptyset":
            case "varnothing":
                return MathNode.Set([]);
            case "{":
            case "lbrace":
            {
                var items = ParseItems(false, ["\\}", "\\rbrace"]);
                if (!(IsCommand("}") || IsCommand("rbrace"))) throw new MathParseException("unclosed \\{");
                _pos++;
                return MathNode.Set(items);
            }
            case "langle":
            {
                var items = ParseItems(false, ["\\rangle"]);
                if (!IsCommand("rangle")) throw new MathParseException("unclosed \\langle");
                _pos++;
                return MathNode.Tuple("<>", items);
            }
            case "lfloor":
            case "lceil":
            {
                string close = name == "lfloor" ? "\\rfloor" : "\\rceil";
                var inner = ParseSequence(false, [close]);
                if (!IsCommand(close[1..])) throw new MathParseException($"unclosed \\{name}");
                _pos++;
                return MathNode.Function(name == "lfloor" ? "floor" : "ceil", inner);
            }
            case "lvert":
            case "vert":
            case "|":
            case "lVert":
            case "Vert":
            {
                string closeCmd = name switch { "lvert" => "rvert", "lVert" => "rVert", _ => name };
                var inner = ParseSequence(false, ["\\" + closeCmd]);
                if (!IsCommand(closeCmd)) throw new MathParseException($"unclosed \\{name}");
                _pos++;
                return MathNode.Function(name is "lvert" or "vert" ? "abs" : "norm", inner);
            }
            case "begin": return ParseEnvironment();
            case "dots":
            case "ldots":
            case "cdots":
            case "dotsb":
            case "dotsc":
            case "dotsm":
                return MathNode.Symbol("...");
            case "sum":
            case "prod":
                return ParseBigOperator(name, closers);
            case "operatorname":
            case "mathrm":
            case "text":
            case "textbf":
            case "mathbf":
            case "mathit":
            case "textit":
            case "boldsymbol":
            case "textrm":
            case "textnormal":
            case "mbox":
            {
                // Left by cleaning only when nested oddly: read the group as a word or function name.
                SkipIgnored();
                if (!IsOp("{")) return ParseGroupArgument();
                int start = _pos;
                _pos++;
                var sb = new StringBuilder();
                while (!IsOp("}") && Peek.Type != T.End) sb.Append(Next().Text);
                Expect("}");
                string word = sb.ToString();
                if (word.Length > 0 && word.All(char.IsAsciiLetter))
                {
                    if (FunctionNames.Contains(word)) return ParseFunction(word, closers);
                    if (word is "e" && name is "mathrm" or "operatorname") return MathNode.Constant("e");
                    return MathNode.Symbol(word);
                }
                _pos = start;
                return ParseGroupArgument();
            }
        }
        if (FunctionNames.Contains(name)) return ParseFunction(name, closers);
        if (name is "arcsec" or "arccsc" or "arccot" or "coth" or "sech" or "csch" or "det" or "gcd" or "lcm" or "max" or "min" or "deg" or "arg" or "Re" or "Im")
        {
            SkipIgnored();
            var arg = IsOp("(") || IsOp("[") ? ParseBracketed() : ParsePower(closers);
            return MathNode.Function(name, arg);
        }
        if (Greek.Contains(name)) return MathNode.Symbol(name);
        if (Decorations.Contains(name))
        {
            SkipIgnored();
            var arg = ParseGroupArgument();
            return MathNode.Symbol(name + ":" + arg.Canonical());
        }
        if (name is "%" or "$" or "," or ";" or "!" or ":" or " " or "quad" or "qquad") return ParsePrimary(closers);
        if (name.Length > 0 && char.IsAsciiLetter(name[0]))
        {
            // An unknown command: an opaque symbol (its name), as Math-Verify's \zzz.
            return MathNode.Symbol("\\" + name);
        }
        throw new MathParseException($"unexpected command '\\{name}'");
    }

    MathNode ParseBigOperator(string name, IReadOnlyCollection<string> closers)
    {
        MathNode? lower = null, upper = null;
        for (int k = 0; k < 2; k++)
        {
            if (IsOp("_")) { _pos++; lower = ParseScriptArgument(); }
            else if (IsOp("^")) { _pos++; upper = ParseScriptArgument(); }
        }
        var body = ParseTerm(closers);
        if (lower is { Kind: NodeKind.Relation, Children.Count: 2 } rel && rel.Ops[0] == "=" && rel.Children[0].Kind == NodeKind.Symbol && upper is not null)
            return MathNode.Function(name, rel.Children[0], rel.Children[1], upper, body);
        return MathNode.Function(name + "?", lower ?? MathNode.Symbol(""), upper ?? MathNode.Symbol(""), body);
    }

    MathNode ParseEnvironment()
    {
        Expect("{");
        var sb = new StringBuilder();
        while (!IsOp("}") && Peek.Type != T.End) sb.Append(Next().Text);
        Expect("}");
        string env = sb.ToString();
        if (env is "array")
        {
            // column specification: {cc}, {c|c}
            if (IsOp("{")) { while (!IsOp("}") && Peek.Type != T.End) _pos++; Expect("}"); }
        }
        bool matrix = env is "pmatrix" or "bmatrix" or "Bmatrix" or "matrix" or "smallmatrix" or "array" or "vmatrix" or "Vmatrix";
        if (!matrix) throw new MathParseException($"environment {env} is not read");
        _matrixDepth++;
        var rows = new List<List<MathNode>> { new() };
        while (true)
        {
            while (Peek.Type == T.Command && IgnoredCommands.Contains(Peek.Text)) _pos++;
            if (IsCommand("end"))
            {
                _pos++;
                Expect("{");
                while (!IsOp("}") && Peek.Type != T.End) _pos++;
                Expect("}");
                break;
            }
            if (Peek.Type == T.End) throw new MathParseException("unclosed environment");
            if (IsOp("&")) { _pos++; if (rows[^1].Count == 0) rows[^1].Add(MathNode.Integer(0)); continue; }
            if (IsOp("\\\\")) { _pos++; rows.Add(new()); continue; }
            if (IsCommand("hline") || IsCommand("cline")) { _pos++; if (IsOp("{")) { while (!IsOp("}")) _pos++; _pos++; } continue; }
            rows[^1].Add(ParseRelation(["&", "\\\\", "\\end"]));
        }
        _matrixDepth--;
        rows = rows.Where(r => r.Count > 0).ToList();
        if (rows.Count == 0) throw new MathParseException("empty matrix");
        int cols = rows[0].Count;
        if (rows.Any(r => r.Count != cols)) throw new MathParseException("ragged matrix");
        var m = MathNode.Matrix(rows.Count, cols, rows.SelectMany(r => r).ToList());
        return env is "vmatrix" ? MathNode.Function("det", m) : m;
    }
}
