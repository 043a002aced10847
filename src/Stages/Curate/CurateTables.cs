using Apache.Arrow;
using Apache.Arrow.Types;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Curate;

/// <summary>Arrow helpers shared by the curate stages: cell access by type, column replace/append, row subsets.</summary>
public static class CurateTables
{
    /// <summary>The cell as a CLR value (string, int, long, float, double, bool, byte[], int[], float[], string?[]) or null.</summary>
    public static object? Cell(IArrowArray array, int row) => CellValues.Get(array, row);

    /// <summary>An array of <paramref name="length"/> values of the field's type, built from <paramref name="values"/>.</summary>
    public static IArrowArray BuildArray(Field field, IReadOnlyList<object?> values)
    {
        var bb = new BatchBuilder(new Schema.Builder().Field(field).Build());
        foreach (var v in values)
        {
            if (v != null) bb.Set(field.Name, v);
            bb.EndRow();
        }
        return bb.Build().Column(0);
    }

    /// <summary>
    /// <paramref name="batch"/> with columns replaced (same name) or appended, keeping the order of existing columns.
    /// </summary>
    public static RecordBatch WithColumns(RecordBatch batch, params (Field Field, IArrowArray Array)[] columns)
    {
        foreach (var (field, array) in columns)
            if (array.Length != batch.Length)
                throw new ArgumentException($"column '{field.Name}' has {array.Length} rows, batch has {batch.Length}");
        var sb = new Schema.Builder();
        foreach (var (field, _) in columns) sb.Field(field);
        return BatchRows.WithColumns(batch, new RecordBatch(sb.Build(), columns.Select(c => c.Array), batch.Length));
    }

    /// <summary>Adds every column of <paramref name="schema"/> the batch lacks, as all-null columns.</summary>
    public static RecordBatch EnsureColumns(RecordBatch batch, TableSchema schema)
    {
        var missing = schema.Columns.Where(c => !batch.HasColumn(c.Name)).ToList();
        if (missing.Count == 0) return batch;
        foreach (var c in missing)
            if (!c.Nullable) throw new ArgumentException($"input lacks non-nullable column '{c.Name}' of schema '{schema.Name}'");
        var nulls = new object?[batch.Length];
        return WithColumns(batch, missing.Select(c =>
        {
            var f = new Field(c.Name, TableSchema.ToArrowType(c.Type), true);
            return (f, BuildArray(f, nulls));
        }).ToArray());
    }

    /// <summary>
    /// The columns a stage adds to rows of an input with schema <paramref name="input"/>, as a batch for
    /// <see cref="IDerivedTableWriter.WriteRowsAsync"/>: the feature columns of <paramref name="schema"/> the input lacks
    /// (all null, in the schema's order; <see cref="EnsureColumns"/>), with <paramref name="computed"/> in place of
    /// same-named ones and the other computed columns after them — what <c>WithColumns(EnsureColumns(batch), computed)</c>
    /// adds to a batch of the input.
    /// </summary>
    public static RecordBatch AddedColumns(Schema input, TableSchema schema, int rows, params (Field Field, IArrowArray Array)[] computed)
    {
        var fields = new List<Field>();
        var arrays = new List<IArrowArray>();
        foreach (var c in schema.Columns.Where(c => input.GetFieldIndex(c.Name) < 0))
        {
            if (!c.Nullable) throw new ArgumentException($"input lacks non-nullable column '{c.Name}' of schema '{schema.Name}'");
            int k = System.Array.FindIndex(computed, x => x.Field.Name == c.Name);
            var f = k >= 0 ? computed[k].Field : new Field(c.Name, TableSchema.ToArrowType(c.Type), true);
            fields.Add(f);
            arrays.Add(k >= 0 ? computed[k].Array : BuildArray(f, new object?[rows]));
        }
        foreach (var (field, array) in computed.Where(x => !fields.Any(f => f.Name == x.Field.Name)))
        {
            fields.Add(field);
            arrays.Add(array);
        }
        foreach (var a in arrays)
            if (a.Length != rows) throw new ArgumentException($"a computed column has {a.Length} rows, expected {rows}");
        var sb = new Schema.Builder();
        foreach (var f in fields) sb.Field(f);
        return new RecordBatch(sb.Build(), arrays, rows);
    }

    /// <summary>Row numbers <paramref name="first"/> … <paramref name="first"/> + <paramref name="count"/> − 1 (a whole input batch).</summary>
    public static List<long> RowNumbers(long first, int count)
    {
        var rows = new List<long>(count);
        for (int i = 0; i < count; i++) rows.Add(first + i);
        return rows;
    }

    /// <summary>A field declared nullable for a column type (the curate stages write nullable feature columns).</summary>
    public static Field NullableField(string name, ColumnType type) => new(name, TableSchema.ToArrowType(type), true);

    /// <summary>A string cell of an optional column (null when the column is absent).</summary>
    public static string? OptString(RecordBatch b, string column, int row) =>
        b.HasColumn(column) ? Cell(b.Col(column), row)?.ToString() : null;
}

/// <summary>Thrown for bad input data: names the stage, artifact, row and column.</summary>
public sealed class CurateDataException(string stage, string artifact, long row, string column, string problem)
    : Exception($"stage '{stage}', input '{artifact}', row {row}, column '{column}': {problem}");
