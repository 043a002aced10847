using IwSft.Core;
using System.Text.RegularExpressions;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Curate.Select;

/// <summary>
/// The s1 1K selection as a stage (kind "s1k-select"): runs <see cref="S1kSelector"/> over the filtered pool and
/// writes the selected records (in input order) and one decision per input record. Memory stays bounded at any pool
/// size: one pass reads only what selection needs per record (id, source, domain, trace length, benchmark rule
/// columns), and the selected rows are written as a table derived from the input (their row numbers), not copied.
/// </summary>
public sealed class S1kSelectStage(string name, SelectConfig? config = null) : Stage<SelectConfig>(name, config)
{
    public override string Kind => "s1k-select";
    public override int Version => 1;
    public override bool WritesDecisions => true;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table("records", "features")];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table("records", "features")];

    public override async Task RunAsync(IStageContext ctx)
    {
        var reader = ctx.ReadTable("records");
        var rules = Config.BenchmarkRules.Select(r => (Rule: r, Source: new Regex(r.SourcePattern, RegexOptions.CultureInvariant))).ToList();
        foreach (var r in Config.BenchmarkRules)
            if (r.RequireTrueColumn is { } col && reader.Schema.GetFieldIndex(col) < 0)
                throw new ArgumentException($"stage '{Name}': benchmark rule '{r.Name}' needs bool column '{col}', which input '{reader.Artifact}' lacks");

        var pool = new List<SelectCandidate>();
        // The first pass reads only what selection needs per record, never the texts.
        var columns = new[] { "id", "source", Config.DomainColumn, Config.TraceLengthColumn }
            .Concat(Config.BenchmarkRules.Select(r => r.RequireTrueColumn).OfType<string>())
            .Distinct(StringComparer.Ordinal).Where(c => reader.Schema.GetFieldIndex(c) >= 0).ToList();
        await foreach (var batch in reader.ReadColumnsAsync(columns, ctx.CancellationToken))
        {
            for (int r = 0; r < batch.Length; r++)
            {
                long rowNumber = pool.Count;
                long? length = batch.HasColumn(Config.TraceLengthColumn) ? CurateTables.Cell(batch.Col(Config.TraceLengthColumn), r) switch
                {
                    null => null,
                    int i => i,
                    long l => l,
                    var other => throw new CurateDataException(Name, reader.Artifact, rowNumber, Config.TraceLengthColumn, $"expected an integer length, got {other.GetType().Name}"),
                } : null;
                string? source = CurateTables.OptString(batch, "source", r);
                string? matched = null;
                foreach (var (rule, rx) in rules)
                {
                    if (source is null || !rx.IsMatch(source)) continue;
                    if (rule.RequireTrueColumn is { } col && batch.GetBool(col, r) != true) continue;
                    if (rule.MinTraceLengthExclusive is { } min && !(length > min)) continue;
                    matched = rule.Name;
                    break;
                }
                pool.Add(new SelectCandidate(batch.GetString("id", r)!, CurateTables.OptString(batch, Config.DomainColumn, r), length, matched));
            }
        }

        var decisions = S1kSelector.Select(pool, Config, new DeterministicRandom(Config.Seed));
        foreach (var d in decisions) ctx.Decisions.Record(pool[d.Index].Id, d.Selected, d.Reason, d.Detail);

        var selected = new bool[pool.Count];
        foreach (var d in decisions) selected[d.Index] = d.Selected;
        await WriteSelectedAsync(ctx, reader, selected);

        int bench = decisions.Count(d => d.Reason == S1kSelector.SelectedBenchmark), div = decisions.Count(d => d.Reason == S1kSelector.SelectedDiversity);
        ctx.SetMetric("selected.benchmark", bench);
        ctx.SetMetric("selected.diversity", div);
        ctx.SetMetric("not_selected", decisions.Count - bench - div);
        ctx.SetMetric("selected.domains", decisions.Where(d => d.Selected && pool[d.Index].Domain != null).Select(d => pool[d.Index].Domain).Distinct().Count());
        if (bench + div < Config.TargetSize)
            ctx.Log($"{Name}: pool exhausted: selected {bench + div} of target {Config.TargetSize}");
        if (bench > Config.TargetSize)
            ctx.Log($"{Name}: {bench} benchmark-related records exceed the target {Config.TargetSize}; all are kept (s1 takes them all)");
        ctx.Log($"{Name}: {pool.Count} records → {bench} benchmark + {div} diversity = {bench + div} selected");
    }

    /// <summary>
    /// The selected rows in input order, as a table derived from the input (row numbers only: no second read of the
    /// texts). One call: the writer cuts what it writes (the engine's stored rows at <c>BatchRows</c>; written in full,
    /// batches within one input batch and the batch budget).
    /// </summary>
    async Task WriteSelectedAsync(IStageContext ctx, ITableReader reader, bool[] selected)
    {
        await using var writer = ctx.DeriveTable("records", reader);
        var rows = new List<long>();
        for (int index = 0; index < selected.Length; index++)
            if (selected[index]) rows.Add(index);
        await writer.WriteRowsAsync(rows, null, ctx.CancellationToken);
    }
}
