using IwSft.Runtime;

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

    /// <summary>The stage statuses and reasons of the latest run, from its manifest in <paramref name="store"/>.</summary>
    static Dictionary<string, (string Status, string Reason)> LatestRun(string store)
    {
        var manifest = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(new ArtifactStore(store).RunManifests("example")[^1]))!;
        return manifest["stages"]!.AsObject().ToDictionary(kv => kv.Key, kv => ((string)kv.Value!["status"]!, (string)kv.Value!["reason"]!));
    }

    string DefaultStore => Path.Combine(_dir, ".iwsft");

    [Fact]
    public void StoreFlagPutsTheRunAndEveryArtifactInTheNamedStore()
    {
        var elsewhere = Path.Combine(_dir, "elsewhere");
        var run = Iwsft("run", "example", "--quick", "--store", elsewhere);
        Assert.True(run.code == 0, run.stderr);
        Assert.False(Directory.Exists(DefaultStore), "the default store was written");
        var stages = new ArtifactStore(elsewhere).ReadLock("example").Stages;
        Assert.Equal(["drop_multiples", "generate", "histogram", "report", "square", "sum_by_group"], stages.Keys);
        Assert.All(stages.Values.SelectMany(e => e.Outputs.Values), a => Assert.True(Path.Exists(new ArtifactStore(elsewhere).ObjectPath(a)), a.Hash));

        Assert.DoesNotContain("stale", Iwsft("status", "example", "--quick", "--store", elsewhere).stdout);
        Assert.Contains("never run", Iwsft("status", "example", "--quick").stdout);   // the default store knows nothing
    }

    [Fact]
    public void UntilFlagRunsOnlyTheStageAndItsAncestors()
    {
        var run = Iwsft("run", "example", "--quick", "--until", "square");
        Assert.True(run.code == 0, run.stderr);
        var statuses = LatestRun(DefaultStore);
        Assert.Equal(("ran", "never run"), statuses["generate"]);
        Assert.Equal(("ran", "never run"), statuses["square"]);
        foreach (var s in new[] { "drop_multiples", "sum_by_group", "histogram", "report" })
            Assert.Equal(("skipped", "after --until square"), statuses[s]);
        Assert.Equal(["generate", "square"], new ArtifactStore(DefaultStore).ReadLock("example").Stages.Keys);

        Assert.Equal(0, Iwsft("run", "example", "--quick").code);
        statuses = LatestRun(DefaultStore);
        Assert.Equal(["cached", "cached", "ran", "ran", "ran", "ran"],
            new[] { "generate", "square", "drop_multiples", "sum_by_group", "histogram", "report" }.Select(s => statuses[s].Status));
    }

    [Fact]
    public void ForceFlagRecomputesTheNamedStageAndNothingElse()
    {
        Assert.Equal(0, Iwsft("run", "example", "--quick").code);
        var forced = Iwsft("run", "example", "--quick", "--force", "square");
        Assert.True(forced.code == 0, forced.stderr);
        var statuses = LatestRun(DefaultStore);
        Assert.Equal(("ran", "forced"), statuses["square"]);
        // Everything else is reused; square's output bytes are the same, so even its descendants stay cached.
        Assert.All(statuses.Where(kv => kv.Key != "square"), kv => Assert.Equal("cached", kv.Value.Status));

        Assert.Equal(1, Iwsft("run", "example", "--quick", "--force", "nope").code);
    }

    [Fact]
    public void VerifyFlagRehashesArtifactsWhoseSizeAndMtimeStillMatch()
    {
        Assert.Equal(0, Iwsft("run", "example", "--quick").code);
        var store = new ArtifactStore(DefaultStore);
        var squared = store.ObjectPath(store.ReadLock("example").Stages["square"].Outputs["squared"]);
        void CorruptKeepingSizeAndMtime()
        {
            var mtime = File.GetLastWriteTimeUtc(squared);
            // Store objects are read-only; lift that for the edit (file attributes: portable, unlike Unix modes).
            var attributes = File.GetAttributes(squared);
            File.SetAttributes(squared, attributes & ~FileAttributes.ReadOnly);
            var bytes = File.ReadAllBytes(squared);
            bytes[bytes.Length / 2] ^= 0xFF;
            File.WriteAllBytes(squared, bytes);
            File.SetAttributes(squared, attributes);
            File.SetLastWriteTimeUtc(squared, mtime);
        }
        CorruptKeepingSizeAndMtime();

        // The fast path trusts size + mtime (the documented trade-off) ...
        Assert.DoesNotContain("stale", Iwsft("status", "example", "--quick").stdout);
        Assert.Equal(0, Iwsft("run", "example", "--quick").code);
        Assert.Equal("cached", LatestRun(DefaultStore)["square"].Status);
        // ... --verify re-hashes: the corrupt artifact is found and recomputed, to the same content as before.
        var verified = Iwsft("run", "example", "--quick", "--verify");
        Assert.True(verified.code == 0, verified.stderr);
        Assert.Equal(("ran", "artifact squared corrupt"), LatestRun(DefaultStore)["square"]);
        Assert.Equal("cached", LatestRun(DefaultStore)["drop_multiples"].Status);

        CorruptKeepingSizeAndMtime();
        Assert.DoesNotContain("stale", Iwsft("status", "example", "--quick").stdout);
        Assert.Contains("stale: artifact squared corrupt", Iwsft("status", "example", "--quick", "--verify").stdout);
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
