using Apache.Arrow;
using IwSft.Runtime.Arrow;

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
        List<(string id, bool kept, string reason, string? detail)> rows;
        lock (_rows) rows = _rows.OrderBy(r => r.id, StringComparer.Ordinal).ThenBy(r => r.reason, StringComparer.Ordinal).ThenBy(r => r.detail, StringComparer.Ordinal).ToList();
        var bb = new BatchBuilder(TableSchema.Get("decisions"));
        foreach (var r in rows)
        {
            bb.Set("record_id", r.id).Set("stage", stage).Set("kept", r.kept).Set("reason", r.reason).Set("detail", r.detail).EndRow();
            if (bb.Count >= batchRows) await writer.WriteAsync(bb.Build(), ct);
        }
        if (bb.Count > 0) await writer.WriteAsync(bb.Build(), ct);
    }
}
