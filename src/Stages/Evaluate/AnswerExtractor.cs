using System.Text.RegularExpressions;

namespace IwSft.Stages.Evaluate;

/// <summary>Which answer marker an extraction came from (kept in results for debugging graders).</summary>
public enum AnswerSource { None, Boxed, AnswerLine, FinalAnswerPhrase, Gsm8kHashes, LastNumber, ChoiceLetter }

public sealed record ExtractedAnswer(string Text, AnswerSource Source, int Position);

/// <summary>
/// Pulls the final answer out of a model response. Math markers: the last <c>\boxed{...}</c> /
/// <c>\fbox{...}</c> (nested braces), an <c>Answer: ...</c> line (the s1 format), "the final answer
/// is ..." (Minerva format), GSM8K's <c>#### N</c>. When a response has several markers the one that
/// occurs last wins: models often box intermediate results while thinking and state the answer at the end.
/// </summary>
public static partial class AnswerExtractor
{
    public static ExtractedAnswer? ExtractMath(string response, bool lastNumberFallback = false)
    {
        ExtractedAnswer? best = null;
        void Consider(ExtractedAnswer? a)
        {
            if (a is null || a.Text.Length == 0) return;
            if (best is null || a.Position > best.Position) best = a;
        }
        Consider(LastBoxed(response));
        Consider(LastAnswerLine(response));
        Consider(LastFinalAnswerPhrase(response));
        Consider(LastGsm8k(response));
        if (best is null && lastNumberFallback) Consider(LastNumber(response));
        return best;
    }

    /// <summary>Content of the last <c>\boxed{..}</c> or <c>\fbox{..}</c>; also TeX's <c>\boxed 5</c>.</summary>
    public static ExtractedAnswer? LastBoxed(string text)
    {
        int searchFrom = text.Length;
        while (searchFrom > 0)
        {
            int b = text.LastIndexOf("\\boxed", searchFrom - 1, StringComparison.Ordinal);
            int f = text.LastIndexOf("\\fbox", searchFrom - 1, StringComparison.Ordinal);
            int at = Math.Max(b, f);
            if (at < 0) return null;
            int after = at + (at == b ? "\\boxed".Length : "\\fbox".Length);
            if (after < text.Length && text[after] == '{')
            {
                int end = LatexText.SkipGroup(text, after);
                if (end > 0) return new(text.Substring(after + 1, end - after - 2).Trim(), AnswerSource.Boxed, at);
            }
            else if (after < text.Length && text[after] == ' ')
            {
                // "\boxed 5": the argument runs to the next '$' or whitespace.
                var m = Regex.Match(text[(after + 1)..], @"^[^\s$]+");
                if (m.Success) return new(m.Value, AnswerSource.Boxed, at);
            }
            searchFrom = at; // unclosed or empty: try an earlier one
        }
        return null;
    }

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

    [GeneratedRegex(@"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")]
    private static partial Regex NumberRegex();

    /// <summary>The last number in the text (lm-evaluation-harness's "flexible extract" for GSM8K).</summary>
    public static ExtractedAnswer? LastNumber(string text)
    {
        var ms = NumberRegex().Matches(text);
        if (ms.Count == 0) return null;
        var m = ms[^1];
        return new(m.Value.Replace(",", "").TrimEnd('.'), AnswerSource.LastNumber, m.Index);
    }

    /// <summary>Strips inline-math delimiters, a wrapping \boxed, and a sentence-final period.</summary>
    static string CleanInline(string a)
    {
        a = a.Trim();
        var boxed = LastBoxed(a);
        if (boxed is not null && boxed.Position == 0 && a.StartsWith("\\boxed{") && LatexText.SkipGroup(a, 6) == a.Length)
            a = boxed.Text;
        a = a.TrimEnd('.', ' ');
        if (a.StartsWith("\\(") && a.EndsWith("\\)")) a = a[2..^2];
        else if (a.StartsWith("\\[") && a.EndsWith("\\]")) a = a[2..^2];
        else if (a.Length >= 2 && a[0] == '$' && a[^1] == '$') a = a.Trim('$');
        return a.Trim().TrimEnd('.').Trim();
    }

    // ---- multiple choice ----

    [GeneratedRegex(@"answer\s*(?:is|:|：)?\s*(?:option\s*|choice\s*)?[*\s]*[\(\[]?\s*(?<l>[A-Z])\s*[\)\]]?(?![A-Za-z])", RegexOptions.IgnoreCase)]
    private static partial Regex AnswerIsLetterRegex();

    [GeneratedRegex(@"(?:option|choice)\s*[\(\[]?(?<l>[A-Z])[\)\]]?(?![A-Za-z])")]
    private static partial Regex OptionLetterRegex();

    [GeneratedRegex(@"[\(\[](?<l>[A-Z])[\)\]]")]
    private static partial Regex ParenLetterRegex();

    [GeneratedRegex(@"^[\s(\[*]*(?:\\text\{)?(?<l>[A-Z])(?:\})?[\s)\]*.:]*$")]
    private static partial Regex BareLetterRegex();

    /// <summary>
    /// A multiple-choice letter among the first <paramref name="choiceCount"/> letters: from a boxed
    /// letter, "Answer: (B)", "the answer is C", "option D", a lone "(B)", or a response that is just a letter.
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
        return null;
    }

    // "the answer is a multiple of 3" must not read as choice A: a lower-case letter only counts in brackets.
    static bool IsUpperOrParenthesised(Match m)
    {
        char l = m.Groups["l"].Value[0];
        return char.IsUpper(l) || m.Value.Contains('(') || m.Value.Contains('[');
    }
}
