using System.Text.RegularExpressions;

namespace IwSft.Stages.Curate.Filter;

/// <summary>
/// The s1 "weird string" rules, applied to the question text. Each returns the matched text (or null).
/// <list type="bullet">
/// <item><c>asy_figure</c>: the literal <c>[asy]</c> (an Asymptote figure the model cannot see), except for
/// sources matching <see cref="FilterConfig.AsyAllowedSourcePattern"/> (AIME, whose figures are usually redundant).</item>
/// <item><c>image_link</c>: the literal <c>![Image]</c> (a Markdown image placeholder left by scraping).</item>
/// <item><c>problem_marker</c>: <c>(?&lt;![\w])[pP]\d+\.(?!\d)</c>: "p1." / "P12." problem-list markers of
/// scraped contest pages (not inside words such as "step2." and not decimals such as "p1.5").</item>
/// <item><c>bold_number</c>: <c>\*\*\d+\.\*\*</c>: Markdown bold enumeration such as "**1.**".</item>
/// </list>
/// </summary>
public static partial class WeirdStrings
{
    [GeneratedRegex(@"(?<![\w])[pP]\d+\.(?!\d)", RegexOptions.CultureInvariant)]
    public static partial Regex ProblemMarker();

    [GeneratedRegex(@"\*\*\d+\.\*\*", RegexOptions.CultureInvariant)]
    public static partial Regex BoldNumber();

    public const string AsyTag = "[asy]";
    public const string ImageTag = "![Image]";

    public static string? Literal(string? text, string literal)
    {
        if (text is null) return null;
        int i = text.IndexOf(literal, StringComparison.Ordinal);
        return i < 0 ? null : $"'{literal}' at char {i}";
    }

    public static string? Pattern(string? text, Regex regex)
    {
        if (text is null) return null;
        var m = regex.Match(text);
        return m.Success ? $"'{m.Value}' at char {m.Index}" : null;
    }
}
