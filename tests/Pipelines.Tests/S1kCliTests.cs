using IwSft.Gpu.Models;

namespace IwSft.Pipelines.Tests;

/// <summary><c>iwsft model memory</c> prints MemoryPlan's table; <c>iwsft status s1k</c> lists the s1k stages from a settings file.</summary>
public sealed class S1kCliTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-s1k-cli-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    (int Code, string Stdout, string Stderr) Iwsft(IDictionary<string, string>? env, params string[] args) => CliProcess.Run(_dir, env, args);

    [Fact]
    public void ModelMemoryPrintsThePlanOfAConfigFile()
    {
        var config = TransformerConfig.Preset("10m");
        File.WriteAllText(Path.Combine(_dir, "config.json"), config.ToJson());
        var r = Iwsft(null, "model", "memory", "config.json", "--tp", "2", "--block", "512");
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Equal(MemoryPlan.Compute(config, 2, 512, 1, gradientCheckpointing: true).ToMarkdown(), r.Stdout.ReplaceLineEndings("\n"));
        var offload = Iwsft(null, "model", "memory", "config.json", "--tp", "2", "--block", "512", "--loss-chunk", "128", "--optimizer-offload");
        Assert.True(offload.Code == 0, offload.Stderr);
        Assert.Equal(MemoryPlan.Compute(config, 2, 512, 1, true, lossChunkTokens: 128, optimizerOnHost: true).ToMarkdown(), offload.Stdout.ReplaceLineEndings("\n"));
        Assert.Contains("log-prob chunk 128 positions, optimiser state on host", offload.Stdout);
        var bad = Iwsft(null, "model", "memory", "config.json", "--tp", "3");
        Assert.Equal(1, bad.Code);
        Assert.Contains("tensor-parallel degree 3", bad.Stderr);
    }

    [Fact]
    public void StatusOfS1kReadsTheSettingsFileNamedByTheEnvironment()
    {
        var settings = Path.Combine(_dir, "mine.json");
        File.WriteAllText(settings, """{ "reference_model": "/models/ref", "reference_models": [] }""");
        var r = Iwsft(new Dictionary<string, string> { ["IWSFT_S1K_SETTINGS"] = settings }, "status", "s1k");
        Assert.True(r.Code == 0, r.Stderr);
        foreach (var stage in new[] { "ingest", "decontaminate", "judge_domain", "select", "format", "reference_model", "ref_logprobs", "train", "evaluate" })
            Assert.Contains(stage, r.Stdout);
        Assert.DoesNotContain("judge_solved_", r.Stdout);                  // no reference models configured
        Assert.Contains("never run", r.Stdout);
    }
}
