#:project ../../src/Cli/IwSft.Cli.csproj
// IwSft reads configuration with reflection-based System.Text.Json, which a file-based app's default (native AOT) turns off.
#:property PublishAot=false
// A curation pipeline kept outside IwSft's own repository, run with IwSft's verbs:
//
//   dotnet run my-curation.cs -- run my-curation         (then: status, dag, why, show, report, gc, ui)
//
// In your own repository, point the #:project line above at your IwSft checkout (or reference the packed
// IwSft.Cli package with #:package). The pipeline reads the data beside this file, uses two of IwSft's stage
// kinds (ingest, decontaminate) and defines two of its own (a filter that records its decisions, and a summary
// with its own table schema). docs/engine.md, "Pipelines outside this repository", explains each part.
using System.Runtime.CompilerServices;
using Apache.Arrow;
using IwSft.Cli;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Ingest;

return IwSftCli.Run(args, [new MyCuration()]);

/// <summary>ingest (candidates, benchmark) → 8-gram decontamination → min_words filter → count_by_source.</summary>
sealed class MyCuration : IPipelineDefinition
{
    public string Name => "my-curation";
    public string Description => "example of a pipeline kept in its own repository: ingest, decontaminate, a custom filter and summary";

    public Pipeline Build(PipelineBuildOptions options)
    {
        string data = Path.Combine(Here(), "data");
        var p = new Pipeline(Name, Description);
        var candidates = p.Add(new IngestStage("candidates", new IngestConfig
        {
            Mode = IngestMode.Candidates,
            Sources = [new IngestSource { Path = Path.Combine(data, "candidates.jsonl"), SourceColumn = "source" }],
        }));
        var benchmark = p.Add(new IngestStage("benchmark", new IngestConfig
        {
            Mode = IngestMode.Benchmark,
            Sources = [new IngestSource { Path = Path.Combine(data, "benchmark.jsonl"), ItemId = "id" }],
        }));
        var clean = p.Add(new DecontaminateStage("decontaminate", new DecontaminateConfig { BenchmarkInputs = ["benchmark"] }))
            .From(DecontaminateStage.CandidatesInput, candidates[candidates.MainOutput])
            .From("benchmark", benchmark[benchmark.MainOutput]);
        var kept = p.Add(new MinWordsFilter("min_words", new MinWordsConfig { MinWords = 10 }))
            .From(MinWordsFilter.Input, clean[DecontaminateStage.CleanOutput]);
        p.Add(new CountBySource("count_by_source")).From(CountBySource.Input, kept[MinWordsFilter.Output]);
        return p;
    }

    // The directory of this source file, so the data is found from any working directory.
    static string Here([CallerFilePath] string path = "") => Path.GetDirectoryName(path)!;
}

sealed class MinWordsConfig
{
    public int MinWords { get; set; } = 10;
}

/// <summary>Keeps candidates whose question has at least <c>min_words</c> words; every row gets a decision (`iwsft why`).</summary>
sealed class MinWordsFilter(string name, MinWordsConfig config) : Stage<MinWordsConfig>(name, config)
{
    public const string Input = "candidates", Output = "kept";
    public override string Kind => "my-curation.min-words";
    public override int Version => 1;
    public override bool WritesDecisions => true;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table(Input, "candidates")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(Output, "candidates")];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.MinWords < 0) throw new ArgumentException($"stage '{Name}': min_words must be >= 0, got {Config.MinWords}");
        await StageDataflow.TransformAsync(ctx.ReadTable(Input), ctx.WriteTable(Output), batch =>
        {
            var ids = (StringArray)batch.Col("id");
            var questions = (StringArray)batch.Col("question");
            var keep = new List<int>();
            for (int i = 0; i < batch.Length; i++)
            {
                int words = questions.GetString(i).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
                bool ok = words >= Config.MinWords;
                ctx.Decisions.Record(ids.GetString(i), ok, ok ? "kept" : "too_short", $"{words} words (min {Config.MinWords})");
                if (ok) keep.Add(i);
            }
            return RecordBatchRows.Take(batch, keep);
        }, ctx.Execution, ctx.CancellationToken, ctx);
    }
}

/// <summary>How many kept candidates each source contributed: a table with a schema of this program's own.</summary>
sealed class CountBySource(string name) : Stage<CountBySource.NoConfig>(name)
{
    public sealed class NoConfig;
    public const string Input = "candidates", Output = "counts";

    static readonly TableSchema Schema = TableSchema.Register(new TableSchema("my_source_counts",
        [new ColumnSpec("source", ColumnType.String, false), new ColumnSpec("count", ColumnType.Int64, false)], "kept candidates per source"));

    public override string Kind => "my-curation.count-by-source";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table(Input, "candidates")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(Output, Schema.Name)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        await foreach (var batch in ctx.ReadTable(Input).ReadBatchesAsync(ctx.CancellationToken))
        {
            var sources = (StringArray)batch.Col("source");
            for (int i = 0; i < batch.Length; i++) counts[sources.GetString(i) ?? ""] = counts.GetValueOrDefault(sources.GetString(i) ?? "") + 1;
        }
        var rows = new BatchBuilder(Schema);
        foreach (var (source, count) in counts) rows.Set("source", source).Set("count", count).EndRow();
        await ctx.WriteTable(Output).WriteAsync(rows.Build(), ctx.CancellationToken);
    }
}
