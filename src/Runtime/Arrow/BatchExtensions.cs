using Apache.Arrow;

namespace IwSft.Runtime.Arrow;

/// <summary>Typed, null-aware cell access on record batches by column name.</summary>
public static class BatchExtensions
{
    public static IArrowArray Col(this RecordBatch batch, string column)
    {
        int i = batch.Schema.GetFieldIndex(column);
        if (i < 0) throw new KeyNotFoundException($"batch has no column '{column}'; columns: {string.Join(", ", batch.Schema.FieldsList.Select(f => f.Name))}");
        return batch.Column(i);
    }

    public static bool HasColumn(this RecordBatch batch, string column) => batch.Schema.GetFieldIndex(column) >= 0;

    public static string? GetString(this RecordBatch b, string column, int row) => ((StringArray)b.Col(column)).GetString(row);
    public static int? GetInt32(this RecordBatch b, string column, int row) => ((Int32Array)b.Col(column)).GetValue(row);
    public static long? GetInt64(this RecordBatch b, string column, int row) => ((Int64Array)b.Col(column)).GetValue(row);
    public static float? GetFloat(this RecordBatch b, string column, int row) => ((FloatArray)b.Col(column)).GetValue(row);
    public static double? GetDouble(this RecordBatch b, string column, int row) => ((DoubleArray)b.Col(column)).GetValue(row);
    public static bool? GetBool(this RecordBatch b, string column, int row) => ((BooleanArray)b.Col(column)).GetValue(row);

    public static float[]? GetFloatList(this RecordBatch b, string column, int row)
    {
        var list = (ListArray)b.Col(column);
        if (list.IsNull(row)) return null;
        var values = (FloatArray)list.Values;
        int start = list.ValueOffsets[row], len = list.ValueOffsets[row + 1] - start;
        return values.Values.Slice(start, len).ToArray();
    }

    public static int[]? GetInt32List(this RecordBatch b, string column, int row)
    {
        var list = (ListArray)b.Col(column);
        if (list.IsNull(row)) return null;
        var values = (Int32Array)list.Values;
        int start = list.ValueOffsets[row], len = list.ValueOffsets[row + 1] - start;
        return values.Values.Slice(start, len).ToArray();
    }

    public static string?[]? GetStringList(this RecordBatch b, string column, int row)
    {
        var list = (ListArray)b.Col(column);
        if (list.IsNull(row)) return null;
        var values = (StringArray)list.Values;
        int start = list.ValueOffsets[row], len = list.ValueOffsets[row + 1] - start;
        var r = new string?[len];
        for (int i = 0; i < len; i++) r[i] = values.GetString(start + i);
        return r;
    }
}
