using System.Text.RegularExpressions;

namespace IwSft.Stages.Curate.Filter;

/// <summary>Builds the ordered rule list from a <see cref="FilterConfig"/>.</summary>
public static class FilterRules
{
    public const string MissingFeatures = "missing_features";
    public const string AsyFigure = "asy_figure";
    public const string ImageLink = "image_link";
    public const string ProblemMarker = "problem_marker";
    public const string BoldNumber = "bold_number";
    public const string Length = "length";
    public const string Difficulty = "difficulty";
    public const string MinQuality = "min_quality";

    public static List<FilterRule> FromConfig(FilterConfig c)
    {
        var rules = new List<FilterRule>();
        if (c.RequiredColumns.Count > 0)
            rules.Add(new(MissingFeatures, row =>
            {
                var missing = c.RequiredColumns.Where(col => row.Value(col) is null || row.Value(col) is string s && string.IsNullOrWhiteSpace(s)).ToList();
                return missing.Count == 0 ? null : "missing: " + string.Join(", ", missing);
            }));

        if (c.WeirdStrings)
        {
            var asyAllowed = new Regex(c.AsyAllowedSourcePattern, RegexOptions.CultureInvariant);
            rules.Add(new(AsyFigure, row => row.String("source") is { } src && asyAllowed.IsMatch(src) ? null
                : FirstMatch(row, c.WeirdStringColumns, t => WeirdStrings.Literal(t, WeirdStrings.AsyTag))));
            rules.Add(new(ImageLink, row => FirstMatch(row, c.WeirdStringColumns, t => WeirdStrings.Literal(t, WeirdStrings.ImageTag))));
            rules.Add(new(ProblemMarker, row => FirstMatch(row, c.WeirdStringColumns, t => WeirdStrings.Pattern(t, WeirdStrings.ProblemMarker()))));
            rules.Add(new(BoldNumber, row => FirstMatch(row, c.WeirdStringColumns, t => WeirdStrings.Pattern(t, WeirdStrings.BoldNumber()))));
        }

        foreach (var b in c.LengthBounds)
            rules.Add(new(Length, row =>
            {
                long? n = row.Value(b.Column) switch
                {
                    string s => s.Length,
                    int i => i,
                    long l => l,
                    null => null,
                    var other => throw new InvalidOperationException($"length bound on column '{b.Column}': a {other.GetType().Name} column has no length"),
                };
                if (n is null) return $"{b.Column} is null";
                string unit = row.Value(b.Column) is string ? " chars" : "";
                if (b.Min is { } min && n < min) return $"{b.Column} = {n}{unit} < min {min}";
                if (b.Max is { } max && n > max) return $"{b.Column} = {n}{unit} > max {max}";
                return null;
            }));

        if (c.SolvedByColumns.Count > 0)
            rules.Add(new(Difficulty, row =>
            {
                var unknown = c.SolvedByColumns.Where(col => row.Bool(col) is null).ToList();
                if (unknown.Count > 0) return "unknown (null): " + string.Join(", ", unknown);
                var solved = c.SolvedByColumns.Where(col => row.Bool(col) == true).ToList();
                return solved.Count == 0 ? null : "solved by: " + string.Join(", ", solved);
            }));

        if (c.MinQuality is { } minQ)
            rules.Add(new(MinQuality, row => row.Number(c.QualityColumn) switch
            {
                null => $"{c.QualityColumn} is null",
                var q when q < minQ => $"{c.QualityColumn} = {q} < {minQ}",
                _ => null,
            }));
        return rules;
    }

    static string? FirstMatch(FilterRow row, IEnumerable<string> columns, Func<string?, string?> match)
    {
        foreach (var col in columns)
            if (match(row.String(col)) is { } hit) return $"{col}: {hit}";
        return null;
    }
}
