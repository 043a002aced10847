using IwSft.Runtime;
using TorchSharp;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// Deterministic by construction: the same pipeline, run by `iwsft` into two fresh stores, writes byte-identical
/// artifacts (every output hash of every stage in the two lock files is equal), so every downstream key is the same.
/// Both runs share the working directory, as a user's reruns do: a demo's generated input files live there, and
/// their absolute paths are part of what ingest records (provenance, legitimately path-dependent).
/// </summary>
public class ReproducibilityTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-repro-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    [Theory]
    [InlineData("example")]
    [InlineData("control")]
    [InlineData("demo")]
    public async Task A_quick_run_in_two_fresh_stores_writes_byte_identical_artifacts(string pipeline)
    {
        // The two runs side by side: each is a fresh process with a fresh store, and neither can see the other.
        var runs = await Task.WhenAll(new[] { "store-1", "store-2" }.Select(store => Task.Run(() =>
        {
            var run = CliProcess.Run(_dir, null, "run", pipeline, "--quick", "--store", Path.Combine(_dir, store));
            Assert.True(run.Code == 0, $"{pipeline} into {store}: {run.Stderr}");
            return new ArtifactStore(Path.Combine(_dir, store)).ReadLock(pipeline).Stages;
        })));
        var (first, second) = (runs[0], runs[1]);
        Assert.Equal(first.Keys, second.Keys);
        Assert.NotEmpty(first);
        var differing = first.Keys
            .SelectMany(stage => first[stage].Outputs.Keys.Union(second[stage].Outputs.Keys)
                .Where(output => first[stage].Outputs.GetValueOrDefault(output)?.Hash != second[stage].Outputs.GetValueOrDefault(output)?.Hash)
                .Select(output => $"{stage}.{output}"))
            .ToList();
        Assert.True(differing.Count == 0, $"{pipeline}: outputs that differ between two fresh stores: {string.Join(", ", differing)}");
        // Equal outputs and equal code give equal keys all the way down.
        Assert.All(first.Keys, stage => Assert.Equal(first[stage].Key, second[stage].Key));
    }
}

[CollectionDefinition(nameof(ProcessStateTests), DisableParallelization = true)]
public sealed class ProcessStateCollection;

/// <summary>
/// Building a pipeline changes no process state: it does not set libtorch's thread count or seed its process-wide
/// generator (stages running side by side would otherwise depend on each other). Not run in parallel with other
/// tests, because it sets the thread count itself to see whether a build changes it.
/// </summary>
[Collection(nameof(ProcessStateTests))]
public class ProcessStateTests
{
    [Fact]
    public void Building_any_catalogue_pipeline_leaves_torch_threads_and_the_global_generator_alone()
    {
        int configured = torch.get_num_threads();
        torch.set_num_threads(configured + 1);   // a value no build would choose by accident
        try
        {
            using var rngBefore = torch.random.get_rng_state();
            var before = rngBefore.data<byte>().ToArray();
            foreach (var definition in PipelineCatalog.All)
                foreach (var quick in new[] { true, false })
                {
                    // The eval pipeline is built from a parameters file; its quick size builds without one.
                    if (definition.Name == "eval" && !quick) continue;
                    definition.Build(new PipelineBuildOptions { Quick = quick });
                    Assert.True(torch.get_num_threads() == configured + 1, $"building {definition.Name} (quick: {quick}) changed libtorch's thread count");
                    using var rngAfter = torch.random.get_rng_state();
                    Assert.True(before.SequenceEqual(rngAfter.data<byte>().ToArray()), $"building {definition.Name} (quick: {quick}) used libtorch's process-wide generator");
                }
        }
        finally
        {
            torch.set_num_threads(configured);
        }
    }

    [Fact]
    public void Building_any_catalogue_pipeline_writes_no_file()
    {
        // The demo's definition used to write its generated task into ./.iwsft/inputs; now a stage does.
        var defaultStore = ArtifactStore.DefaultRoot;
        string[] Files() => Directory.Exists(defaultStore)
            ? Directory.EnumerateFileSystemEntries(defaultStore, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToArray()
            : [];
        var before = Files();
        foreach (var definition in PipelineCatalog.All)
            foreach (var quick in new[] { true, false })
            {
                if (definition.Name == "eval" && !quick) continue;
                definition.Build(new PipelineBuildOptions { Quick = quick });
                Assert.True(before.SequenceEqual(Files()), $"building {definition.Name} (quick: {quick}) wrote under {defaultStore}");
            }
    }
}
