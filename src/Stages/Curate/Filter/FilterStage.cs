using System.Text.Json.Nodes;
using Apache.Arrow;
using IwSft.Runtime;

namespace IwSft.Stages.Curate.Filter;

/// <summary>
/// Rule-based score/filter stage (kind "curate-filter"): every input record gets exactly one decision —
/// kept (reason "kept") or dropped (reason = the first rule that fired, detail = what matched).
/// Rules come from <see cref="FilterConfig"/>, plus named C# predicates added with <see cref="AddRule"/>
/// (their names and versions are part of the configuration, hence of the cache key).
/// </summary>
public sealed class FilterStage(string name, FilterConfig? config = null) : Stage<FilterConfig>(name, config)
{
    [InKey] readonly List<(FilterRule Rule, int Version)> _custom = new();

    public override string Kind => "curate-filter";
    public override int Version => 1;
    public override bool WritesDecisions => true;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table("records", "candidates")];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table("records", "features")];

    /// <summary>Adds a code rule after the configured ones; bump <paramref name="version"/> when its logic changes.</summary>
    public FilterStage AddRule(string ruleName, int version, FilterPredicate check)
    {
        if (_custom.Any(r => r.Rule.Name == ruleName)) throw new ArgumentException($"stage '{Name}': rule '{ruleName}' added twice");
        _custom.Add((new FilterRule(ruleName, check), version));
        return this;
    }

    public override JsonNode ConfigJson()
    {
        var node = base.ConfigJson().AsObject();
        if (_custom.Count > 0)
            node["custom_rules"] = new JsonArray(_custom.Select(r => (JsonNode)new JsonObject { ["name"] = r.Rule.Name, ["version"] = r.Version }).ToArray());
        return node;
    }

    public override void LoadConfigJson(JsonNode json)
    {
        var copy = json.DeepClone().AsObject();
        copy.Remove("custom_rules");
        base.LoadConfigJson(copy);
    }

    public IReadOnlyList<FilterRule> Rules() => [.. FilterRules.FromConfig(Config), .. _custom.Select(c => c.Rule)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var rules = Rules();
        var reader = ctx.ReadTable("records");
        var features = TableSchema.Get("features");
        CheckColumns(reader.Schema, reader.Artifact);
        foreach (var col in Config.RequiredColumns.Concat(Config.SolvedByColumns).Where(c => reader.Schema.GetFieldIndex(c) < 0).Distinct())
            ctx.Log($"{Name}: warning: feature column '{col}' is absent from input '{reader.Artifact}' (is its featurising stage upstream?); every record will miss it");
        // Kept rows are written as a table derived from the input (row numbers and the feature columns it lacked, all
        // null). Without code rules only the columns the configured rules name are read (not the other long texts).
        await using var writer = ctx.DeriveTable("records", reader);
        var added = CurateTables.AddedColumns(reader.Schema, features, 0);
        var counts = new Dictionary<string, long>();
        long done = 0;
        var batches = _custom.Count == 0 ? reader.ReadColumnsAsync(ReadColumns(reader.Schema), ctx.CancellationToken) : reader.ReadBatchesAsync(ctx.CancellationToken);
        await foreach (var batch in batches)
        {
            var kept = new List<long>();
            for (int r = 0; r < batch.Length; r++)
            {
                var row = new FilterRow(batch, r);
                string reason = "kept";
                string? detail = null;
                foreach (var rule in rules)
                {
                    try { detail = rule.Check(row); }
                    catch (Exception e) when (e is InvalidOperationException or InvalidCastException)
                    {
                        throw new CurateDataException(ctx.StageName, reader.Artifact, done + r, rule.Name, e.Message);
                    }
                    if (detail != null) { reason = rule.Name; break; }
                }
                bool keep = detail is null;
                ctx.Decisions.Record(row.Id, keep, reason, detail);
                counts[reason] = counts.GetValueOrDefault(reason) + 1;
                if (keep) kept.Add(done + r);
            }
            if (kept.Count > 0) await writer.WriteRowsAsync(kept, CurateTables.AddedColumns(reader.Schema, features, kept.Count), ctx.CancellationToken);
            done += batch.Length;
            ctx.ReportProgress(done, reader.RowCount);
        }
        // Every record dropped: the output still has the input's columns (its judge features), so a stage after it
        // finds the columns it needs and reads an empty table instead of failing on a missing column.
        if (writer.RowCount == 0) await writer.WriteRowsAsync([], added, ctx.CancellationToken);
        foreach (var (reason, n) in counts) ctx.SetMetric($"decisions.{reason}", n);
        ctx.Log($"{Name}: {done} records, kept {counts.GetValueOrDefault("kept")}; " +
                string.Join(", ", counts.Where(kv => kv.Key != "kept").Select(kv => $"{kv.Key} {kv.Value}")));
    }

    IEnumerable<string> Referenced() =>
        Config.RequiredColumns.Concat(Config.SolvedByColumns).Concat(Config.LengthBounds.Select(b => b.Column))
            .Concat(Config.WeirdStrings ? Config.WeirdStringColumns : []).Concat(Config.MinQuality is null ? [] : [Config.QualityColumn]);

    /// <summary>What the configured rules read: the record id, its source (the asy rule) and every column they name that the input has.</summary>
    List<string> ReadColumns(Schema schema) =>
        new[] { "id", "source" }.Concat(Referenced()).Distinct(StringComparer.Ordinal).Where(c => schema.GetFieldIndex(c) >= 0).ToList();

    void CheckColumns(Schema schema, string artifact)
    {
        var features = TableSchema.Get("features");
        foreach (var col in Referenced().Distinct())
            if (schema.GetFieldIndex(col) < 0 && features.Find(col) is null)
                throw new ArgumentException($"stage '{Name}': configured column '{col}' is not in input '{artifact}' (columns: {string.Join(", ", schema.FieldsList.Select(f => f.Name))})");
    }
}
