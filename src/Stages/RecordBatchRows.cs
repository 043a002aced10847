using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages;

/// <summary>Row selection on Arrow record batches for stage code (<see cref="BatchRows"/>).</summary>
public static class RecordBatchRows
{
    /// <summary>A batch with the given rows (in the given order) of <paramref name="batch"/>.</summary>
    public static RecordBatch Take(RecordBatch batch, IReadOnlyList<int> rows) => BatchRows.Take(batch, rows);

    /// <summary>The given rows of batches that share <paramref name="schema"/>, as one batch (<see cref="BatchRows.Take(Schema, IReadOnlyList{ValueTuple{RecordBatch, int}})"/>).</summary>
    public static RecordBatch Take(Schema schema, IReadOnlyList<(RecordBatch Batch, int Row)> rows) => BatchRows.Take(schema, rows);
}
