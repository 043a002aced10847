using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace IwSft.Stages.Evaluate;

/// <summary>
/// Whether two final math answers are the same, in the spirit of the Hendrycks MATH <c>is_equiv</c>
/// used by s1 and lm-evaluation-harness: both strings are put in a canonical form (see
/// <see cref="Normalize"/>) and compared; then, if they differ, as numbers within a relative tolerance;
/// then element-wise for tuples/lists. Our own implementation; where it goes beyond Hendrycks it is
/// noted in docs/evaluate.md.
/// </summary>
public static partial class MathEquivalence
{
    public const double DefaultRelativeTolerance = 1e-6;

    public static bool AreEquivalent(string? a, string? b, double relativeTolerance = DefaultRelativeTolerance)
    {
        if (a is null || b is null) return false;
        string na = Normalize(a), nb = Normalize(b);
        if (na.Length == 0 || nb.Length == 0) return false;
        return EquivalentNormalized(na, nb, relativeTolerance, depth: 0);
    }

    static bool EquivalentNormalized(string na, string nb, double tol, int depth)
    {
        if (na == nb) return true;
        // Two integers are compared exactly: a relative tolerance would make 1450001 equal 1450000.
        if (IntegerRegex().IsMatch(na) && IntegerRegex().IsMatch(nb)) return false;
        if (TryEvaluate(na, out double x) && TryEvaluate(nb, out double y)) return NumbersClose(x, y, tol);
        if (depth > 3) return false;

        // Tuples / intervals: same brackets, element-wise.
        if (IsBracketed(na) && IsBracketed(nb) && na[0] == nb[0] && na[^1] == nb[^1])
        {
            var ea = LatexText.SplitTopLevel(na[1..^1]);
            var eb = LatexText.SplitTopLevel(nb[1..^1]);
            return ea.Count == eb.Count && ea.Count > 1
                && ea.Zip(eb).All(p => EquivalentNormalized(p.First, p.Second, tol, depth + 1));
        }

        // Bare comma lists ("1,-2" vs "-2,1"): MATH asks for "all solutions, separated by commas", order free.
        var la = LatexText.SplitTopLevel(na);
        var lb = LatexText.SplitTopLevel(nb);
        if (la.Count > 1 && la.Count == lb.Count)
        {
            var remaining = new List<string>(lb);
            foreach (var e in la)
            {
                int j = remaining.FindIndex(r => EquivalentNormalized(e, r, tol, depth + 1));
                if (j < 0) return false;
                remaining.RemoveAt(j);
            }
            return true;
        }
        return false;
    }

    static bool IsBracketed(string s) =>
        s.Length > 1 && s[0] is ('(' or '[') && s[^1] is (')' or ']') && LatexText.IsWrappedBy(s, s[0], s[^1]);

    static bool NumbersClose(double x, double y, double tol)
    {
        if (x == y) return true;
        double scale = Math.Max(Math.Abs(x), Math.Abs(y));
        return Math.Abs(x - y) <= tol * Math.Max(scale, 1e-12);
    }

    // ---- normalisation ----

    static readonly string[] UnitWords =
    [
        "cm", "m", "km", "mm", "inches", "inch", "in", "feet", "foot", "ft", "yards", "yard", "miles", "mile",
        "meters", "meter", "metres", "metre", "centimeters", "units", "unit", "sq units", "square units",
        "square feet", "square inches", "square meters", "square centimeters", "cubic feet", "cubic inches",
        "cubic units", "degrees", "degree", "hours", "hour", "minutes", "minute", "seconds", "second", "days",
        "day", "weeks", "years", "dollars", "dollar", "cents", "cent", "mph", "pounds", "ounces", "grams", "kg",
        "liters", "gallons", "students", "people", "points", "ways", "p.m.", "a.m.",
    ];

