using System.Globalization;
using Xunit.Abstractions;

namespace IwSft.Stages.Tests;

/// <summary>
/// The grader on the test cases of Math-Verify and hendrycks/math (GraderPorted/, sources in SOURCES.md):
/// at least 95% pass and none is a false positive.
/// </summary>
public class GraderPortedSuiteTests(ITestOutputHelper output)
{
    static readonly string[] Files = ["math_verify_cases.jsonl", "hendrycks_math_cases.jsonl"];

    [Fact]
    public void PortedCasesPassAtLeast95PercentWithNoFalsePositive()
    {
        var results = Files.SelectMany(PortedCases.Load).Select(PortedCases.Run).ToList();
        int passed = results.Count(r => r.Passed), falsePositives = results.Count(r => r.FalsePositive);
        double rate = (double)passed / results.Count;
        foreach (var file in Files)
        {
            var names = PortedCases.Load(file).Select(c => c.Source).ToHashSet();
            var mine = results.Where(r => names.Contains(r.Case.Source)).ToList();
            output.WriteLine($"{file}: {mine.Count(r => r.Passed)}/{mine.Count} pass, {mine.Count(r => r.FalsePositive)} false positives");
        }
        output.WriteLine($"all: {passed}/{results.Count} pass ({rate.ToString("P1", CultureInfo.InvariantCulture)}), {falsePositives} false positives");
        foreach (var r in results.Where(r => !r.Passed))
            output.WriteLine($"{(r.FalsePositive ? "FALSE POSITIVE" : "miss")}: {r.Case.Source}: {r.Detail}");

        Assert.True(results.Count >= 290, $"only {results.Count} ported cases loaded");
        Assert.True(falsePositives == 0, "false positives:\n" + string.Join("\n", results.Where(r => r.FalsePositive).Select(r => $"{r.Case.Source}: {r.Detail}")));
        Assert.True(rate >= 0.95, $"pass rate {rate:P1} < 95%; misses:\n" + string.Join("\n", results.Where(r => !r.Passed).Select(r => $"{r.Case.Source}: {r.Detail}")));
    }

    [Fact]
    public void EveryCaseNamesItsSourceAndSourcesMdListsEverySourceTest()
    {
        string sources = File.ReadAllText(Path.Combine(PortedCases.Directory, "SOURCES.md"));
        foreach (var file in Files)
        {
            var cases = PortedCases.Load(file);
            Assert.NotEmpty(cases);
            Assert.Equal(cases.Count, cases.Select(c => c.Source).Distinct().Count());
            foreach (var c in cases)
            {
                Assert.Matches(@"^(huggingface/Math-Verify|hendrycks/math)@[0-9a-f]{7} \S+\.py::\S+", c.Source);
                string test = c.Source.Split(' ')[1].Split('[', '#')[0];
                Assert.True(sources.Contains(test, StringComparison.Ordinal), $"SOURCES.md does not list {test}");
                Assert.True(c.Kind == "choice" ? c.Gold is null : c.Gold is not null && c.Expected is not null, c.Source);
            }
        }
    }

    /// <summary>The known misses, each one a case where the grader is stricter than the source (listed in docs/evaluate.md).</summary>
    [Theory]
    [InlineData("tests/test_all.py::test_number_extraction[7]")]          // "Soucis : 2,74 $ a.." is not read as prose
    [InlineData("tests/test_all.py::test_math_extraction_additional_cases[7]")] // (1,3) is not the set {1,3}
    [InlineData("tests/test_numina_cases.py::test_numina_cases[3]")]      // 1 ≤ |z| ≤ 3/2 is not solved into a union
    [InlineData("tests/test_numina_cases.py::test_numina_cases[24]")]     // W(n) = 1 vs W(x)=1orW(x)=-1: labels differ, "1orW" is one word
    [InlineData("tests/test_yujianll.py::test_string_extraction[9]")]     // 1 - 1/e vs 1 + 1/e: different values
    public void KnownMissesAreStrictNotWrong(string source)
    {
        var c = PortedCases.Load(Files[0]).Single(x => x.Source.EndsWith(source, StringComparison.Ordinal));
        var r = PortedCases.Run(c);
        Assert.False(r.Passed, $"{source} passes now: remove it from the known misses and docs/evaluate.md");
        Assert.True(c.Expected == true && !r.FalsePositive, $"{source}: a known miss must be an equivalent pair the grader rejects");
    }
}
