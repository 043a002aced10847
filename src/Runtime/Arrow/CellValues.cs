using Apache.Arrow;

namespace IwSft.Runtime.Arrow;

/// <summary>
/// Untyped cell access: null, string, int, long, float, double, bool, byte[], or for list columns a typed
/// array (int[], float[], string?[]) that BatchBuilder.Set accepts back. Used by show/export and by stages
/// that copy or inspect columns generically.
/// </summary>
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
            ListArray a => ListCell(a, row),
            _ => throw new NotSupportedException($"unsupported Arrow array {array.GetType().Name}"),
        };
    }

    static object ListCell(ListArray list, int row)
    {
        int start = list.ValueOffsets[row], len = list.ValueOffsets[row + 1] - start;
        return list.Values switch
        {
            Int32Array v => v.Values.Slice(start, len).ToArray(),
            FloatArray v => v.Values.Slice(start, len).ToArray(),
            StringArray v => Enumerable.Range(start, len).Select(i => v.GetString(i)).ToArray(),
            _ => throw new NotSupportedException($"list of {list.Values.Data.DataType.Name} is not a supported column type"),
        };
    }
}