    /// <summary>
    /// The canonical form: inline-math delimiters, \boxed, \left/\right, \! and thin spaces, \$ and $,
    /// degrees, percent, \text{} wrappers and trailing units removed; \dfrac/\tfrac → \frac; \frac12 →
    /// \frac{1}{2}; \sqrt2 → \sqrt{2}; x^{2} → x^2; thousands separators, leading zeros and trailing
    /// decimal zeros dropped; .5 → 0.5; a short "x =" prefix dropped; all whitespace removed.
    /// </summary>
    public static string Normalize(string answer)
    {
        string s = answer.Trim();
        s = StripDelimiters(s);
        s = s.Replace("\n", "").Replace("\r", "");
        s = s.Replace("\\!", "").Replace("\\,", "").Replace("\\;", "").Replace("\\:", "").Replace("~", " ").Trim();
        // Thousands separators, only when the whole answer is one grouped number: "1,000" but not "3, 5, 7".
        s = s.Replace("{,}", ",");
        if (ThousandsRegex().IsMatch(s)) s = s.Replace(",", "");

        s = s.Replace("\\\\", "\\");
        s = s.Replace("\\dfrac", "\\frac").Replace("\\tfrac", "\\frac").Replace("\\displaystyle", "");
        s = LeftRightDotRegex().Replace(s, "");
        s = LeftRightRegex().Replace(s, "");
        s = DegreesRegex().Replace(s, "");
        s = s.Replace("°", "");
        s = s.Replace("\\$", "").Replace("$", "");
        s = s.Replace("\\%", "").Replace("%", "");
        s = StripTrailingUnits(s);
        s = UnwrapTextRegex().Replace(s, m => m.Groups["c"].Value);
        s = UnwrapTextRegex().Replace(s, m => m.Groups["c"].Value); // nested \text{\textbf{..}}
        s = StripUnitWords(s.Trim());
        s = StripShortLhs(s);

        s = WhitespaceRegex().Replace(s, "");
        s = FixCommandArguments(s, "\\frac", 2);
        s = FixCommandArguments(s, "\\sqrt", 1);
        s = SingleCharScriptRegex().Replace(s, "${op}${c}");
        s = LeadingDotRegex().Replace(s, "0.");
        s = TrailingDecimalZerosRegex().Replace(s, m => m.Groups["i"].Value + (m.Groups["f"].Value.Length > 0 ? "." + m.Groups["f"].Value : ""));
        s = LeadingZerosRegex().Replace(s, "");
        s = s.TrimEnd('.');
        if (s.StartsWith('+')) s = s[1..];
        return s;
    }

    static string StripDelimiters(string s)
    {
        for (int guard = 0; guard < 4; guard++)
        {
            string before = s;
            s = s.Trim();
            if (s.StartsWith("\\(") && s.EndsWith("\\)")) s = s[2..^2];
            else if (s.StartsWith("\\[") && s.EndsWith("\\]")) s = s[2..^2];
            else if (s.Length >= 2 && s.StartsWith('$') && s.EndsWith('$') && !s.StartsWith("\\$")) s = s.Trim('$');
            foreach (var cmd in new[] { "\\boxed", "\\fbox" })
            {
                if (s.StartsWith(cmd + "{") && LatexText.SkipGroup(s, cmd.Length) == s.Length)
                    s = s[(cmd.Length + 1)..^1];
            }
            if (s == before) break;
        }
        return s;
    }

    // "5 \text{ cm}", "10\mbox{ inches}^2": drop a trailing text group when something numeric precedes it.
    static string StripTrailingUnits(string s)
    {
        for (int guard = 0; guard < 3; guard++)
        {
            var m = TrailingTextUnitRegex().Match(s);
            if (!m.Success || !m.Groups["pre"].Value.Any(char.IsAsciiDigit)) break;
            s = m.Groups["pre"].Value.TrimEnd();
        }
        return s;
    }

    static string StripUnitWords(string s)
    {
        var m = NumberThenWordsRegex().Match(s);
        if (!m.Success) return s;
        string unit = m.Groups["u"].Value.Trim().ToLowerInvariant();
        if (unit.Length > 0 && UnitWords.Contains(unit)) return m.Groups["n"].Value.Trim();
        if (unit.StartsWith("^2") || unit.StartsWith("^3")) return s;
        return s;
    }

