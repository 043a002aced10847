using System.Text.RegularExpressions;

namespace IwSft.Stages.Evaluate;

/// <summary>Which answer marker an extraction came from (kept in results for debugging graders).</summary>
public enum AnswerSource { None, Boxed, AnswerLine, FinalAnswerPhrase, Gsm8kHashes, LastNumber, ChoiceLetter, LastMath, WholeText }

public sealed record ExtractedAnswer(string Text, AnswerSource Source, int Position);

/// <summary>
/// Pulls the final answer out of a model response. Math markers: the last <c>\boxed{...}</c> /
/// <c>\fbox{...}</c> (nested braces; boxes joined by "and", "or", commas or nothing — "\boxed{1} and
/// \boxed{2}" — form one list), an <c>Answer: ...</c> line (the s1 format; also "Answer $9$", "Answer \[9\]"),
/// "the final answer is ..." (Minerva format), GSM8K's <c>#### N</c>. When a response has several markers
/// the one that occurs last wins: models often box intermediate results while thinking and state the
/// answer at the end. Optional fallbacks: the last math span (<c>$..$</c>, <c>\(..\)</c>, <c>\[..\]</c>) or
/// the last number, whichever ends later.
/// </summary>
public static partial class AnswerExtractor
{
    public static ExtractedAnswer? ExtractMath(string response, bool lastNumberFallback = false, bool lastMathFallback = false, bool decimalComma = false)
    {
        var marked = LastMarker(response);
        if (marked is not null) return marked;
        return Fallback(response, lastNumberFallback, lastMathFallback, decimalComma);
    }

    /// <summary>
    /// The answer in a gold field or in a bare answer (what a user types, or a Math-Verify gold): a marker as
    /// for a response; else the whole text when it reads as an answer rather than prose ("$125$ miles",
    /// "x = 5", "1 and 2"); else the fallbacks that are enabled.
    /// </summary>
    public static ExtractedAnswer? ExtractAnswer(string text, bool lastNumberFallback = true, bool lastMathFallback = true, bool decimalComma = false)
    {
        var marked = LastMarker(text);
        if (marked is not null) return marked;
        string trimmed = text.Trim();
        if (trimmed.Length == 0) return null;
        if (!IsProse(trimmed)) return new(trimmed, AnswerSource.WholeText, 0);
        return Fallback(text, lastNumberFallback, lastMathFallback, decimalComma);
    }

    static ExtractedAnswer? LastMarker(string response)
    {
        ExtractedAnswer? best = null;
        void Consider(ExtractedAnswer? a)
        {
            if (a is null || a.Text.Length == 0) return;
            if (best is null || a.Position > best.Position) best = a;
        }
        Consider(LastBoxedGroup(response));
        Consider(LastAnswerLine(response));
        Consider(LastAnswerBeforeMath(response));
        Consider(LastFinalAnswerPhrase(response));
        Consider(LastGsm8k(response));
        return best;
    }

    static ExtractedAnswer? Fallback(string text, bool lastNumber, bool lastMath, bool decimalComma)
    {
        var math = lastMath ? LastMathSpan(text) : null;
        var number = lastNumber ? LastNumber(text, decimalComma) : null;
        if (math is not { } m) return number?.Answer;
        if (number is not { } n) return m.Answer;
        int mathEnd = m.Answer.Position + m.Length, numberEnd = n.Answer.Position + n.Length;
        return numberEnd > mathEnd ? n.Answer : m.Answer;
    }

    // ---- boxes ----

