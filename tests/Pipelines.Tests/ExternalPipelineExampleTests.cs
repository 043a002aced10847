using IwSft.Stages.Tests;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// examples/my-curation: a pipeline kept outside this repository's catalog, in a .NET file-based app that calls
/// <c>IwSftCli.Run(args, [new MyCuration()])</c>. Run as a user would (<c>dotnet run my-curation.cs -- VERB ...</c>),
/// it gets the same verbs, cache, decisions and status as the built-in pipelines.
/// </summary>
public sealed class ExternalPipelineExampleTests : IDisposable
{
    static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(10); // a hang guard, not a speed limit
    readonly string _work = Directory.CreateTempSubdirectory("iwsft-external-").FullName;
    readonly string _app = Path.Combine(TestRepository.Root, "examples", "my-curation", "my-curation.cs");

    public void Dispose() { try { Directory.Delete(_work, recursive: true); } catch (IOException) { } }

    [Fact]
    public void TheFileBasedAppRunsItsOwnPipelineWithTheSameVerbs()
    {
        var first = App(build: true, "run", "my-curation", "--plain");
        Assert.True(first.Code == 0, first.Stdout + first.Stderr);
        Assert.True(Directory.Exists(Path.Combine(_work, ".iwsft", "pipelines", "my-curation")), "the store is the working directory's .iwsft, as for iwsft");

        // The custom summary, with its own registered schema: 10 candidates, the die question is in the benchmark,
        // "What is 7 times 8?" and "Solve 3x + 5 = 20." have under 10 words.
        var counts = App(build: false, "show", "my-curation", "count_by_source", "--format", "csv");
        Assert.Equal(0, counts.Code);
        Assert.Equal(["source,count", "algebra,1", "combinatorics,1", "number_theory,2", "word_problems,3"],
            counts.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

        var contaminated = App(build: false, "why", "my-curation", Id("A fair six-sided die is rolled twice. What is the probability that the sum of the two rolls is exactly seven, written as a reduced fraction?"));
        Assert.Contains("was dropped at stage 'decontaminate': contaminated", contaminated.Stdout);
        var tooShort = App(build: false, "why", "my-curation", Id("What is 7 times 8?"));
        Assert.Contains("was dropped at stage 'min_words': too_short", tooShort.Stdout);
        Assert.Contains("5 words (min 10)", tooShort.Stdout);

        // A second run computes nothing; a changed setting makes exactly its stage and what follows stale.
        var status = App(build: false, "status", "my-curation", "--set", "min_words.min_words=5");
        Assert.Equal(0, status.Code);
        var lines = status.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim()).ToList();
        Assert.Contains(lines, l => l.StartsWith("decontaminate") && l.EndsWith("up to date"));
        Assert.Contains(lines, l => l.StartsWith("min_words") && l.Contains("stale: config changed: min_words"));
        Assert.Contains(lines, l => l.StartsWith("count_by_source") && l.Contains("stale: upstream stale: min_words"));
        var again = App(build: false, "run", "my-curation", "--plain");
        Assert.Equal(0, again.Code);
        Assert.DoesNotContain(" ran in ", again.Stdout);

        // Its catalog is its own: this repository's pipelines are not there.
        var unknown = App(build: false, "dag", "demo");
        Assert.Equal(1, unknown.Code);
        Assert.Contains("unknown pipeline 'demo'; available: my-curation", unknown.Stderr);
    }

    [Fact]
    public void ACatalogWithTwoPipelinesOfOneNameIsRefusedBeforeAnyCommandRuns()
    {
        var e = Assert.Throws<ArgumentException>(() => IwSft.Cli.IwSftCli.Run(["list"], [new Example.ExamplePipeline("twice"), new Example.ExamplePipeline("twice")]));
        Assert.Contains("two pipelines are named 'twice'", e.Message);
        Assert.Throws<ArgumentException>(() => IwSft.Cli.IwSftCli.Run(["list"], []));
    }

    static string Id(string question) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(question)))[..16];

    (int Code, string Stdout, string Stderr) App(bool build, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = _work, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("run");
        if (!build) psi.ArgumentList.Add("--no-build");
        psi.ArgumentList.Add(_app);
        psi.ArgumentList.Add("--");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["CI"] = "1";
        // The test host's MSBuild settings must not leak into the child's own build of the app.
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("MSBuild", StringComparison.OrdinalIgnoreCase) || k == "MSBUILD_EXE_PATH").ToList())
            psi.Environment.Remove(key);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(HangGuard))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet run {_app} -- {string.Join(' ', args)} still running after {HangGuard}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

}
