using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Ingest;

namespace IwSft.Stages.Tests;

/// <summary>Text of the one file <see cref="WriteFilesStage"/> writes.</summary>
public sealed class WriteFilesConfig
{
    public string FileName { get; set; } = "pool.jsonl";
    public string Text { get; set; } = "";
}

/// <summary>A stage that generates a source file, as the demo's task generator does.</summary>
public sealed class WriteFilesStage(string name, WriteFilesConfig config) : Stage<WriteFilesConfig>(name, config)
{
    public override string Kind => "test.write-files";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("files")];

    public override Task RunAsync(IStageContext ctx)
    {
        File.WriteAllText(Path.Combine(ctx.OutputDirectory("files"), Config.FileName), Config.Text);
        return Task.CompletedTask;
    }
}

/// <summary>Ingest reading its sources from an upstream stage's directory (input <c>files</c>), under the real runner.</summary>
public sealed class IngestFilesInputTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-ingest-files-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    static Pipeline Build(string text, string sourcePath = "pool.jsonl")
    {
        var p = new Pipeline("ingest-files");
        var files = p.Add(new WriteFilesStage("generate", new WriteFilesConfig { Text = text }));
        p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = sourcePath, Name = "pool" }], OnBadRow = BadRowPolicy.Quarantine }))
            .From(IngestStage.FilesInput, files["files"]);
        return p;
    }

    const string Two = "{\"question\": \"What is one plus one?\"}\n{\"question\": \"What is two plus two?\"}\nnot json\n";

    [Fact]
    public async Task Sources_are_read_from_the_upstream_directory_keyed_by_its_content_and_named_by_relative_path()
    {
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "store")));
        var p = Build(Two);
        var run = await runner.RunAsync(p);
        Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));
        Assert.Equal(2, run.Stages["ingest"].Rows[IngestStage.CandidatesOutput]);

        // No external file in the key: the upstream artifact's hash is the input.
        var entry = runner.Store.ReadLock(p.Name).Stages["ingest"];
        Assert.Empty(entry.Externals);
        Assert.Equal(run.Stages["generate"].Outputs["files"].Hash, entry.Inputs[IngestStage.FilesInput].Hash);

        // Decisions and quarantine rows name the file by input and relative path, not by its place in the store.
        await foreach (var b in runner.Store.OpenTable(p, "ingest.quarantine").ReadBatchesAsync())
            Assert.Equal(("files/pool.jsonl", 3L), (b.GetString("file", 0), b.GetInt64("line", 0)));
        var why = await runner.WhyAsync(p, RecordMapper.RecordId("What is one plus one?"));
        Assert.Equal("pool line 1 (files/pool.jsonl)", why.Decisions.Single().Detail);

        // Same content again: cached. New content upstream: ingest recomputes.
        Assert.All((await runner.RunAsync(Build(Two))).Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        var grown = await runner.RunAsync(Build(Two + "{\"question\": \"What is three plus three?\"}\n"));
        Assert.Equal(StageStatus.Ran, grown.Stages["ingest"].Status);
        Assert.Equal(3, grown.Stages["ingest"].Rows[IngestStage.CandidatesOutput]);
    }

    [Theory]
    [InlineData("../pool.jsonl")]
    [InlineData("sub/../../pool.jsonl")]
    public async Task A_relative_source_path_leaving_the_bound_directory_is_refused_naming_stage_and_path(string path)
    {
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "store")));
        var e = await Assert.ThrowsAnyAsync<Exception>(() => runner.RunAsync(Build(Two, path)));
        var message = e.InnerException?.Message ?? e.Message;
        Assert.Contains("stage 'ingest'", message);
        Assert.Contains($"source path '{path}' leaves input 'files'", message);
    }

    [Fact]
    public async Task A_rooted_source_path_is_a_file_outside_the_store_keyed_by_its_content_even_with_the_input_bound()
    {
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "store")));
        var own = Path.Combine(_root, "own.jsonl");
        File.WriteAllText(own, "{\"question\": \"What is five plus five?\"}\n");
        var p = Build(Two, own);
        var run = await runner.RunAsync(p);
        Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));
        Assert.Equal(1, run.Stages["ingest"].Rows[IngestStage.CandidatesOutput]);
        Assert.Equal([Path.GetFullPath(own)], runner.Store.ReadLock(p.Name).Stages["ingest"].Externals.Keys);

        Assert.Equal(StageStatus.Cached, (await runner.RunAsync(Build(Two, own))).Stages["ingest"].Status);
        File.AppendAllText(own, "{\"question\": \"What is six plus six?\"}\n");
        var grown = await runner.RunAsync(Build(Two, own));
        Assert.Equal(StageStatus.Ran, grown.Stages["ingest"].Status);
        Assert.Equal(2, grown.Stages["ingest"].Rows[IngestStage.CandidatesOutput]);
    }
}
