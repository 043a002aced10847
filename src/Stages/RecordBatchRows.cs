using Apache.Arrow;

namespace IwSft.Stages;

/// <summary>Row selection on Arrow record batches, for filtering stages.</summary>
public static class RecordBatchRows
{
    /// <summary>
    /// A batch with the given rows (ascending indices) of <paramref name="batch"/>, every column kept,
    /// whatever its type: runs of consecutive rows are sliced and the slices concatenated.
    /// </summary>
    public static RecordBatch Take(RecordBatch batch, IReadOnlyList<int> rows)
    {
        if (rows.Count == batch.Length) return batch;
        var runs = new List<(int Start, int Length)>();
        for (int i = 0; i < rows.Count;)
        {
            int start = rows[i], length = 1;
            while (i + length < rows.Count && rows[i + length] == start + length) length++;
            runs.Add((start, length));
            i += length;
        }
        var columns = new IArrowArray[batch.ColumnCount];
        for (int c = 0; c < batch.ColumnCount; c++)
        {
            var column = batch.Column(c);
            if (runs.Count == 0) columns[c] = ArrowArrayFactory.Slice(column, 0, 0);
            else columns[c] = ArrowArrayConcatenator.Concatenate(runs.Select(r => ArrowArrayFactory.Slice(column, r.Start, r.Length)).ToList());
        }
        return new RecordBatch(batch.Schema, columns, rows.Count);
    }
}
