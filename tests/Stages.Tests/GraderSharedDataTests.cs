using System.Text.Json;
using System.Text.RegularExpressions;
using IwSft.Stages.Evaluate;
using Xunit.Abstractions;

namespace IwSft.Stages.Tests;

/// <summary>The grader on every real gold answer of MATH500, AIME 24/25, AMC 2023 and GSM8K test.</summary>
public class GraderSharedDataTests(ITestOutputHelper output)
{
    static List<string> Golds(string file)
    {
        var golds = new List<string>();
        foreach (var line in File.ReadLines(SharedData.File(file)))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            var a = doc.RootElement.GetProperty("answer");
            golds.Add(a.ValueKind == JsonValueKind.String ? a.GetString()! : a.GetRawText());
        }
        return golds;
    }

    /// <summary>Cosmetic rewrites a model might produce for the same answer.</summary>
    static IEnumerable<(string Name, string Text)> Rewrites(string gold)
    {
        yield return ("boxed", $"\\boxed{{{gold}}}");
        yield return ("dollars", $"${gold}$");
        yield return ("inline-parens", $"\\({gold}\\)");
        if (gold.Contains("\\frac")) yield return ("dfrac", gold.Replace("\\frac", "\\dfrac"));
        if (gold.Contains("\\frac")) yield return ("tfrac", gold.Replace("\\frac", "\\tfrac"));
        yield return ("spaces", Regex.Replace(gold, @"([=+{}]|,(?!(\\!)?\d{3}(?!\d)))", " $1 "));
        yield return ("thin-space", " " + gold + "\\! ");
        if (gold.Contains('(') && !gold.Contains("\\left"))
            yield return ("left-right", gold.Replace("(", "\\left(").Replace(")", "\\right)"));
        if (Regex.IsMatch(gold, @"\^[A-Za-z0-9]")) yield return ("braced-power", Regex.Replace(gold, @"\^([A-Za-z0-9])", "^{$1}"));
        if (Regex.IsMatch(gold, @"\\sqrt\{[0-9]\}")) yield return ("sqrt-shorthand", Regex.Replace(gold, @"\\sqrt\{([0-9])\}", "\\sqrt$1"));
        if (Regex.IsMatch(gold, @"\\frac\{[0-9]\}\{[0-9]\}")) yield return ("frac-shorthand", Regex.Replace(gold, @"\\frac\{([0-9])\}\{([0-9])\}", "\\frac$1$2"));
        if (Regex.IsMatch(gold, @"^\\text\{[^{}]+\}$")) yield return ("text-unwrapped", gold[6..^1]);
        if (Regex.IsMatch(gold, @"^-?\d+$"))
        {
            yield return ("units", gold + " \\text{ units}");
            yield return ("trailing-zero", gold + ".0");
            yield return ("leading-zero", gold.StartsWith('-') ? gold : "0" + gold);
            yield return ("x-equals", "x = " + gold);
            if (gold.TrimStart('-').Length > 3) yield return ("thousands", long.Parse(gold).ToString("#,0", System.Globalization.CultureInfo.InvariantCulture));
        }
        if (Regex.IsMatch(gold, @"^-?\d+(\.\d+)?$")) yield return ("as-fraction-of-one", $"\\frac{{{gold}}}{{1}}");
        if (gold.EndsWith("^\\circ")) yield return ("degrees-dropped", gold[..^"^\\circ".Length]);
    }

    static void CheckAll(string file, Func<string, string> goldOf, ITestOutputHelper output)
    {
        var golds = Golds(file).Select(goldOf).ToList();
        Assert.NotEmpty(golds);
        var failures = new List<string>();
        int checks = 0;
        foreach (var gold in golds)
        {
            checks++;
            if (!MathEquivalence.AreEquivalent(gold, gold)) failures.Add($"self: '{gold}'");
            foreach (var (name, text) in Rewrites(gold))
            {
                checks++;
                if (!MathEquivalence.AreEquivalent(text, gold)) failures.Add($"{name}: '{text}' vs '{gold}' (normalised '{MathEquivalence.Normalize(text)}' vs '{MathEquivalence.Normalize(gold)}')");
            }
            // The whole path: a synthetic response ending in the boxed gold is graded correct.
            checks++;
            var response = $"Let me work through this carefully.\nSo the result follows.\nTherefore the final result is $\\boxed{{{gold}}}$.";
            var extracted = AnswerExtractor.ExtractMath(response);
            if (extracted is null || !MathEquivalence.AreEquivalent(extracted.Text, gold)) failures.Add($"extract: got '{extracted?.Text}' for '{gold}'");
            checks++;
            var s1 = $"<|im_start|>think\nworking...\n<|im_start|>answer\nAnswer: {gold}";
            if (!new Grader().Grade(s1, gold, null).Correct) failures.Add($"s1-answer-line: '{gold}'");
        }
        output.WriteLine($"{file}: {golds.Count} golds, {checks} checks, {failures.Count} failures");
        Assert.True(failures.Count == 0, string.Join("\n", failures.Take(30)));
    }

    [SharedDataFact]
    public void Math500GoldsSurviveCosmeticRewrites() => CheckAll("benchmarks/math500.jsonl", g => g, output);

    [SharedDataFact]
    public void AimeAndAmcGoldsSurviveCosmeticRewrites()
    {
        CheckAll("benchmarks/aime24.jsonl", g => g, output);
        CheckAll("benchmarks/aime25.jsonl", g => g, output);
        CheckAll("benchmarks/amc2023.jsonl", g => g, output);
    }

    [SharedDataFact]
    public void OlympiadBenchAndMinervaGoldsSurviveCosmeticRewrites()
    {
        CheckAll("benchmarks/olympiadbench.jsonl", g => g, output);
        CheckAll("benchmarks/minervamath.jsonl", g => g, output);
    }

    [SharedDataFact]
    public void Gsm8kRationalesGradeToTheirHashLine()
    {
        var golds = Golds("benchmarks/gsm8k_test.jsonl");
        Assert.Equal(1319, golds.Count);
        foreach (var rationale in golds)
        {
            string final = Grader.GoldMathAnswer(rationale);
            Assert.Matches(@"^-?\d+(\.\d+)?$", final);
            // The gold rationale itself, used as a response, is correct; a response off by one is not.
            Assert.True(new Grader().Grade(rationale, rationale, null).Correct, rationale);
            Assert.False(new Grader().Grade($"\\boxed{{{decimal.Parse(final) + 1}}}", rationale, null).Correct, rationale);
        }
        CheckAll("benchmarks/gsm8k_test.jsonl", Grader.GoldMathAnswer, output);
    }

    [SharedDataFact]
    public void DistinctMath500AnswersAreNotEquivalent()
    {
        // Guards against an over-eager normaliser: across all 124,750 pairs of distinct gold strings the
        // only equivalences must be these cosmetic variants of one answer (checked by hand).
        var golds = Golds("benchmarks/math500.jsonl").Distinct().ToList();
        var equivalent = new List<string>();
        for (int i = 0; i < golds.Count; i++)
            for (int j = i + 1; j < golds.Count; j++)
                if (MathEquivalence.AreEquivalent(golds[i], golds[j])) equivalent.Add($"{golds[i]} == {golds[j]}");
        string[] expected =
        [
            "90^\\circ == 90", "5 == x=5", "1,-2 == -2,1", "120^\\circ == 120", "36 == 36^\\circ", "36 == \\$36",
            "\\frac{1}{4} == \\frac14", "30^\\circ == 30", "15 == 15\\mbox{ cm}^2", "36^\\circ == \\$36", "2 \\sqrt{5} == 2\\sqrt{5}",
            "10,\\!080 == 10080",
        ];
        foreach (var e in equivalent) output.WriteLine(e);
        Assert.Equal(expected.Order(StringComparer.Ordinal), equivalent.Order(StringComparer.Ordinal));
    }
}
