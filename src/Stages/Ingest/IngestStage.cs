using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Ingest;

/// <summary>
/// Stage kind <c>ingest</c>: reads JSONL / CSV / Parquet sources, maps their fields per source
/// configuration, gives each record the s1 id (first 16 hex of sha256 of the question) and writes
/// Arrow batches of at most <see cref="ExecutionOptions.BatchRows"/> rows:
/// <list type="bullet">
/// <item>mode <c>candidates</c>: output <c>candidates</c> (schema candidates). Exact duplicate questions
/// (byte-identical raw text, as s1 drops exact duplicates of <c>question</c>) are dropped: the first
/// occurrence in source order wins and the drop is a decision (reason <c>duplicate</c>).</item>
/// <item>mode <c>benchmark</c>: output <c>benchmark</c> (schema benchmark_items); nothing is dropped.</item>
/// </list>
/// Every record gets a decision row. Bad rows either fail the stage (<see cref="BadRowPolicy.Fail"/>)
/// or go to the <c>quarantine</c> output (<see cref="BadRowPolicy.Quarantine"/>), counted in the manifest.
/// </summary>
public sealed class IngestStage(string name, IngestConfig? config = null) : Stage<IngestConfig>(name, config)
{
    public const string CandidatesOutput = "candidates";
    public const string BenchmarkOutput = "benchmark";
    public const string QuarantineOutput = "quarantine";

    public override string Kind => "ingest";
    // v2: duplicate JSON keys are bad rows; CSV resynchronises only outside quoted text.
    // v3: nested Parquet columns (list<string>, chat messages), null-typed columns left out, list traces joined, source_column.
    public override int Version => 3;
    public override bool WritesDecisions => true;
    public override IReadOnlyList<PortSpec> Inputs => [];

    public override IReadOnlyList<PortSpec> Outputs => Config.Mode == IngestMode.Benchmark
        ? [PortSpec.Table(BenchmarkOutput, "benchmark_items"), PortSpec.Table(QuarantineOutput, "quarantine")]
        : [PortSpec.Table(CandidatesOutput, "candidates"), PortSpec.Table(QuarantineOutput, "quarantine")];

    /// <summary>The main output's name for the configured mode.</summary>
    public string MainOutput => Config.Mode == IngestMode.Benchmark ? BenchmarkOutput : CandidatesOutput;

    public override IEnumerable<string> ExternalInputs
    {
        get
        {
            Config.Validate(Name);
            return Config.Sources.Select(s => Path.GetFullPath(s.Path));
        }
    }

    /// <summary>Rejects configurations the types allow but ingest cannot use (see <see cref="IngestConfig.Validate"/>).</summary>
    public override void LoadConfigJson(System.Text.Json.Nodes.JsonNode json)
    {
        var previous = Config;
        base.LoadConfigJson(json);
        try { Config.Validate(Name); }
        catch { Config = previous; throw; }
    }

