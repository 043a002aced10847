using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Reporting;

/// <summary>Reads an eval_summary table back into rows (for the CLI and for comparisons across runs).</summary>
public static class EvalSummaryReader
{
    public static async Task<List<SummaryRow>> ReadAsync(ITableReader reader, CancellationToken ct = default)
    {
        TableSchema.Get("eval_summary").Validate(reader.Schema, "report", reader.Artifact);
        var rows = new List<SummaryRow>();
        await foreach (var b in reader.ReadBatchesAsync(ct))
            for (int r = 0; r < b.Length; r++)
                rows.Add(new SummaryRow(b.GetString("checkpoint", r)!, b.GetString("method", r)!, b.GetInt32("seed", r),
                    b.GetString("checkpoint_hash", r)!, b.GetString("benchmark", r)!, b.GetInt32("n_items", r)!.Value,
                    b.GetInt32("samples", r)!.Value, b.GetDouble("accuracy", r)!.Value, b.GetDouble("ci_low", r)!.Value,
                    b.GetDouble("ci_high", r)!.Value, b.GetDouble("pass_at_k", r), b.GetInt32("k", r)!.Value, b.GetDouble("mean_tokens", r)!.Value));
        return rows;
    }
}
