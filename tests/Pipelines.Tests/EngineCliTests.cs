namespace IwSft.Pipelines.Tests;

/// <summary>The engine's CLI commands, run as a real `iwsft` process on the example pipeline (--quick: 20,000 rows).</summary>
public class EngineCliTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-cli-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    (int code, string stdout, string stderr) Iwsft(params string[] args) => CliProcess.Run(_dir, null, args);

    [Fact]
    public void RunStatusShowWhyAndErrorsBehaveAsDocumented()
    {
        var run = Iwsft("run", "example", "--quick");
        Assert.True(run.code == 0, run.stderr);
        Assert.Contains("drop_multiples: ran", run.stdout);
        Assert.True(Directory.Exists(Path.Combine(_dir, ".iwsft", "objects")));

        var again = Iwsft("run", "example", "--quick");
        Assert.Equal(0, again.code);
        Assert.Contains("report: cached", again.stdout);

        var status = Iwsft("status", "example", "--quick");
        Assert.Equal(0, status.code);
        Assert.Contains("histogram                up to date", status.stdout);

        // Group sizes: 20,000 numbers minus the 6,667 multiples of 3, spread over 7 groups.
        var csv = Iwsft("show", "example", "sum_by_group", "--quick", "--format", "csv", "--limit", "2");
        Assert.Equal(0, csv.code);
        var lines = csv.stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("group,count,sum_square", lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("0,1905,", lines[1]);

        var why = Iwsft("why", "example", "n000000009", "--quick");
        Assert.Equal(0, why.code);
        Assert.Contains("'n000000009' was dropped at stage 'drop_multiples': divisible", why.stdout);
        Assert.Equal(1, Iwsft("why", "example", "nope", "--quick").code);

        var badSet = Iwsft("run", "example", "--quick", "--set", "square.ofset=3");
        Assert.Equal(1, badSet.code);
        Assert.Equal("error: --set square.ofset=3: stage 'square' (example.square) has no configuration key 'ofset'; valid keys: offset", badSet.stderr.Trim());

        var stale = Iwsft("status", "example", "--quick");
        Assert.DoesNotContain("stale", stale.stdout); // the rejected override changed nothing

        var badPipeline = Iwsft("status", "nope");
        Assert.Equal(1, badPipeline.code);
        Assert.StartsWith("error: unknown pipeline 'nope'; available: ", badPipeline.stderr);
        Assert.DoesNotContain(" at ", badPipeline.stderr);
    }

    [Fact]
    public void HelpIsAvailableForEveryEngineCommand()
    {
        foreach (var c in new[] { "run", "status", "dag", "why", "show", "gc", "bench" })
        {
            var h = Iwsft(c, "--help");
            Assert.Equal(0, h.code);
            Assert.Contains("Usage:", h.stdout);
        }
    }
}
