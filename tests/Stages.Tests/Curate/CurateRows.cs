using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Tests.Curate;

/// <summary>Builds candidate/feature batches for tests.</summary>
public static class CurateRows
{
    public sealed record Rec(string Id, string Question)
    {
        public string? Solution { get; init; }
        public string? Answer { get; init; }
        public string? Trace { get; init; } = "trace";
        public string? Attempt { get; init; } = "attempt";
        public string? Source { get; init; }
        public string? Domain { get; init; }
        public int? TraceTokens { get; init; }
        public float? Quality { get; init; }
        public float? SamplingWeight { get; init; }
        public Dictionary<string, bool?> Bools { get; init; } = new();
    }

    public static RecordBatch Batch(IEnumerable<Rec> recs, params string[] boolColumns)
    {
        var features = TableSchema.Get("features");
        var sb = new Schema.Builder();
        foreach (var c in features.Columns) sb.Field(new Field(c.Name, TableSchema.ToArrowType(c.Type), c.Nullable));
        foreach (var b in boolColumns) sb.Field(new Field(b, Apache.Arrow.Types.BooleanType.Default, true));
        var bb = new BatchBuilder(sb.Build());
        foreach (var r in recs)
        {
            bb.Set("id", r.Id).Set("question", r.Question).Set("solution", r.Solution).Set("answer", r.Answer)
              .Set("trace", r.Trace).Set("attempt", r.Attempt).Set("source", r.Source).Set("domain", r.Domain)
              .Set("trace_tokens", r.TraceTokens).Set("quality", r.Quality).Set("sampling_weight", r.SamplingWeight);
            foreach (var b in boolColumns) bb.Set(b, r.Bools.GetValueOrDefault(b));
            bb.EndRow();
        }
        return bb.Build();
    }

    /// <summary>A batch with only the candidates columns (what ingest produces).</summary>
    public static RecordBatch Candidates(IEnumerable<Rec> recs)
    {
        var bb = new BatchBuilder(TableSchema.Get("candidates"));
        foreach (var r in recs)
        {
            bb.Set("id", r.Id).Set("question", r.Question).Set("solution", r.Solution).Set("answer", r.Answer)
              .Set("trace", r.Trace).Set("attempt", r.Attempt).Set("source", r.Source).Set("domain", r.Domain);
            bb.EndRow();
        }
        return bb.Build();
    }
}