    /// <summary>Every top-level <c>\boxed{..}</c> / <c>\fbox{..}</c> (and TeX's <c>\boxed 5</c>), in order, with its span.</summary>
    static List<(int Start, int End, string Content)> AllBoxes(string text)
    {
        var boxes = new List<(int, int, string)>();
        int i = 0;
        while (i < text.Length)
        {
            int b = text.IndexOf("\\boxed", i, StringComparison.Ordinal);
            int f = text.IndexOf("\\fbox", i, StringComparison.Ordinal);
            int at = b < 0 ? f : f < 0 ? b : Math.Min(b, f);
            if (at < 0) break;
            int after = at + (at == b ? "\\boxed".Length : "\\fbox".Length);
            if (after < text.Length && text[after] == '{')
            {
                int end = LatexText.SkipGroup(text, after);
                if (end > 0)
                {
                    boxes.Add((at, end, text.Substring(after + 1, end - after - 2).Trim()));
                    i = end;
                    continue;
                }
            }
            else if (after < text.Length && text[after] == ' ')
            {
                // "\boxed 5": the argument runs to the next '$' or whitespace.
                var m = BoxedSpaceArgumentRegex().Match(text, after + 1);
                if (m.Success && m.Index == after + 1)
                {
                    boxes.Add((at, m.Index + m.Length, m.Value));
                    i = m.Index + m.Length;
                    continue;
                }
            }
            i = after;
        }
        return boxes;
    }

    [GeneratedRegex(@"[^\s$]+")] private static partial Regex BoxedSpaceArgumentRegex();

    /// <summary>Content of the last <c>\boxed{..}</c> or <c>\fbox{..}</c>; also TeX's <c>\boxed 5</c>.</summary>
    public static ExtractedAnswer? LastBoxed(string text)
    {
        var boxes = AllBoxes(text);
        for (int k = boxes.Count - 1; k >= 0; k--)
            if (boxes[k].Content.Length > 0) return new(boxes[k].Content, AnswerSource.Boxed, boxes[k].Start);
        return null;
    }

    /// <summary>
    /// The last box together with the boxes just before it that are joined to it by "and", "or", commas,
    /// spacing or nothing ("\boxed{1} and \boxed{2}", "\boxed{(2,2)} \quad\text{and}\quad \boxed{(6,2)}"):
    /// their contents as one comma-separated list. Identical boxes count once.
    /// </summary>
    public static ExtractedAnswer? LastBoxedGroup(string text)
    {
        var boxes = AllBoxes(text).Where(b => b.Content.Length > 0).ToList();
        if (boxes.Count == 0) return null;
        int first = boxes.Count - 1;
        while (first > 0 && GapJoins(text[boxes[first - 1].End..boxes[first].Start])) first--;
        var contents = boxes.Skip(first).Select(b => b.Content).ToList();
        if (contents.Distinct(StringComparer.Ordinal).Count() == 1) contents = [contents[0]];
        return new(string.Join(", ", contents), AnswerSource.Boxed, boxes[first].Start);
    }

    /// <summary>Between two boxes: only punctuation and spacing, or a few words including "and"/"or" ("papers and", "for part (a) and").</summary>
    static bool GapJoins(string gap)
    {
        if (gap.Length > 60 || gap.Any(char.IsAsciiDigit) && !GapDigitsAreLabels(gap)) return false;
        string g = GapLatexRegex().Replace(gap, " ");
        var words = WordRegex().Matches(g).Select(m => m.Value.ToLowerInvariant()).ToList();
        if (words.Count == 0) return !g.Contains('=') && !g.Contains('<') && !g.Contains('>');
        return words.Count <= 5 && words.Any(w => w is "and" or "or");
    }

    // "\boxed{1} and \( y_2 = \boxed{3}": digits in a subscripted label.
    static bool GapDigitsAreLabels(string gap) => !GapDigitRegex().IsMatch(GapLabelRegex().Replace(gap, ""));

    [GeneratedRegex(@"\\(?:text|textbf|mbox|mathrm)\s*\{|\\[a-zA-Z]+|\\[()\[\]$,;!: ]|[$]")] private static partial Regex GapLatexRegex();
    [GeneratedRegex(@"[A-Za-z]+")] private static partial Regex WordRegex();
    [GeneratedRegex(@"_\{?\d+\}?")] private static partial Regex GapLabelRegex();
    [GeneratedRegex(@"\d")] private static partial Regex GapDigitRegex();

    // ---- answer lines ----