    // Hendrycks: "x = 5" → "5" when the left side is at most two characters.
    static string StripShortLhs(string s)
    {
        var parts = s.Split('=');
        if (parts.Length == 2 && parts[0].Trim().Length is > 0 and <= 2 && !parts[0].Any(char.IsAsciiDigit))
            return parts[1].Trim();
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
            bool isWholeCommand = at >= 0 && (at + command.Length >= s.Length || !char.IsAsciiLetter(s[at + command.Length]));
            if (at < 0) { sb.Append(s, i, s.Length - i); break; }
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
    /// The value of a normalised answer when it is a plain number, a fraction (a/b, \frac{a}{b} with
    /// numeric a, b, optionally signed), a mixed number "2\frac{1}{2}", or scientific notation
    /// (4.5e33, 4.5\times10^{33}).
    /// </summary>
    public static bool TryEvaluate(string normalized, out double value)
    {
        value = 0;
        string s = normalized;
        if (TryNumber(s, out value)) return true;
        var frac = FracRegex().Match(s);
        if (frac.Success && TryNumber(frac.Groups["a"].Value, out double a) && TryNumber(frac.Groups["b"].Value, out double b) && b != 0)
        {
            double whole = 0;
            if (frac.Groups["w"].Success && !TryNumber(frac.Groups["w"].Value, out whole)) return false;
            value = Math.Abs(whole) + a / b;
            if (frac.Groups["sign"].Value == "-" || whole < 0) value = -value;
            return true;
        }
        var slash = SlashRegex().Match(s);
        if (slash.Success && TryNumber(slash.Groups["a"].Value, out a) && TryNumber(slash.Groups["b"].Value, out b) && b != 0)
        {
            value = a / b;
            return true;
        }
        var sci = TimesTenRegex().Match(s);
        if (sci.Success && TryNumber(sci.Groups["m"].Value, out double mant) && int.TryParse(sci.Groups["e"].Value, out int exp))
        {
            value = mant * Math.Pow(10, exp);
            return true;
        }
        return false;
    }

    static bool TryNumber(string s, out double v) =>
        double.TryParse(s, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent,
            CultureInfo.InvariantCulture, out v) && double.IsFinite(v) && NumberRegex().IsMatch(s);

    [GeneratedRegex(@"^-?\d+$")] private static partial Regex IntegerRegex();
    [GeneratedRegex(@"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")] private static partial Regex NumberRegex();
    [GeneratedRegex(@"^(?<sign>[+-]?)(?<w>\d+)?\\frac\{(?<a>[^{}]+)\}\{(?<b>[^{}]+)\}$")] private static partial Regex FracRegex();
    [GeneratedRegex(@"^(?<a>[+-]?\d+\.?\d*)/(?<b>\d+\.?\d*)$")] private static partial Regex SlashRegex();
    [GeneratedRegex(@"^(?<m>[+-]?\d+\.?\d*)(?:\\times|\\cdot|\*)10\^\{?(?<e>[+-]?\d+)\}?$")] private static partial Regex TimesTenRegex();

    [GeneratedRegex(@"^-?\d{1,3}(,\d{3})+(\.\d+)?$")] private static partial Regex ThousandsRegex();
    [GeneratedRegex(@"\\(left|right)\.")] private static partial Regex LeftRightDotRegex();
    [GeneratedRegex(@"\\(left|right)(?![a-zA-Z])")] private static partial Regex LeftRightRegex();
    [GeneratedRegex(@"\^\s*\{?\s*\\circ\s*\}?|\\circ")] private static partial Regex DegreesRegex();
    [GeneratedRegex(@"^(?<pre>.*?)\s*\\(?:text|mbox|mathrm|textrm|operatorname)\s*\{\s*[a-zA-Z][^{}]*\}(\^\{?\d\}?)?\s*$")] private static partial Regex TrailingTextUnitRegex();
    [GeneratedRegex(@"\\(?:text|textbf|textit|textrm|textnormal|mbox|mathrm|mathbf|boldsymbol)\s*\{(?<c>[^{}]*)\}")] private static partial Regex UnwrapTextRegex();
    [GeneratedRegex(@"^(?<n>[+-]?[\d.,]+(?:\\frac\{\d+\}\{\d+\})?)\s*(?<u>[a-zA-Z][a-zA-Z. ]*)(\^[23])?$")] private static partial Regex NumberThenWordsRegex();
    [GeneratedRegex(@"\s+")] private static partial Regex WhitespaceRegex();
    [GeneratedRegex(@"(?<op>[\^_])\{(?<c>[A-Za-z0-9])\}")] private static partial Regex SingleCharScriptRegex();
    [GeneratedRegex(@"(?<![\d}a-zA-Z])\.(?=\d)")] private static partial Regex LeadingDotRegex();
    [GeneratedRegex(@"(?<![\d.])(?<i>\d+)\.(?<f>\d*?)0+(?![\d])")] private static partial Regex TrailingDecimalZerosRegex();
    [GeneratedRegex(@"(?<![\d.])0+(?=\d)")] private static partial Regex LeadingZerosRegex();
}
