using Apache.Arrow;

namespace IwSft.Runtime.Execution;

/// <summary>
/// Collects a stage's decisions (thread-safe) and writes them as the "decisions" table, sorted by record id
/// so the artifact (and its hash) does not depend on the order parallel workers decided in.
/// </summary>
internal sealed class DecisionCollector(string stage) : IDecisionWriter
{
    readonly List<(string id, bool kept, string reason, string? detail)> _rows = new();

    public void Record(string recordId, bool kept, string reason, string? detail = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(recordId);
        ArgumentException.ThrowIfNullOrEmpty(reason);
        lock (_rows) _rows.Add((recordId, kept, reason, detail));
    }

    public int Count { get { lock (_rows) return _rows.Count; } }

    public DecisionCounts Counts()
    {
        var c = new DecisionCounts();
        lock (_rows)
            foreach (var r in _rows)
            {
                if (r.kept) c.Kept++; else c.Dropped++;
                c.ByReason[r.reason] = c.ByReason.GetValueOrDefault(r.reason) + 1;
            }
        return c;
    }

    public async Task WriteToAsync(ITableWriter writer, int batchRows, CancellationToken ct)
    {
        (string id, bool kept, string reason, string? detail)[] rows;
        lock (_rows) rows = _rows.ToArray();
        System.Array.Sort(rows, static (a, b) =>
        {
            int c = string.CompareOrdinal(a.id, b.id);
            if (c == 0) c = string.CompareOrdinal(a.reason, b.reason);
            return c != 0 ? c : string.CompareOrdinal(a.detail, b.detail);
        });
        var schema = TableSchema.Get("decisions").ToArrow();
        for (int start = 0; start < rows.Length; start += batchRows)
        {
            int n = Math.Min(batchRows, rows.Length - start);
            var id = new StringArray.Builder(); var st = new StringArray.Builder(); var kept = new BooleanArray.Builder();
            var reason = new StringArray.Builder(); var detail = new StringArray.Builder();
            for (int i = start; i < start + n; i++)
            {
                var r = rows[i];
                id.Append(r.id); st.Append(stage); kept.Append(r.kept); reason.Append(r.reason);
                if (r.detail is null) detail.AppendNull(); else detail.Append(r.detail);
            }
            await writer.WriteAsync(new RecordBatch(schema, [id.Build(), st.Build(), kept.Build(), reason.Build(), detail.Build()], n), ct);
        }
    }
}
