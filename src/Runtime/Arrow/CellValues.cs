using Apache.Arrow;

namespace IwSft.Runtime.Arrow;

/// <summary>Untyped cell access for display and export (show, jsonl, csv): null, string, long, int, double, float, bool, byte[] or a list.</summary>
public static class CellValues
{
    public static object? Get(IArrowArray array, int row)
    {
        if (array.IsNull(row)) return null;
        return array switch
        {
            StringArray a => a.GetString(row),
            Int32Array a => a.GetValue(row),
            Int64Array a => a.GetValue(row),
            FloatArray a => a.GetValue(row),
            DoubleArray a => a.GetValue(row),
            BooleanArray a => a.GetValue(row),
            BinaryArray a => a.GetBytes(row).ToArray(),
            ListArray a => Enumerable.Range(a.ValueOffsets[row], a.ValueOffsets[row + 1] - a.ValueOffsets[row]).Select(j => Get(a.Values, j)).ToList(),
            _ => throw new NotSupportedException($"unsupported Arrow array {array.GetType().Name}"),
        };
    }
}