    public override async Task RunAsync(IStageContext ctx)
    {
        Config.Validate(Name);
        if (Config.Sources.Count == 0) throw new InvalidOperationException($"stage '{Name}': no sources configured");
        var mainSchema = TableSchema.Get(Config.Mode == IngestMode.Benchmark ? "benchmark_items" : "candidates");
        var main = new BatchBuilder(mainSchema);
        var quarantine = new BatchBuilder(TableSchema.Get("quarantine"));
        int batchRows = Math.Max(1, ctx.Execution.BatchRows);
        var firstSeen = new Dictionary<string, string>(StringComparer.Ordinal);
        long kept = 0, duplicates = 0, quarantined = 0, blank = 0, emptySources = 0;
        // Kept records per record source: a file's name, or each value of its source column (summed over files).
        var keptPerSource = new Dictionary<string, long>(StringComparer.Ordinal);

        await using var mainWriter = ctx.WriteTable(MainOutput);
        await using var quarantineWriter = ctx.WriteTable(QuarantineOutput);

        foreach (var source in Config.Sources)
        {
            var format = source.ResolvedFormat();
            string lineWord = format == SourceFormat.Parquet ? "row" : "line";
            if (!File.Exists(source.Path)) throw new FileNotFoundException($"stage '{Name}': source file not found: {source.Path}", source.Path);
            ctx.Log($"reading {source.SourceName} from {source.Path} ({format})");
            long sourceKept = 0, recordNumber = 0;
            var keptBySource = new Dictionary<string, long>(StringComparer.Ordinal);

            var jsonl = format == SourceFormat.Jsonl ? new JsonlSourceReader(source.Path, Config.MaxLineBytes) : null;
            var csv = format == SourceFormat.Csv ? new CsvSourceReader(source.Path, Config.MaxLineBytes) : null;
            var rows = jsonl?.ReadAsync(ctx.CancellationToken) ?? csv?.ReadAsync(ctx.CancellationToken)
                       ?? new ParquetSourceReader(source.Path, Name, source.MappedFields()).ReadAsync(ctx.CancellationToken);

            long sourceRows = 0;
            await foreach (var row in rows.WithCancellation(ctx.CancellationToken))
            {
                sourceRows++;
                MappedRecord? mapped = null;
                var outcome = row is RawRecord record
                    ? RecordMapper.Map(record, source, Config.Mode, ++recordNumber, out mapped)
                    : row;
                if (outcome is BadRow bad)
                {
                    if (Config.OnBadRow == BadRowPolicy.Fail) throw new IngestException(Name, bad, lineWord);
                    quarantine.Set("stage", Name).Set("file", bad.File).Set("line", bad.Line).Set("column", bad.Column)
                        .Set("reason", bad.Reason).Set("raw", bad.Raw).EndRow();
                    quarantined++;
                    if (quarantine.Count >= batchRows) await quarantineWriter.WriteAsync(quarantine.Build(), ctx.CancellationToken);
                    continue;
                }
                var m = mapped!;
                string recordSource = m.Source ?? source.SourceName;
                string where = $"{recordSource} {lineWord} {row.Line} ({source.Path})";
                if (Config.Mode == IngestMode.Candidates)
                {
                    if (firstSeen.TryGetValue(m.Id, out var first))
                    {
                        ctx.Decisions.Record(m.Id, false, "duplicate", $"exact duplicate question: {where} repeats {m.Id} first seen at {first}");
                        duplicates++;
                        continue;
                    }
                    firstSeen[m.Id] = where;
                    main.Set("id", m.Id).Set("question", m.Question).Set("solution", m.Solution).Set("answer", m.Answer)
                        .Set("trace", m.Trace).Set("attempt", m.Attempt).Set("source", recordSource)
                        .Set("domain", m.Domain).Set("metadata", m.Metadata).EndRow();
                    ctx.Decisions.Record(m.Id, true, "ingested", where);
                }
                else
                {
                    main.Set("id", m.Id).Set("benchmark", source.SourceName).Set("item_id", m.ItemId).Set("question", m.Question)
                        .Set("answer", m.Answer).Set("solution", m.Solution).Set("choices", m.Choices).Set("metadata", m.Metadata).EndRow();
                    ctx.Decisions.Record(m.Id, true, "benchmark_item", $"{source.SourceName} item {m.ItemId}: {where}");
                }
                kept++;
                sourceKept++;
                keptBySource[recordSource] = keptBySource.GetValueOrDefault(recordSource) + 1;
                if (main.Count >= batchRows)
                {
                    await mainWriter.WriteAsync(main.Build(), ctx.CancellationToken);
                    ctx.ReportProgress(kept);
                }
            }
            blank += (jsonl?.BlankLines ?? 0) + (csv?.BlankLines ?? 0);
            if (sourceRows == 0)
            {
                string empty = $"source '{source.SourceName}' ({source.Path}) has no records";
                if (Config.FailOnEmpty) throw new InvalidDataException($"stage '{Name}': {empty} (fail_on_empty is set)");
                ctx.Log($"warning: {empty}");
                emptySources++;
            }
            foreach (var (name, n) in keptBySource) keptPerSource[name] = keptPerSource.GetValueOrDefault(name) + n;
            if (keptBySource.Count == 0) keptPerSource.TryAdd(source.SourceName, 0);
            ctx.Log($"{source.SourceName}: {sourceKept} records" + (string.IsNullOrEmpty(source.SourceColumn) ? ""
                : $" in {keptBySource.Count} sources by '{source.SourceColumn}' ({string.Join(", ", keptBySource.Select(kv => $"{kv.Key}: {kv.Value}"))})"));
        }
        if (main.Count > 0) await mainWriter.WriteAsync(main.Build(), ctx.CancellationToken);
        if (quarantine.Count > 0) await quarantineWriter.WriteAsync(quarantine.Build(), ctx.CancellationToken);
        ctx.ReportProgress(kept, kept);
        foreach (var (name, n) in keptPerSource) ctx.SetMetric($"source.{name}.kept", n);
        ctx.SetMetric("kept", kept);
        ctx.SetMetric("duplicates", duplicates);
        ctx.SetMetric("quarantined", quarantined);
        ctx.SetMetric("blank_lines", blank);
        ctx.SetMetric("empty_sources", emptySources);
        if (quarantined > 0) ctx.Log($"{quarantined} bad rows quarantined (output '{QuarantineOutput}')");
    }
}
