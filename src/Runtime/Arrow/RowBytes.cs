using Apache.Arrow;
using Apache.Arrow.Types;

namespace IwSft.Runtime.Arrow;

/// <summary>
/// The byte size of a row, as the batch byte budget (<see cref="ExecutionOptions.BatchBytes"/>) counts it: the Arrow
/// value bytes of its cells — a string's or binary's UTF-8 bytes, a list's items (strings by their bytes, numbers by
/// their width), a fixed-width value's width (bool: 1); nulls count 0. Offsets and validity bitmaps are not counted.
/// </summary>
public static class RowBytes
{
    /// <summary>The byte size of every row of <paramref name="batch"/>.</summary>
    public static long[] Of(RecordBatch batch)
    {
        var sizes = new long[batch.Length];
        for (int c = 0; c < batch.ColumnCount; c++) Add(batch.Column(c), sizes);
        return sizes;
    }

    static void Add(IArrowArray column, long[] sizes)
    {
        switch (column)
        {
            case BinaryArray a: // StringArray derives from BinaryArray
                {
                    var offsets = a.ValueOffsets;
                    for (int r = 0; r < sizes.Length; r++) sizes[r] += offsets[r + 1] - offsets[r];
                    break;
                }
            case ListArray l:
                {
                    var offsets = l.ValueOffsets;
                    var items = l.Values;
                    if (items is BinaryArray s)
                    {
                        var itemOffsets = s.ValueOffsets;
                        for (int r = 0; r < sizes.Length; r++)
                            sizes[r] += itemOffsets[offsets[r + 1]] - itemOffsets[offsets[r]];
                    }
                    else
                    {
                        int width = Width(items.Data.DataType);
                        for (int r = 0; r < sizes.Length; r++) sizes[r] += (long)(offsets[r + 1] - offsets[r]) * width;
                    }
                    break;
                }
            default:
                {
                    int width = Width(column.Data.DataType);
                    for (int r = 0; r < sizes.Length; r++) if (!column.IsNull(r)) sizes[r] += width;
                    break;
                }
        }
    }

    static int Width(IArrowType type) => type is FixedWidthType f ? Math.Max(1, f.BitWidth / 8) : 0;

    /// <summary>The byte size of one value as <see cref="BatchBuilder"/> receives it (same rule as <see cref="Of"/>).</summary>
    public static long OfValue(object? value) => value switch
    {
        null => 0,
        string s => System.Text.Encoding.UTF8.GetByteCount(s),
        byte[] b => b.Length,
        int or float => 4,
        long or double => 8,
        bool => 1,
        IEnumerable<string> items => items.Sum(x => x is null ? 0L : System.Text.Encoding.UTF8.GetByteCount(x)),
        IReadOnlyCollection<int> items => 4L * items.Count,
        IReadOnlyCollection<float> items => 4L * items.Count,
        IEnumerable<int> items => 4L * items.Count(),
        IEnumerable<float> items => 4L * items.Count(),
        _ => 0,
    };
}
