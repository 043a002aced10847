using System.Collections.Concurrent;
using System.Text;
using System.Text.RegularExpressions;
using IwSft.Stages.Evaluate.Grading;

namespace IwSft.Stages.Evaluate;

/// <summary>How <see cref="MathEquivalence"/> compares answers. Every option is off (or at its default) unless set.</summary>
public sealed record MathEquivalenceOptions
{
    public static MathEquivalenceOptions Default { get; } = new();

    /// <summary>
    /// A decimal that stands for a value with no finite decimal expansion (0.333333 for 1/3, 1.41421 for √2)
    /// agrees with it when they differ by at most half of this, relative to max(1, |value|). Decimals that
    /// are exact (3.0000001, 2.5) are compared exactly.
    /// </summary>
    public double RelativeTolerance { get; init; } = MathEquivalence.DefaultRelativeTolerance;

    /// <summary>Read "1000,99" and "1,22" as decimals (a locale with a decimal comma); "1,000" stays one thousand.</summary>
    public bool DecimalComma { get; init; }

    /// <summary>Comma-separated answers must be in the same order ("10, 4, -2" ≠ "4, 10, -2"); by default they are compared as multisets.</summary>
    public bool OrderedLists { get; init; }

    /// <summary>A predicted inequality may match a gold interval (Math-Verify's allow_set_relation_comp); a gold inequality always matches a predicted interval.</summary>
    public bool AllowSetRelationComparison { get; init; }

    /// <summary>Variable names matter (f(x) ≠ f(y)); off renames the prediction's variables to the gold's.</summary>
    public bool StrictVariables { get; init; } = true;
}

/// <summary>
/// Whether two final math answers are the same. Both are cleaned (<see cref="Clean"/>: delimiters, \boxed,
/// spacing, \left/\right, units, currency, percent, thousands separators, ...) and compared as text; then
/// parsed (<see cref="MathParser"/>) and compared structurally and by value (<see cref="AnswerComparer"/>):
/// relations, labelled answers, lists and sets without order, tuples and intervals, unions, matrices,
/// and expressions — exactly in rational arithmetic where possible, else at fixed sample points.
/// Our own implementation; docs/evaluate.md lists its rules and what it deliberately does not accept.
/// </summary>
public static partial class MathEquivalence
{
    public const double DefaultRelativeTolerance = 1e-6;

    public static bool AreEquivalent(string? gold, string? prediction, double relativeTolerance = DefaultRelativeTolerance) =>
        AreEquivalent(gold, prediction, relativeTolerance == DefaultRelativeTolerance ? MathEquivalenceOptions.Default : new MathEquivalenceOptions { RelativeTolerance = relativeTolerance });

    /// <summary>Whether <paramref name="prediction"/> is the same answer as <paramref name="gold"/> (gold first: a few rules are one-sided).</summary>
    public static bool AreEquivalent(string? gold, string? prediction, MathEquivalenceOptions options)
    {
        if (gold is null || prediction is null) return false;
        string cg = Clean(gold, options), cp = Clean(prediction, options);
        if (cg.Length == 0 || cp.Length == 0) return false;
        if (Compact(cg) == Compact(cp)) return true;
        var g = ParseCached(cg);
        var p = ParseCached(cp);
        if (g is null || p is null) return false;
        try { return new AnswerComparer(options).Equivalent(g, p); }
        catch (Exception e) when (e is ArithmeticException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            return false; // an answer the comparer cannot handle is not equivalent; grading never stops a run
        }
    }

    /// <summary>Longer answers are compared as text only (a final answer is short; this bounds parsing work).</summary>
    const int MaxParsedLength = 4000;

    /// <summary>The parsed form of an answer, printed canonically (sums and products sorted), or null when it does not parse.</summary>
    public static string? ParsedForm(string answer, MathEquivalenceOptions? options = null) =>
        ParseCached(Clean(answer, options ?? MathEquivalenceOptions.Default))?.Canonical();

    // Parsing is pure; a bounded cache keeps repeated comparisons (gold against many samples) cheap.
    static readonly ConcurrentDictionary<string, MathNode?> ParseCache = new(StringComparer.Ordinal);

