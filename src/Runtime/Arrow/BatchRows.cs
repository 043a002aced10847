using Apache.Arrow;

namespace IwSft.Runtime.Arrow;

/// <summary>Row selection and column merging on Arrow record batches, every column kept whatever its type.</summary>
public static class BatchRows
{
    /// <summary>A batch with the given rows (in the given order) of <paramref name="batch"/>.</summary>
    public static RecordBatch Take(RecordBatch batch, IReadOnlyList<int> rows) =>
        rows.Count == batch.Length && IsIdentity(rows) ? batch
        : rows.Count == 0 ? batch.Slice(0, 0)
        : Take(batch.Schema, rows.Select(r => (batch, r)).ToList());

    /// <summary>
    /// The given rows (in the given order) of batches that share <paramref name="schema"/>, as one batch: runs of
    /// consecutive rows of one batch are sliced (no copy) and the slices concatenated once per column.
    /// </summary>
    public static RecordBatch Take(Schema schema, IReadOnlyList<(RecordBatch Batch, int Row)> rows)
    {
        if (rows.Count == 0) throw new ArgumentException("no rows to take: write nothing instead of an empty batch", nameof(rows));
        var runs = new List<(RecordBatch Batch, int Start, int Length)>();
        for (int i = 0; i < rows.Count;)
        {
            var (batch, start) = rows[i];
            if (!SameShape(batch.Schema, schema))
                throw new ArgumentException($"row {start} comes from a batch whose columns ({Describe(batch.Schema)}) differ from the output's ({Describe(schema)})");
            int length = 1;
            while (i + length < rows.Count && ReferenceEquals(rows[i + length].Batch, batch) && rows[i + length].Row == start + length) length++;
            runs.Add((batch, start, length));
            i += length;
        }
        var columns = new IArrowArray[schema.FieldsList.Count];
        for (int c = 0; c < columns.Length; c++)
            columns[c] = runs.Count == 1 ? ArrowArrayFactory.Slice(runs[0].Batch.Column(c), runs[0].Start, runs[0].Length)
                : ArrowArrayConcatenator.Concatenate(runs.Select(r => ArrowArrayFactory.Slice(r.Batch.Column(c), r.Start, r.Length)).ToList());
        return new RecordBatch(schema, columns, rows.Count);
    }

    /// <summary>
    /// <paramref name="batch"/> with the columns of <paramref name="columns"/> (same row count) replacing same-named
    /// columns in place or appended in their order; other columns are the same arrays.
    /// </summary>
    public static RecordBatch WithColumns(RecordBatch batch, RecordBatch? columns)
    {
        if (columns is null || columns.ColumnCount == 0) return batch;
        if (columns.Length != batch.Length) throw new ArgumentException($"{columns.Length} rows of new columns for a batch of {batch.Length} rows");
        var fields = batch.Schema.FieldsList.ToList();
        var arrays = Enumerable.Range(0, batch.ColumnCount).Select(batch.Column).ToList();
        for (int c = 0; c < columns.ColumnCount; c++)
        {
            var field = columns.Schema.FieldsList[c];
            int i = fields.FindIndex(f => f.Name == field.Name);
            if (i >= 0) { fields[i] = field; arrays[i] = columns.Column(c); }
            else { fields.Add(field); arrays.Add(columns.Column(c)); }
        }
        return new RecordBatch(MergedSchema(batch.Schema, columns.Schema), arrays, batch.Length);
    }

    /// <summary>The schema of <see cref="WithColumns"/>'s result.</summary>
    public static Schema MergedSchema(Schema schema, Schema? columns)
    {
        if (columns is null) return schema;
        var fields = schema.FieldsList.ToList();
        foreach (var field in columns.FieldsList)
        {
            int i = fields.FindIndex(f => f.Name == field.Name);
            if (i >= 0) fields[i] = field;
            else fields.Add(field);
        }
        var b = new Schema.Builder();
        foreach (var f in fields) b.Field(f);
        return b.Build();
    }

    static bool IsIdentity(IReadOnlyList<int> rows)
    {
        for (int i = 0; i < rows.Count; i++) if (rows[i] != i) return false;
        return true;
    }

    static bool SameShape(Schema a, Schema b) =>
        ReferenceEquals(a, b) || a.FieldsList.Count == b.FieldsList.Count
        && a.FieldsList.Zip(b.FieldsList).All(p => p.First.Name == p.Second.Name && p.First.DataType.TypeId == p.Second.DataType.TypeId);

    static string Describe(Schema s) => string.Join(", ", s.FieldsList.Select(f => $"{f.Name}:{f.DataType.Name}"));
}
