using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>
/// Stages that key memos on a model's content ask the engine for it instead of re-reading the weights: a
/// directory input's hash is its store address, an external input's hash is the one in the cache key, and
/// both equal <see cref="Hashing.HashDirectory"/> of the bytes, so they agree with a context outside the engine.
/// </summary>
public class InputHashTests : StoreTest
{
    sealed class ReportsHashes(string name, string external, Dictionary<string, string> seen) : Stage<Empty>(name)
    {
        public override string Kind => "test.reports-hashes";
        public override int Version => 1;
        public override IEnumerable<string> ExternalInputs => [external];
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Dir("copy")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("out")];
        public override Task RunAsync(IStageContext ctx)
        {
            seen["input"] = ctx.InputDirectoryHash("copy");
            seen["input_path"] = ctx.InputDirectory("copy");
            seen["external"] = ctx.ExternalInputHash(external);
            try { ctx.ExternalInputHash(Path.Combine(external, "elsewhere")); }
            catch (ArgumentException e) { seen["not_external"] = e.Message; }
            File.WriteAllText(Path.Combine(ctx.OutputDirectory("out"), "done"), "");
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task DirectoryAndExternalInputHashesComeFromTheEngineAndEqualTheContentHash()
    {
        var file = Path.Combine(Dir, "weights.txt");
        File.WriteAllText(file, "weights v1");
        var model = Directory.CreateDirectory(Path.Combine(Dir, "model")).FullName;
        File.WriteAllText(Path.Combine(model, "config.json"), "{}");
        Directory.CreateDirectory(Path.Combine(model, "shards"));
        File.WriteAllText(Path.Combine(model, "shards", "a.bin"), "aaaa");

        var seen = new Dictionary<string, string>();
        var p = new Pipeline("hashes");
        var copy = p.Add(new ReadsFile("copy", Probe, file));
        p.Add(new ReportsHashes("report", model, seen)).From("copy", copy["copy"]);
        var r = await Run(p);

        Assert.True(r.Succeeded);
        Assert.Equal(Hashing.HashDirectory(seen["input_path"]), seen["input"]);
        Assert.Equal(r.Stages["copy"].Outputs["copy"].Hash, seen["input"]);
        Assert.Equal(Hashing.HashDirectory(model), seen["external"]);
        Assert.Contains("is not one of its external inputs", seen["not_external"]);

        // A changed weight file changes the external hash the stage sees (and reruns it).
        File.WriteAllText(Path.Combine(model, "shards", "a.bin"), "aaab");
        var before = seen["external"];
        var again = await Run(p);
        Assert.Equal(StageStatus.Ran, again.Stages["report"].Status);
        Assert.NotEqual(before, seen["external"]);
        Assert.Equal(Hashing.HashDirectory(model), seen["external"]);
    }
}