    [GeneratedRegex(@"^[ \t>*#_]*(?:final[ \t]+)?answer[ \t*_]*[:：][ \t*_]*(?<a>.*)$", RegexOptions.IgnoreCase | RegexOptions.Multiline)]
    private static partial Regex AnswerLineRegex();

    /// <summary>The last "Answer: ..." line; an empty one takes the next non-empty line.</summary>
    public static ExtractedAnswer? LastAnswerLine(string text)
    {
        var ms = AnswerLineRegex().Matches(text);
        for (int k = ms.Count - 1; k >= 0; k--)
        {
            var m = ms[k];
            string a = m.Groups["a"].Value.Trim();
            if (a.Length == 0)
            {
                int next = m.Index + m.Length;
                a = text[next..].Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0) ?? "";
            }
            a = CleanInline(a);
            if (a.Length > 0) return new(a, AnswerSource.AnswerLine, m.Index);
        }
        return null;
    }

    [GeneratedRegex(@"\banswer\s*(?:is\s*)?[:：]?\s*(?<env>\$\$[\s\S]+?\$\$|\$(?!\$)(?:\\.|[^$\\\n])+?\$|\\\([^\n]*?\\\)|\\\[[\s\S]+?\\\])", RegexOptions.IgnoreCase)]
    private static partial Regex AnswerBeforeMathRegex();

    /// <summary>"Answer \[ 9 \]", "Answer $9$", "the answer is \(x = 2\)": the word answer followed by a math span.</summary>
    public static ExtractedAnswer? LastAnswerBeforeMath(string text)
    {
        var ms = AnswerBeforeMathRegex().Matches(text);
        for (int k = ms.Count - 1; k >= 0; k--)
        {
            var a = CleanInline(ms[k].Groups["env"].Value);
            if (a.Length > 0) return new(a, AnswerSource.AnswerLine, ms[k].Index);
        }
        return null;
    }

    [GeneratedRegex(@"final answer is[:\s]*(?<a>.+?)(?:\.\s*I hope it is correct|\.?\s*$)", RegexOptions.IgnoreCase | RegexOptions.Multiline)]
    private static partial Regex FinalAnswerRegex();

    public static ExtractedAnswer? LastFinalAnswerPhrase(string text)
    {
        var ms = FinalAnswerRegex().Matches(text);
        if (ms.Count == 0) return null;
        var m = ms[^1];
        var a = CleanInline(m.Groups["a"].Value);
        return a.Length == 0 ? null : new(a, AnswerSource.FinalAnswerPhrase, m.Index);
    }

    [GeneratedRegex(@"####[ \t]*(?<a>[^\n]*)")]
    private static partial Regex Gsm8kRegex();

    /// <summary>GSM8K's "#### 1,234": the number after the last marker, thousands separators and $ removed.</summary>
    public static ExtractedAnswer? LastGsm8k(string text)
    {
        var ms = Gsm8kRegex().Matches(text);
        if (ms.Count == 0) return null;
        var m = ms[^1];
        var a = m.Groups["a"].Value.Trim().Replace(",", "").Replace("$", "").TrimEnd('.').Trim();
        return a.Length == 0 ? null : new(a, AnswerSource.Gsm8kHashes, m.Index);
    }

    // ---- fallbacks ----

    [GeneratedRegex(@"(?<![\w.,/])-?(?:[1-9]\d{0,2}(?:,\d{3})+|\d+|(?=\.\d))(?:\.\d+)?(?:/\d+(?![\d.,]\d))?(?![\d])")]
    private static partial Regex NumberRegex();

    [GeneratedRegex(@"(?<![\w.,/])-?(?:[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?|\d+,\d+(?![\d,])|(?:\d+|(?=\.\d))(?:\.\d+)?(?:/\d+(?![\d.,]\d))?)(?![\d])")]
    private static partial Regex NumberWithDecimalCommaRegex();

    /// <summary>The last number in the text (lm-evaluation-harness's "flexible extract" for GSM8K); not one glued to a word (K2A).</summary>
    public static ExtractedAnswer? LastNumber(string text) => LastNumber(text, decimalComma: false)?.Answer;

    static (ExtractedAnswer Answer, int Length)? LastNumber(string text, bool decimalComma)
    {
        var ms = (decimalComma ? NumberWithDecimalCommaRegex() : NumberRegex()).Matches(text);
        if (ms.Count == 0) return null;
        var m = ms[^1];
        string v = m.Value;
        v = ThousandsInTextRegex().IsMatch(v) ? v.Replace(",", "") : v;
        return (new(v, AnswerSource.LastNumber, m.Index), m.Length);
    }

    [GeneratedRegex(@"^-?[1-9]\d{0,2}(,\d{3})+(\.\d+)?$")] private static partial Regex ThousandsInTextRegex();

    /// <summary>The last math span: <c>$$..$$</c>, <c>\[..\]</c> (may span lines), <c>$..$</c>, <c>\(..\)</c> (one line).</summary>
    public static ExtractedAnswer? LastMath(string text) => LastMathSpan(text)?.Answer;

    static (ExtractedAnswer Answer, int Length)? LastMathSpan(string text)
    {
        (ExtractedAnswer, int)? last = null;
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (c == '\\' && i + 1 < text.Length)
            {
                char n = text[i + 1];
                if (n == '$') { i += 2; continue; }
                if (n is '(' or '[')
                {
                    string close = n == '(' ? "\\)" : "\\]";
                    int end = text.IndexOf(close, i + 2, StringComparison.Ordinal);
                    if (end > 0 && (n == '[' || !text.AsSpan(i + 2, end - i - 2).Contains('\n')))
                    {
                        var content = text[(i + 2)..end].Trim();
                        if (content.Length > 0) last = (new(content, AnswerSource.LastMath, i), end + 2 - i);
                        i = end + 2;
                        continue;
                    }
                }
                i += 2;
                continue;
            }
            if (c == '$')
            {
                bool display = i + 1 < text.Length && text[i + 1] == '$';
                int from = i + (display ? 2 : 1);
                int end = FindClosingDollar(text, from, display);
                if (end > 0)
                {
                    var content = text[from..end].Trim();
                    if (content.Length > 0) last = (new(content, AnswerSource.LastMath, i), end + (display ? 2 : 1) - i);
                    i = end + (display ? 2 : 1);
                    continue;
                }
                i = from;
                continue;
            }
            i++;
        }
        return last;
    }

    static int FindClosingDollar(string text, int from, bool display)
    {
        for (int j = from; j < text.Length; j++)
        {
            if (text[j] == '\\' && j + 1 < text.Length) { j++; continue; }
            if (!display && text[j] == '\n') return -1;
            if (text[j] == '$')
            {
                if (!display) return j;
                if (j + 1 < text.Length && text[j + 1] == '$') return j;
            }
        }
        return -1;
    }

    /// <summary>
    /// Prose rather than an answer: at least two words of two or more letters, standing between spaces or
    /// punctuation outside math spans and LaTeX commands, that are neither "and"/"or", units nor function
    /// names ("The largest $n$ is 34" is prose; "$125$ miles", "x = 5 and y = 6", "\text{Evelyn}",
    /// "\frac{dM}{dt}" are not).
    /// </summary>
    static bool IsProse(string text)
    {
        string outside = ProseMathRegex().Replace(text, " ");
        outside = ProseCommandRegex().Replace(outside, " ");
        int words = 0;
        foreach (Match w in ProseWordRegex().Matches(outside))
        {
            string v = w.Value.ToLowerInvariant();
            if (v is "and" or "or" or "percent" or "pct" or "percentage" || ProseUnits.Contains(v) || MathWords.Contains(v)) continue;
            if (++words >= 2) return true;
        }
        return false;
    }

    static readonly HashSet<string> MathWords = ["sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
        "log", "ln", "exp", "sqrt", "lim", "max", "min", "gcd", "lcm", "mod", "det", "np", "math", "pi", "inf"];

    static readonly HashSet<string> ProseUnits = ["cm", "km", "mm", "inches", "feet", "ft", "miles", "meters", "units", "degrees", "hours", "minutes", "seconds", "days", "years", "dollars", "cents", "yuan", "square", "cubic", "sq"];

    [GeneratedRegex(@"\$\$[\s\S]*?\$\$|\$[^$]*\$|\\\([\s\S]*?\\\)|\\\[[\s\S]*?\\\]")] private static partial Regex ProseMathRegex();
    [GeneratedRegex(@"\\(?:begin|end)\s*\{[^{}]*\}|\\[a-zA-Z]+")] private static partial Regex ProseCommandRegex();
    [GeneratedRegex(@"(?<=^|[\s(""'])[A-Za-z]{2,}(?=$|[\s.,;:!?)""'])")] private static partial Regex ProseWordRegex();

    /// <summary>
    /// Strips inline-math delimiters, a wrapping \boxed, quotes, "I hope it is correct", and a sentence-final
    /// period; an answer stated in a sentence ("The largest $n$ is 34.") gives its last math span or number.
    /// </summary>
    static string CleanInline(string a)
    {
        a = a.Trim();
        a = HopeRegex().Replace(a, "").Trim();
        a = QuotesRegex().Replace(a, "").Trim();
        var boxed = LastBoxed(a);
        if (boxed is not null && boxed.Position == 0 && a.StartsWith("\\boxed{") && LatexText.SkipGroup(a, 6) == a.Length)
            a = boxed.Text;
        a = a.TrimEnd('.', ' ');
        if (IsProse(a))
        {
            var inner = Fallback(a, lastNumber: true, lastMath: true, decimalComma: false);
            if (inner is not null) a = inner.Text;
        }
        if (a.StartsWith("\\(") && a.EndsWith("\\)")) a = a[2..^2];
        else if (a.StartsWith("\\[") && a.EndsWith("\\]")) a = a[2..^2];
        else if (a.Length >= 2 && a[0] == '$' && a[^1] == '$') a = a.Trim('$');
        return a.Trim().TrimEnd('.').Trim();
    }

    [GeneratedRegex(@"^(?:\\?[""'“”`])+|(?:\\?[""'“”`])+$")] private static partial Regex QuotesRegex();
    [GeneratedRegex(@"\.?\s*I hope it is correct\.?.*$", RegexOptions.IgnoreCase | RegexOptions.Singleline)] private static partial Regex HopeRegex();

    // ---- multiple choice ----

    [GeneratedRegex(@"answer\s*(?:is|:|：)?\s*(?:option\s*|choice\s*)?[*\s]*[\(\[]?\s*(?<l>[A-Z])\s*[\)\]]?(?![A-Za-z])", RegexOptions.IgnoreCase)]
    private static partial Regex AnswerIsLetterRegex();

    [GeneratedRegex(@"(?:option|choice)\s*[\(\[]?(?<l>[A-Z])[\)\]]?(?![A-Za-z])")]
    private static partial Regex OptionLetterRegex();

    [GeneratedRegex(@"[\(\[](?<l>[A-Z])[\)\]]")]
    private static partial Regex ParenLetterRegex();

    [GeneratedRegex(@"^[\s(\[*]*(?:\\(?:text|textbf|mathrm|mathbf|textrm|mbox)\s*\{\s*\(?)?(?<l>[A-Z])(?:\)?\s*\})?[\s)\]*.:]*$")]
    private static partial Regex BareLetterRegex();

    [GeneratedRegex(@"^\s*\**\s*\(?(?<l>[A-Z])\s*[.):]")]
    private static partial Regex LeadingLetterRegex();

    [GeneratedRegex(@"(?<![A-Za-z'’\\])(?<l>[A-Z])(?![A-Za-z'’])")]
    private static partial Regex StandaloneLetterRegex();

    /// <summary>
    /// A multiple-choice letter among the first <paramref name="choiceCount"/> letters: from a boxed
    /// letter, "Answer: (B)", "the answer is C", "option D", a lone "(B)", a response that is just a letter
    /// or starts with one ("A. Because ..."), or, last, the only capital letter standing alone in the text
    /// ("Because B is valid"; a sentence-initial "A"/"I" followed by a lower-case word is read as a word).
    /// Letter matches take the last occurrence. Returns null when none is found.
    /// </summary>
    public static ExtractedAnswer? ExtractChoice(string response, int choiceCount = 4)
    {
        char maxLetter = (char)('A' + Math.Clamp(choiceCount, 1, 26) - 1);
        bool Valid(string l) => l.Length == 1 && char.ToUpperInvariant(l[0]) >= 'A' && char.ToUpperInvariant(l[0]) <= maxLetter;

        var boxed = LastBoxed(response);
        var answerLine = LastAnswerLine(response);
        ExtractedAnswer? best = null;
        void Consider(string? letter, int position)
        {
            if (letter is null || !Valid(letter)) return;
            if (best is null || position > best.Position)
                best = new(letter.ToUpperInvariant(), AnswerSource.ChoiceLetter, position);
        }
        foreach (var marked in new[] { boxed, answerLine })
        {
            if (marked is null) continue;
            var m = BareLetterRegex().Match(marked.Text);
            if (m.Success) Consider(m.Groups["l"].Value, marked.Position);
            else
            {
                var p = ParenLetterRegex().Match(marked.Text);
                if (p.Success) Consider(p.Groups["l"].Value, marked.Position);
            }
        }
        if (best is not null) return best;

        var phrase = AnswerIsLetterRegex().Matches(response).LastOrDefault(x => Valid(x.Groups["l"].Value) && IsUpperOrParenthesised(x));
        if (phrase is not null) return new(phrase.Groups["l"].Value.ToUpperInvariant(), AnswerSource.ChoiceLetter, phrase.Index);
        var option = OptionLetterRegex().Matches(response).LastOrDefault(x => Valid(x.Groups["l"].Value));
        if (option is not null) return new(option.Groups["l"].Value, AnswerSource.ChoiceLetter, option.Index);
        var paren = ParenLetterRegex().Matches(response).LastOrDefault(x => Valid(x.Groups["l"].Value));
        if (paren is not null) return new(paren.Groups["l"].Value, AnswerSource.ChoiceLetter, paren.Index);
        var bare = BareLetterRegex().Match(response.Trim());
        if (bare.Success && Valid(bare.Groups["l"].Value)) return new(bare.Groups["l"].Value, AnswerSource.ChoiceLetter, 0);
        var leading = LeadingLetterRegex().Match(response);
        if (leading.Success && Valid(leading.Groups["l"].Value)) return new(leading.Groups["l"].Value, AnswerSource.ChoiceLetter, leading.Index);
        var standalone = StandaloneLetterRegex().Matches(response)
            .Where(x => Valid(x.Groups["l"].Value) && !IsSentenceWord(response, x)).ToList();
        if (standalone.Select(x => x.Groups["l"].Value).Distinct().Count() == 1)
            return new(standalone[^1].Groups["l"].Value, AnswerSource.ChoiceLetter, standalone[^1].Index);
        return null;
    }

    // "the answer is a multiple of 3" must not read as choice A: a lower-case letter only counts in brackets.
    static bool IsUpperOrParenthesised(Match m)
    {
        char l = m.Groups["l"].Value[0];
        return char.IsUpper(l) || m.Value.Contains('(') || m.Value.Contains('[');
    }

    /// <summary>"A good start ...", "I think ...": the article or pronoun, not a choice.</summary>
    static bool IsSentenceWord(string text, Match m)
    {
        char l = m.Groups["l"].Value[0];
        if (l is not ('A' or 'I')) return false;
        int after = m.Index + 1;
        var rest = text.AsSpan(after).TrimStart(' ');
        if (rest.Length == 0 || rest.Length == text.Length - after) return false;
        if (!char.IsAsciiLetterLower(rest[0])) return false;
        // "A is correct" names the choice; "A good start" is an article.
        var word = WordRegex().Match(rest.ToString()).Value;
        return word is not ("is" or "was" or "seems" or "looks");
    }
}
