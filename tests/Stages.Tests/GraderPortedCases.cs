using System.Text.Json;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

/// <summary>
/// A test case ported from another grader's test suite (tests/Stages.Tests/GraderPorted/, sources in
/// SOURCES.md): the inputs and the verdict the source expects, with the source's settings.
/// </summary>
public sealed record PortedCase(string Source, string Kind, string? Gold, string Prediction, bool? Expected, string? ExpectedLetter, PortedCaseOptions Options)
{
    public override string ToString() => Source;
}

/// <summary>
/// The settings a case was written for. <c>precision</c> is Math-Verify's float_rounding (decimal places),
/// run as a relative tolerance of 10^-precision; <c>match_types</c> "latex" enables the last-math-span
/// fallback and "expr" the last-number fallback; <c>compare_only</c> compares the two strings as answers
/// (Hendrycks' is_equiv, Math-Verify's sympy_expr_eq) instead of extracting them from text first.
/// </summary>
public sealed record PortedCaseOptions(int? Precision, bool Strict, bool AllowSetRelationComparison, bool DecimalComma,
    bool OrderedLists, bool CompareOnly, IReadOnlyList<string> MatchTypes, string? Choices);

/// <summary>What the grader says on a case, and whether that is what the source expects.</summary>
public sealed record PortedResult(PortedCase Case, bool Passed, bool FalsePositive, string Detail);

public static class PortedCases
{
    public static string Directory => Path.Combine(AppContext.BaseDirectory, "GraderPorted");

    public static IReadOnlyList<PortedCase> Load(string file)
    {
        var cases = new List<PortedCase>();
        foreach (var line in File.ReadLines(Path.IsPathRooted(file) ? file : Path.Combine(Directory, file)))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            var o = r.GetProperty("options");
            bool Flag(string name) => o.TryGetProperty(name, out var v) && v.GetBoolean();
            var options = new PortedCaseOptions(
                o.TryGetProperty("precision", out var p) ? p.GetInt32() : null,
                !o.TryGetProperty("strict", out var s) || s.GetBoolean(),
                Flag("allow_set_relation_comp"), Flag("decimal_comma"), Flag("ordered_lists"), Flag("compare_only"),
                o.TryGetProperty("match_types", out var mt) ? mt.EnumerateArray().Select(x => x.GetString()!).ToList() : ["latex", "expr"],
                o.TryGetProperty("choices", out var ch) ? ch.GetString() : null);
            string kind = r.TryGetProperty("kind", out var k) ? k.GetString()! : "math";
            cases.Add(new PortedCase(
                r.GetProperty("source").GetString()!, kind,
                r.TryGetProperty("gold", out var g) ? g.GetString() : null,
                r.GetProperty("prediction").GetString()!,
                r.TryGetProperty("expected", out var e) ? e.GetBoolean() : null,
                r.TryGetProperty("expected_letter", out var el) && el.ValueKind == JsonValueKind.String ? el.GetString() : null,
                options));
        }
        return cases;
    }

    public static MathEquivalenceOptions EquivalenceOptions(PortedCaseOptions o) => new()
    {
        RelativeTolerance = o.Precision is { } p ? Math.Pow(10, -p) : MathEquivalence.DefaultRelativeTolerance,
        StrictVariables = o.Strict,
        AllowSetRelationComparison = o.AllowSetRelationComparison,
        DecimalComma = o.DecimalComma,
        OrderedLists = o.OrderedLists,
    };

    public static PortedResult Run(PortedCase c)
    {
        if (c.Kind == "choice")
        {
            var letter = AnswerExtractor.ExtractChoice(c.Prediction, c.Options.Choices?.Length ?? 4)?.Text;
            bool ok = letter == c.ExpectedLetter;
            return new(c, ok, !ok && letter is not null, $"extracted {letter ?? "nothing"}, expected {c.ExpectedLetter ?? "nothing"}");
        }
        var options = EquivalenceOptions(c.Options);
        string? gold = c.Gold, pred = c.Prediction;
        if (!c.Options.CompareOnly)
        {
            bool latex = c.Options.MatchTypes.Contains("latex"), expr = c.Options.MatchTypes.Contains("expr");
            gold = AnswerExtractor.ExtractAnswer(c.Gold!, expr, latex, c.Options.DecimalComma)?.Text;
            pred = AnswerExtractor.ExtractAnswer(c.Prediction, expr, latex, c.Options.DecimalComma)?.Text;
        }
        bool verdict = gold is not null && pred is not null && MathEquivalence.AreEquivalent(gold, pred, options);
        bool passed = verdict == c.Expected;
        string detail = $"expected {(c.Expected == true ? "equivalent" : "different")}, got {(verdict ? "equivalent" : "different")}; "
            + $"gold '{Short(gold)}' → '{(gold is null ? "" : Short(MathEquivalence.Normalize(gold, options)))}', "
            + $"prediction '{Short(pred)}' → '{(pred is null ? "" : Short(MathEquivalence.Normalize(pred, options)))}'";
        return new(c, passed, verdict && c.Expected == false, detail);
    }

    static string Short(string? s) => s is null ? "(nothing extracted)" : s.Length <= 120 ? s : s[..117] + "...";
}
