using System.Globalization;
using System.Text.RegularExpressions;

namespace IwSft.Stages.Curate.Judge;

/// <summary>
/// Parses a judge's reply text into the feature value of its kind.
/// <list type="bullet">
/// <item>Domain: the first two-digit number that is a top-level MSC 2020 class (optionally followed by a
/// subclass like "11A41" or "11-XX"), not part of a longer number or decimal; returns the two digits.</item>
/// <item>Grading: the last standalone "yes" or "no" (any case) decides.</item>
/// <item>Quality: "N/10" if present, else the last standalone integer; must be 1..10.</item>
/// </list>
/// With a custom pattern, its group 1 is interpreted by the same kind's rules.
/// </summary>
public static partial class JudgeReplyParser
{
    /// <summary>Top-level classes of MSC 2020.</summary>
    public static readonly IReadOnlySet<string> MscClasses = new HashSet<string>(
        ("00 01 03 05 06 08 11 12 13 14 15 16 17 18 19 20 22 26 28 30 31 32 33 34 35 37 39 40 41 42 43 44 45 46 47 49 " +
         "51 52 53 54 55 57 58 60 62 65 68 70 74 76 78 80 81 82 83 85 86 90 91 92 93 94 97").Split(' '));

    /// <summary>The replies a guided-choice judge of this kind may give: each parses to a valid value, and every valid value has one.</summary>
    public static IReadOnlyList<string> Choices(JudgeKind kind) => kind switch
    {
        JudgeKind.Domain => MscClasses.Order(StringComparer.Ordinal).ToList(),
        JudgeKind.Grading => ["Yes", "No"],
        JudgeKind.Quality => Enumerable.Range(1, 10).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    [GeneratedRegex(@"(?<![\d.])(\d{2})(?:[A-Z]\d{2}|-(?:XX|xx|\d{2}))?(?!\d|\.\d)")]
    private static partial Regex MscCode();

    [GeneratedRegex(@"\b(yes|no)\b", RegexOptions.IgnoreCase)]
    private static partial Regex YesNo();

    [GeneratedRegex(@"(?<![\d.])(\d+)\s*/\s*10(?!\d)")]
    private static partial Regex OutOfTen();

    [GeneratedRegex(@"(?<![\d.])(\d+)(?!\d|\.\d)")]
    private static partial Regex Integer();

    /// <summary>The parsed value (string / bool / float) or null with <paramref name="error"/> set.</summary>
    public static object? Parse(JudgeKind kind, string reply, Regex? pattern, out string? error)
    {
        error = null;
        string text = reply;
        if (pattern != null)
        {
            var m = pattern.Match(reply);
            if (!m.Success || m.Groups.Count < 2) { error = $"reply does not match response pattern /{pattern}/"; return null; }
            text = m.Groups[1].Value;
        }
        switch (kind)
        {
            case JudgeKind.Domain:
                foreach (Match m in MscCode().Matches(text))
                    if (MscClasses.Contains(m.Groups[1].Value)) return m.Groups[1].Value;
                error = "no MSC 2020 class code in the reply";
                return null;
            case JudgeKind.Grading:
                var all = YesNo().Matches(text);
                if (all.Count == 0) { error = "no yes/no in the reply"; return null; }
                return all[^1].Value.Equals("yes", StringComparison.OrdinalIgnoreCase);
            case JudgeKind.Quality:
                var ten = OutOfTen().Match(text);
                var ints = Integer().Matches(text);
                string? s = ten.Success ? ten.Groups[1].Value : ints.Count > 0 ? ints[^1].Groups[1].Value : null;
                if (s is null) { error = "no integer score in the reply"; return null; }
                if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int q) || q < 1 || q > 10)
                {
                    error = $"score {s} is outside 1..10";
                    return null;
                }
                return (float)q;
            default:
                throw new ArgumentOutOfRangeException(nameof(kind));
        }
    }
}