    static MathNode? ParseCached(string cleaned)
    {
        if (cleaned.Length > MaxParsedLength) return null;
        if (ParseCache.TryGetValue(cleaned, out var hit)) return hit;
        MathNode? node;
        try { node = MathParser.Parse(cleaned); }
        catch (MathParseException) { node = null; }
        catch (Exception e) when (e is OverflowException or FormatException or ArgumentException or InvalidOperationException) { node = null; }
        if (ParseCache.Count > 20_000) ParseCache.Clear();
        ParseCache[cleaned] = node;
        return node;
    }

    // ---- normalisation ----

    static readonly HashSet<string> UnitWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "cm", "km", "mm", "inches", "inch", "feet", "foot", "ft", "yards", "yard", "yd", "miles", "mile",
        "meters", "meter", "metres", "metre", "centimeters", "centimetres", "millimeters", "kilometers", "units", "unit",
        "degrees", "degree", "radians", "hours", "hour", "hrs", "minutes", "minute", "mins", "seconds", "second", "sec", "days", "day",
        "weeks", "week", "months", "month", "years", "year", "dollars", "dollar", "cents", "cent", "euros", "euro", "yuan", "pounds", "pound",
        "mph", "kph", "ounces", "ounce", "oz", "grams", "gram", "kg", "kilograms", "lb", "lbs", "liters", "liter", "litres", "ml", "gallons", "gallon",
        "students", "people", "persons", "points", "ways", "p.m.", "a.m.", "pm", "am", "sq", "square", "cubic", "times", "items", "books",
    };

    static readonly HashSet<string> NotUnits = new(StringComparer.OrdinalIgnoreCase)
    {
        "and", "or", "sin", "cos", "tan", "sec", "csc", "cot", "log", "ln", "exp", "is", "of", "the", "to", "for", "not", "but", "pi", "sqrt",
    };

    /// <summary>
    /// The canonical text of an answer: <see cref="Clean"/>, then whitespace removed, x^{2} → x^2, .5 → 0.5,
    /// trailing decimal zeros and leading zeros dropped. Two answers with the same canonical text are equivalent.
    /// </summary>
    public static string Normalize(string answer) => Normalize(answer, MathEquivalenceOptions.Default);

    public static string Normalize(string answer, MathEquivalenceOptions options) => Compact(Clean(answer, options));

    static string Compact(string cleaned)
    {
        string s = WhitespaceRegex().Replace(cleaned, "");
        s = SingleCharScriptRegex().Replace(s, "${op}${c}");
        s = LeadingDotRegex().Replace(s, "0.");
        s = TrailingDecimalZerosRegex().Replace(s, m => m.Groups["i"].Value + (m.Groups["f"].Value.Length > 0 ? "." + m.Groups["f"].Value : ""));
        s = LeadingZerosRegex().Replace(s, "");
        s = s.TrimEnd('.');
        if (s.StartsWith('+')) s = s[1..];
        return s;
    }

    /// <summary>
    /// The answer with presentation removed, words kept apart by single spaces (the parser's input):
    /// delimiters ($, \(..\), \[..\], \boxed); \\frac from doubly escaped strings; LaTeX thousands
    /// separators (10,\!080, 1{,}000) before spacing commands (\! \, \; \quad ~) are dropped;
    /// \dfrac/\tfrac/\cfrac → \frac; \left, \right, \big...; degrees; $ and \$; % and the words percent,
    /// percentage, pct; \text{and}/\text{or} kept as words; units (\text{ cm}, "36 dollars", "5 apples");
    /// other \text{}, \textbf{}, \mathrm{} ... unwrapped; a lone choice letter ((C), C), \text{(C)}) → C;
    /// thousands separators (1,000, $1,000.99, 1 000) when the whole answer is one number; with
    /// <see cref="MathEquivalenceOptions.DecimalComma"/>, 1000,99 → 1000.99; \frac12 → \frac{1}{2}, \sqrt2 → \sqrt{2}.
    /// </summary>
    public static string Clean(string answer, MathEquivalenceOptions? options = null)
    {
        options ??= MathEquivalenceOptions.Default;
        string s = answer.Trim();
        s = ReplaceUnicode(s);
        s = EscapedCommandRegex().Replace(s, "\\");
        s = s.Replace('\n', ' ').Replace('\r', ' ').Replace('\t', ' ');
        s = StripDelimiters(s);
        s = LatexThousandsRegex().Replace(s, "$1");
        s = BraceThousandsRegex().Replace(s, "$1");
        s = SpacingRegex().Replace(s, " ");
        s = s.Replace("\\dfrac", "\\frac").Replace("\\tfrac", "\\frac").Replace("\\cfrac", "\\frac").Replace("\\displaystyle", " ");
        s = LeftRightDotRegex().Replace(s, " ");
        s = LeftRightRegex().Replace(s, " ");
        s = DegreesRegex().Replace(s, " ");
        s = s.Replace("\\$", " ").Replace("$", " ").Replace("\\%", " ").Replace("%", " ");
        s = CurrencyCommandRegex().Replace(s, " ");
        s = PercentWordRegex().Replace(s, " ");
        s = TextConnectorRegex().Replace(s, m => " " + m.Groups["w"].Value.Trim(' ', ',') + " ");
        s = StripTrailingUnits(s);
        s = OperatorNameRegex().Replace(s, m => " " + m.Groups["c"].Value + " ");
        for (int k = 0; k < 3; k++) s = UnwrapTextRegex().Replace(s, m => m.Groups["c"].Value);
        s = WhitespaceRegex().Replace(s, " ").Trim();
        var letter = ChoiceLetterRegex().Match(s);
        if (letter.Success) return letter.Groups["l"].Value;
        s = StripUnitWords(s);
        s = s.Trim().TrimEnd('.', ',', ';').Trim();
        s = WholeNumberSeparators(s, options);
        s = FixCommandArguments(s, "\\frac", 2);
        s = FixCommandArguments(s, "\\sqrt", 1);
        return WhitespaceRegex().Replace(s, " ").Trim();
    }

    static string ReplaceUnicode(string s)
    {
        if (s.All(c => c < 128)) return s;
        var sb = new StringBuilder(s.Length + 8);
        foreach (char c in s)
        {
            sb.Append(c switch
            {
                '−' or '–' or '‒' => "-",
                '×' => "\\times ",
                '÷' => "\\div ",
                '·' or '⋅' => "\\cdot ",
                '≤' or '⩽' => "\\le ",
                '≥' or '⩾' => "\\ge ",
                '≠' => "\\ne ",
                '≈' => "\\approx ",
                'π' => "\\pi ",
                '∞' => "\\infty ",
                '√' => "\\sqrt",
                '∪' => "\\cup ",
                '∈' => "\\in ",
                '±' => "\\pm ",
                '²' => "^2",
                '³' => "^3",
                '°' => " ",
                '€' or '£' or '¥' => " ",
                '，' => ",",
                '\u00a0' or '\u2009' or '\u202f' => " ",
                _ => c.ToString(),
            });
        }
        return sb.ToString();
    }

    static string StripDelimiters(string s)
    {
        for (int guard = 0; guard < 6; guard++)
        {
            string before = s;
            s = s.Trim();
            if (s.StartsWith("\\(") && s.EndsWith("\\)")) s = s[2..^2];
            else if (s.StartsWith("\\[") && s.EndsWith("\\]")) s = s[2..^2];
            else if (s.Length >= 2 && s.StartsWith('$') && s.EndsWith('$') && !s.EndsWith("\\$")) s = s.Trim('$');
            foreach (var cmd in new[] { "\\boxed", "\\fbox" })
            {
                if (!s.StartsWith(cmd + "{")) continue;
                int end = LatexText.SkipGroup(s, cmd.Length);
                if (end == s.Length) s = s[(cmd.Length + 1)..^1];
                else if (end < 0) s = s[(cmd.Length + 1)..]; // a box never closed: the answer is the rest
            }
            if (s == before) break;
        }
        return s;
    }

    // "5 \text{ cm}", "10\mbox{ inches}^2", "\frac{1}{3} \textbf{meters}": a trailing text group after something numeric.
    static string StripTrailingUnits(string s)
    {
        for (int guard = 0; guard < 3; guard++)
        {
            var m = TrailingTextUnitRegex().Match(s);
            if (!m.Success || !m.Groups["pre"].Value.Any(char.IsAsciiDigit)) break;
            string unit = m.Groups["u"].Value.Trim();
            // \mathrm{e} after a number is Euler's number, not a unit.
            if (unit.Length < 2 && m.Groups["cmd"].Value is "mathrm" or "operatorname") break;
            if (unit.Split(' ', StringSplitOptions.RemoveEmptyEntries).Any(NotUnits.Contains)) break;
            s = m.Groups["pre"].Value.TrimEnd();
        }
        return s;
    }

    // "36 dollars", "0.06 yuan", "12 apples", "15 cm^2": words after a number at the end of the answer.
    static string StripUnitWords(string s)
    {
        var m = NumberThenWordsRegex().Match(s);
        if (!m.Success || !m.Groups["n"].Value.Any(char.IsAsciiDigit)) return s;
        var words = m.Groups["u"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Any(NotUnits.Contains)) return s;
        bool known = words.All(w => UnitWords.Contains(w.TrimEnd('.')) || UnitWords.Contains(w));
        // Other words only after a space ("5 apples"): "3abc" is a product.
        bool plainWords = m.Groups["sp"].Value.Length > 0 && words.All(w => w.Length >= 3 && w.All(char.IsAsciiLetterLower));
        return known || plainWords ? m.Groups["n"].Value.Trim() : s;
    }

    static string WholeNumberSeparators(string s, MathEquivalenceOptions options)
    {
        if (ThousandsRegex().IsMatch(s)) return s.Replace(",", "");
        if (SpaceThousandsRegex().IsMatch(s)) return s.Replace(" ", "");
        if (options.DecimalComma)
        {
            if (DotThousandsCommaDecimalRegex().IsMatch(s)) return s.Replace(".", "").Replace(',', '.');
            if (DecimalCommaRegex().IsMatch(s)) return s.Replace(',', '.');
        }
        return s;
    }

    /// <summary>\frac12 → \frac{1}{2}, \frac1{b} → \frac{1}{b}, \sqrt2 → \sqrt{2}: every argument braced.</summary>
    static string FixCommandArguments(string s, string command, int arity)
    {
        var sb = new StringBuilder();
        int i = 0;
        while (i < s.Length)
        {
            int at = s.IndexOf(command, i, StringComparison.Ordinal);
            if (at < 0) { sb.Append(s, i, s.Length - i); break; }
            bool isWholeCommand = at + command.Length >= s.Length || !char.IsAsciiLetter(s[at + command.Length]);
            if (!isWholeCommand) { sb.Append(s, i, at + command.Length - i); i = at + command.Length; continue; }
            sb.Append(s, i, at - i).Append(command);
            int pos = at + command.Length;
            // \sqrt[3]{x}: keep the optional index as is.
            if (command == "\\sqrt" && pos < s.Length && s[pos] == '[')
            {
                int close = s.IndexOf(']', pos);
                if (close > 0) { sb.Append(s, pos, close - pos + 1); pos = close + 1; }
            }
            for (int k = 0; k < arity; k++)
            {
                var arg = LatexText.ReadArgument(s, pos);
                if (arg is null) break;
                sb.Append('{').Append(FixCommandArguments(arg.Value.Content, command, arity)).Append('}');
                pos = arg.Value.End;
            }
            i = pos;
        }
        return sb.ToString();
    }

    // ---- numeric evaluation of simple forms ----

    /// <summary>
    /// The value of an answer that is a number in exact arithmetic: a decimal, a fraction (a/b, \frac{a}{b}),
    /// a mixed number "2\frac{1}{2}", scientific notation (4.5e33, 4.5\times10^{33}), or any expression of
    /// those with + - * / and integer powers. False for anything with a variable, π, or a root that is not exact.
    /// </summary>
    public static bool TryEvaluate(string answer, out double value)
    {
        value = 0;
        var node = ParseCached(Clean(answer));
        if (node is null) return false;
        try
        {
            var v = MathEvaluator.Evaluate(node, new Dictionary<string, Scalar>());
            if (v.S is not { Exact: { } exact }) return false;
            value = exact.ToDouble();
            return double.IsFinite(value);
        }
        catch (Exception e) when (e is NotEvaluableException or UndefinedException) { return false; }
    }

    [GeneratedRegex(@"(?<!\\)\\\\(?=(?:frac|dfrac|tfrac|cfrac|sqrt|le|leq|ge|geq|lt|gt|ne|neq|pi|infty|cdot|times|boxed|text|textbf|mathrm|left|right|circ|pm|mp|sin|cos|tan|log|ln|in|cup|dots|approx|div|mbox|begin|end|quad|emptyset|varnothing|alpha|beta|theta)(?![a-zA-Z]))")]
    private static partial Regex EscapedCommandRegex();
    [GeneratedRegex(@"(\d)\s*,\s*\\!\s*(?=\d{3}(?!\d))")] private static partial Regex LatexThousandsRegex();
    [GeneratedRegex(@"(\d)\s*\{\s*,\s*\}\s*(?=\d{3}(?!\d))")] private static partial Regex BraceThousandsRegex();
    [GeneratedRegex(@"(?<!\\)\\[,;:! ]|\\q?quad|\\(?:hspace|vspace)\*?\{[^{}]*\}|~|\\(?:thinspace|medspace|thickspace|enspace|negthinspace)(?![a-zA-Z])")] private static partial Regex SpacingRegex();
    [GeneratedRegex(@"\\(?:left|right)\s*\.")] private static partial Regex LeftRightDotRegex();
    [GeneratedRegex(@"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|Biggl|Biggr|big|Big|bigg|Bigg)(?![a-zA-Z])")] private static partial Regex LeftRightRegex();
    [GeneratedRegex(@"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\^\s*\{?\s*\\degree\s*\}?|\\degree(?![a-zA-Z])")] private static partial Regex DegreesRegex();
    [GeneratedRegex(@"\\(?:euro|pounds|yen|textdollar|textsterling)(?![a-zA-Z])")] private static partial Regex CurrencyCommandRegex();
    [GeneratedRegex(@"(?<=[\d}\s]|^)\s*\b(?:percent(?:age)?|pct)\b\.?", RegexOptions.IgnoreCase)] private static partial Regex PercentWordRegex();
    [GeneratedRegex(@"\\(?:text|textbf|textit|textrm|textnormal|mbox|mathrm)\s*\{(?<w>\s*,?\s*(?:and|or)\s*,?\s*)\}")] private static partial Regex TextConnectorRegex();
    [GeneratedRegex(@"^(?<pre>.*?)\s*\\(?<cmd>text|textbf|textit|textrm|textnormal|mbox|mathrm|operatorname)\s*\{(?<u>\s*[a-zA-Z][^{}]*)\}(\s*\^\s*\{?\d\}?)?\s*$")] private static partial Regex TrailingTextUnitRegex();
    [GeneratedRegex(@"\\operatorname\*?\s*\{(?<c>[a-zA-Z]+)\}")] private static partial Regex OperatorNameRegex();
    [GeneratedRegex(@"\\(?:text|textbf|textit|textrm|textnormal|textsf|texttt|emph|mbox|mathrm|mathbf|mathit|mathsf|boldsymbol|bm)\s*\{(?<c>[^{}]*)\}")] private static partial Regex UnwrapTextRegex();
    [GeneratedRegex(@"^\(?\s*(?<l>[A-Z])\s*\)?\s*[.:]?$")] private static partial Regex ChoiceLetterRegex();
    [GeneratedRegex(@"^(?<n>.*?[\d}])(?<sp>\s*)(?<u>(?:[a-zA-Z][a-zA-Z.]*)(?:\s+[a-zA-Z][a-zA-Z.]*){0,2})\s*(?:\^\s*\{?[23]\}?)?$")] private static partial Regex NumberThenWordsRegex();
    [GeneratedRegex(@"^[-+]?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$")] private static partial Regex ThousandsRegex();
    [GeneratedRegex(@"^[-+]?[1-9]\d{0,2}( \d{3})+(\.\d+)?$")] private static partial Regex SpaceThousandsRegex();
    [GeneratedRegex(@"^[-+]?[1-9]\d{0,2}(\.\d{3})+,\d+$")] private static partial Regex DotThousandsCommaDecimalRegex();
    [GeneratedRegex(@"^[-+]?\d+,\d+$")] private static partial Regex DecimalCommaRegex();
    [GeneratedRegex(@"\s+")] private static partial Regex WhitespaceRegex();
    [GeneratedRegex(@"(?<op>[\^_])\{(?<c>[A-Za-z0-9])\}")] private static partial Regex SingleCharScriptRegex();
    [GeneratedRegex(@"(?<![\d}a-zA-Z])\.(?=\d)")] private static partial Regex LeadingDotRegex();
    [GeneratedRegex(@"(?<![\d.])(?<i>\d+)\.(?<f>\d*?)0+(?![\d])")] private static partial Regex TrailingDecimalZerosRegex();
    [GeneratedRegex(@"(?<![\d.])0+(?=\d)")] private static partial Regex LeadingZerosRegex();
}
