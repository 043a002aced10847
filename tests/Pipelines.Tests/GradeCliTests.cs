namespace IwSft.Pipelines.Tests;

/// <summary>`iwsft grade GOLD PREDICTION` as a real child process: verdict, both sides' forms, exit code 0 / 1 / 2.</summary>
public class GradeCliTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-grade-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    (int code, string stdout, string stderr) Iwsft(params string[] args) => CliProcess.Run(_dir, null, args);

    [Fact]
    public void EquivalentAnswersExitZeroAndShowBothSides()
    {
        var r = Iwsft("grade", "\\$1,000", "The total is \\boxed{1000} dollars.");
        Assert.True(r.code == 0, r.stdout + r.stderr);
        var lines = r.stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).ToList();
        Assert.Equal("verdict      equivalent", lines[0]);
        Assert.Contains("gold         \\$1,000", lines);
        Assert.Contains("prediction   1000", lines);
        Assert.Contains("  extracted  boxed", lines);
        Assert.Contains("  normalised 1000", lines);
        Assert.Equal(2, lines.Count(l => l == "  normalised 1000"));
        Assert.Equal(2, lines.Count(l => l.StartsWith("  parsed     ")));
    }

    [Fact]
    public void DifferentAnswersExitOne()
    {
        // A gold with two boxes needs both: once, only the last box was kept and "2" passed.
        var r = Iwsft("grade", "\\boxed{1} and \\boxed{2}", "2");
        Assert.Equal(1, r.code);
        Assert.StartsWith("verdict      not equivalent", r.stdout);
        Assert.Contains("gold         1, 2", r.stdout);
        Assert.Contains("  parsed     list{1,2}", r.stdout);
        Assert.Equal("", r.stderr);
    }

    [Fact]
    public void OptionsAndMultipleChoice()
    {
        Assert.Equal(1, Iwsft("grade", "1000.99", "1000,99").code);
        Assert.Equal(0, Iwsft("grade", "1000.99", "1000,99", "--decimal-comma").code);
        Assert.Equal(0, Iwsft("grade", "10, 4, -2", "4, 10, -2").code);
        Assert.Equal(1, Iwsft("grade", "10, 4, -2", "4, 10, -2", "--ordered").code);
        Assert.Equal(0, Iwsft("grade", "\\frac13", "0.3333", "--tolerance", "1e-4").code);
        var mc = Iwsft("grade", "C", "After all that, the answer is (C).", "--choices", "4");
        Assert.Equal(0, mc.code);
        Assert.Contains("prediction   C", mc.stdout);
        Assert.Equal(1, Iwsft("grade", "C", "Answer: B", "--choices", "4").code);
    }

    [Fact]
    public void UsageErrorsExitTwo()
    {
        var missing = Iwsft("grade", "1");
        Assert.Equal(2, missing.code);
        Assert.Contains("error:", missing.stderr);
        Assert.Equal(2, Iwsft("grade", "1", "1", "--tolerance", "3").code);
        Assert.Equal(2, Iwsft("grade", "E", "E", "--choices", "4").code);
        var help = Iwsft("grade", "--help");
        Assert.Equal(0, help.code);
        Assert.Contains("Usage:", help.stdout);
    }

    [Fact]
    public void ProseWithoutAnAnswerIsNotEquivalent()
    {
        var r = Iwsft("grade", "9", "I could not finish this problem in time.");
        Assert.Equal(1, r.code);
        Assert.Contains("prediction   (no answer found", r.stdout);
    }
}
