using System.Runtime.InteropServices;
using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using Parquet.Schema;
using Field = Apache.Arrow.Field;
using Schema = Apache.Arrow.Schema;

namespace IwSft.Runtime.Store;

/// <summary>
/// Converts one Arrow column to Parquet's (values, definition levels, repetition levels) triple and back.
/// Values are accumulated across batches so several small Arrow batches make one row group.
/// Lists use Parquet's 3-level layout: definition level 0 = null list, 1 = empty list, 2 = null item, 3 = item.
/// </summary>
internal abstract class ColumnCodec
{
    public required Field ArrowField { get; init; }
    public required DataField ParquetLeaf { get; init; }
    public bool Nullable => ArrowField.IsNullable;
    public bool IsList => ArrowField.DataType is ListType;

    public static ParquetSchema ToParquetSchema(Schema arrow)
    {
        var fields = new List<Parquet.Schema.Field>();
        foreach (var f in arrow.FieldsList)
        {
            var ct = TableSchema.FromArrowType(f.DataType)
                ?? throw new NotSupportedException($"column '{f.Name}': Arrow type {f.DataType.Name} cannot be stored; supported: string, int32, int64, float32, float64, bool, binary, list<int32>, list<float32>, list<string>");
            fields.Add(ct switch
            {
                ColumnType.ListInt32 => new ListField(f.Name, new DataField("item", typeof(int), true)),
                ColumnType.ListFloat32 => new ListField(f.Name, new DataField("item", typeof(float), true)),
                ColumnType.ListString => new ListField(f.Name, new DataField("item", typeof(string), true)),
                _ => new DataField(f.Name, ClrType(ct), f.IsNullable),
            });
        }
        return new ParquetSchema(fields);
    }

    static Type ClrType(ColumnType t) => t switch
    {
        ColumnType.String => typeof(string),
        ColumnType.Int32 => typeof(int),
        ColumnType.Int64 => typeof(long),
        ColumnType.Float32 => typeof(float),
        ColumnType.Float64 => typeof(double),
        ColumnType.Bool => typeof(bool),
        ColumnType.Binary => typeof(byte[]),
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };

    /// <summary>One codec per Arrow field, paired with the Parquet leaf columns in schema order.</summary>
    public static ColumnCodec[] Create(Schema arrow, ParquetSchema parquet)
    {
        var leaves = parquet.GetDataFields();
        if (leaves.Length != arrow.FieldsList.Count)
            throw new InvalidDataException($"Parquet file has {leaves.Length} leaf columns, Arrow schema has {arrow.FieldsList.Count}");
        var codecs = new ColumnCodec[leaves.Length];
        for (int i = 0; i < leaves.Length; i++)
        {
            var f = arrow.FieldsList[i];
            var leaf = leaves[i];
            codecs[i] = TableSchema.FromArrowType(f.DataType) switch
            {
                ColumnType.String => new StringCodec { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.Int32 => new PrimitiveCodec<int> { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.Int64 => new PrimitiveCodec<long> { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.Float32 => new PrimitiveCodec<float> { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.Float64 => new PrimitiveCodec<double> { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.Bool => new BoolCodec { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.Binary => new BinaryCodec { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.ListInt32 => new ListCodec<int> { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.ListFloat32 => new ListCodec<float> { ArrowField = f, ParquetLeaf = leaf },
                ColumnType.ListString => new ListStringCodec { ArrowField = f, ParquetLeaf = leaf },
                _ => throw new NotSupportedException($"column '{f.Name}': unsupported type {f.DataType.Name}"),
            };
        }
        return codecs;
    }

    // ---- writing ----
    protected readonly List<int> Def = new();
    protected readonly List<int> Rep = new();

    public abstract void Append(IArrowArray array);
    public abstract Task FlushAsync(Parquet.ParquetRowGroupWriter rowGroup, CancellationToken ct);
    public virtual void Clear() { Def.Clear(); Rep.Clear(); }

    // Careful: a bare null here converts (via int[]) to an empty memory, which Parquet.Net reads as zero rows.
    protected ReadOnlyMemory<int>? DefLevels => ParquetLeaf.MaxDefinitionLevel > 0 ? new ReadOnlyMemory<int>(Def.ToArray()) : (ReadOnlyMemory<int>?)null;
    protected ReadOnlyMemory<int>? RepLevels => ParquetLeaf.MaxRepetitionLevel > 0 ? new ReadOnlyMemory<int>(Rep.ToArray()) : (ReadOnlyMemory<int>?)null;

    // ---- reading ----
    public abstract Task<IArrowArray> ReadAsync(Parquet.ParquetRowGroupReader rowGroup, int rows, CancellationToken ct);

    protected async Task<(T[] values, int[]? def, int[]? rep, int count)> ReadRawAsync<T>(Parquet.ParquetRowGroupReader rowGroup, CancellationToken ct) where T : struct
    {
        long n = rowGroup.GetMetadata(ParquetLeaf)?.MetaData?.NumValues
                 ?? throw new InvalidDataException($"column '{ArrowField.Name}' has no metadata in this row group");
        var values = new T[n];
        int[]? def = ParquetLeaf.MaxDefinitionLevel > 0 ? new int[n] : null;
        int[]? rep = ParquetLeaf.MaxRepetitionLevel > 0 ? new int[n] : null;
        await rowGroup.ReadRawAsync<T>(ParquetLeaf, values, def is null ? (Memory<int>?)null : def, rep is null ? (Memory<int>?)null : rep, ct);
        return (values, def, rep, (int)n);
    }

    /// <summary>Validity bitmap from definition levels of a flat column (level == max means present).</summary>
    protected static (ArrowBuffer bitmap, int nullCount) Validity(int[]? def, int rows, int presentLevel)
    {
        if (def is null) return (ArrowBuffer.Empty, 0);
        var bits = new byte[(rows + 7) / 8];
        int nulls = 0;
        for (int i = 0; i < rows; i++)
        {
            if (def[i] >= presentLevel) bits[i >> 3] |= (byte)(1 << (i & 7));
            else nulls++;
        }
        return nulls == 0 ? (ArrowBuffer.Empty, 0) : (new ArrowBuffer(bits), nulls);
    }

    protected static ArrowBuffer BufferOf<T>(ReadOnlySpan<T> span) where T : struct => new(MemoryMarshal.AsBytes(span).ToArray());
}

internal sealed class PrimitiveCodec<T> : ColumnCodec where T : struct, IEquatable<T>
{
    readonly List<T> _values = new();

    public override void Append(IArrowArray array)
    {
        var a = (PrimitiveArray<T>)array;
        var span = a.Values;
        if (a.NullCount == 0)
        {
            _values.AddRange(span);
            if (ParquetLeaf.MaxDefinitionLevel > 0) for (int i = 0; i < a.Length; i++) Def.Add(1);
            return;
        }
        for (int i = 0; i < a.Length; i++)
        {
            if (a.IsNull(i)) { Def.Add(0); continue; }
            Def.Add(1);
            _values.Add(span[i]);
        }
    }

    public override Task FlushAsync(Parquet.ParquetRowGroupWriter rg, CancellationToken ct) =>
        rg.WriteAllPartsAsync<T>(ParquetLeaf, CollectionsMarshal.AsSpan(_values).ToArray(), DefLevels, null, ct);

    public override void Clear() { base.Clear(); _values.Clear(); }

    public override async Task<IArrowArray> ReadAsync(Parquet.ParquetRowGroupReader rg, int rows, CancellationToken ct)
    {
        var (values, def, _, n) = await ReadRawAsync<T>(rg, ct);
        var (bitmap, nulls) = Validity(def, rows, 1);
        T[] dense = values;
        if (nulls > 0)
        {
            // Parquet packs present values; Arrow keeps a slot per row.
            dense = new T[rows];
            for (int i = 0, v = 0; i < rows; i++) if (def![i] >= 1) dense[i] = values[v++];
        }
        var data = new ArrayData(ArrowField.DataType, rows, nulls, 0, new[] { bitmap, BufferOf<T>(dense.AsSpan(0, rows)) });
        return ArrowArrayFactory.BuildArray(data);
    }
}

internal sealed class BoolCodec : ColumnCodec
{
    readonly List<bool> _values = new();

    public override void Append(IArrowArray array)
    {
        var a = (BooleanArray)array;
        for (int i = 0; i < a.Length; i++)
        {
            if (a.IsNull(i)) { Def.Add(0); continue; }
            if (ParquetLeaf.MaxDefinitionLevel > 0) Def.Add(1);
            _values.Add(a.GetValue(i)!.Value);
        }
    }

    public override Task FlushAsync(Parquet.ParquetRowGroupWriter rg, CancellationToken ct) =>
        rg.WriteAllPartsAsync<bool>(ParquetLeaf, _values.ToArray(), DefLevels, null, ct);

    public override void Clear() { base.Clear(); _values.Clear(); }

    public override async Task<IArrowArray> ReadAsync(Parquet.ParquetRowGroupReader rg, int rows, CancellationToken ct)
    {
        var (values, def, _, _) = await ReadRawAsync<bool>(rg, ct);
        var (bitmap, nulls) = Validity(def, rows, 1);
        var bits = new byte[(rows + 7) / 8];
        for (int i = 0, v = 0; i < rows; i++)
        {
            if (def is not null && def[i] < 1) continue;
            if (values[v++]) bits[i >> 3] |= (byte)(1 << (i & 7));
        }
        return new BooleanArray(new ArrowBuffer(bits), bitmap, rows, nulls, 0);
    }
}

/// <summary>Shared UTF-8 ⇄ chars handling for string leaves (Parquet.Net exposes strings as ReadOnlyMemory&lt;char&gt;).</summary>
internal static class Utf8Column
{
    /// <summary>
    /// Decodes all values of a string array into one char buffer (one allocation per batch instead of one
    /// string per row); <paramref name="charOffsets"/>[i]..[i+1] delimits value i.
    /// </summary>
    public static char[] DecodeAll(StringArray a, out int[] charOffsets)
    {
        var offsets = a.ValueOffsets;
        var bytes = a.ValueBuffer.Span.Slice(offsets[0], offsets[a.Length] - offsets[0]);
        charOffsets = new int[a.Length + 1];
        if (System.Text.Ascii.IsValid(bytes))
        {
            for (int i = 0; i <= a.Length; i++) charOffsets[i] = offsets[i] - offsets[0];
        }
        else
        {
            for (int i = 0; i < a.Length; i++)
                charOffsets[i + 1] = charOffsets[i] + Encoding.UTF8.GetCharCount(bytes.Slice(offsets[i] - offsets[0], offsets[i + 1] - offsets[i]));
        }
        var chars = new char[charOffsets[a.Length]];
        Encoding.UTF8.GetChars(bytes, chars); // value boundaries are character boundaries, so one call decodes all
        return chars;
    }

    public static ReadOnlyMemory<char> Decode(ReadOnlySpan<byte> utf8) =>
        utf8.Length == 0 ? ReadOnlyMemory<char>.Empty : Encoding.UTF8.GetString(utf8).AsMemory();

    /// <summary>Builds Arrow (offsets, data) buffers from present strings picked by <paramref name="isPresent"/>.</summary>
    public static (ArrowBuffer offsets, ArrowBuffer data) Encode(ReadOnlyMemory<char>[] values, int slots, Func<int, bool> isPresent)
    {
        var offsets = new int[slots + 1];
        long total = 0;
        for (int i = 0, v = 0; i < slots; i++)
        {
            if (isPresent(i)) total += Encoding.UTF8.GetByteCount(values[v++].Span);
            if (total > int.MaxValue) throw new InvalidDataException("string column over 2 GiB in one row group");
            offsets[i + 1] = (int)total;
        }
        var data = new byte[total];
        for (int i = 0, v = 0; i < slots; i++)
            if (isPresent(i)) Encoding.UTF8.GetBytes(values[v++].Span, data.AsSpan(offsets[i]));
        return (new ArrowBuffer(MemoryMarshal.AsBytes(offsets.AsSpan()).ToArray()), new ArrowBuffer(data));
    }
}

internal sealed class StringCodec : ColumnCodec
{
    readonly List<ReadOnlyMemory<char>> _values = new();

    public override void Append(IArrowArray array)
    {
        var a = (StringArray)array;
        bool levels = ParquetLeaf.MaxDefinitionLevel > 0;
        var chars = Utf8Column.DecodeAll(a, out var charOffsets);
        for (int i = 0; i < a.Length; i++)
        {
            if (a.IsNull(i)) { Def.Add(0); continue; }
            if (levels) Def.Add(1);
            _values.Add(new ReadOnlyMemory<char>(chars, charOffsets[i], charOffsets[i + 1] - charOffsets[i]));
        }
    }

    public override Task FlushAsync(Parquet.ParquetRowGroupWriter rg, CancellationToken ct) =>
        rg.WriteAllPartsAsync<ReadOnlyMemory<char>>(ParquetLeaf, _values.ToArray(), DefLevels, null, ct);

    public override void Clear() { base.Clear(); _values.Clear(); }

    public override async Task<IArrowArray> ReadAsync(Parquet.ParquetRowGroupReader rg, int rows, CancellationToken ct)
    {
        var (values, def, _, _) = await ReadRawAsync<ReadOnlyMemory<char>>(rg, ct);
        var (bitmap, nulls) = Validity(def, rows, 1);
        var (offsets, data) = Utf8Column.Encode(values, rows, i => def is null || def[i] >= 1);
        return new StringArray(rows, offsets, data, bitmap, nulls, 0);
    }
}

internal sealed class BinaryCodec : ColumnCodec
{
    readonly List<ReadOnlyMemory<byte>> _values = new();

    public override void Append(IArrowArray array)
    {
        var a = (BinaryArray)array;
        bool levels = ParquetLeaf.MaxDefinitionLevel > 0;
        for (int i = 0; i < a.Length; i++)
        {
            if (a.IsNull(i)) { Def.Add(0); continue; }
            if (levels) Def.Add(1);
            _values.Add(a.GetBytes(i).ToArray());
        }
    }

    public override Task FlushAsync(Parquet.ParquetRowGroupWriter rg, CancellationToken ct) =>
        rg.WriteAllPartsAsync<ReadOnlyMemory<byte>>(ParquetLeaf, _values.ToArray(), DefLevels, null, ct);

    public override void Clear() { base.Clear(); _values.Clear(); }

    public override async Task<IArrowArray> ReadAsync(Parquet.ParquetRowGroupReader rg, int rows, CancellationToken ct)
    {
        var (values, def, _, _) = await ReadRawAsync<ReadOnlyMemory<byte>>(rg, ct);
        var (bitmap, nulls) = Validity(def, rows, 1);
        var offsets = new int[rows + 1];
        long total = 0;
        for (int i = 0, v = 0; i < rows; i++)
        {
            if (def is null || def[i] >= 1) total += values[v++].Length;
            offsets[i + 1] = checked((int)total);
        }
        var data = new byte[total];
        for (int i = 0, v = 0; i < rows; i++)
            if (def is null || def[i] >= 1) values[v++].Span.CopyTo(data.AsSpan(offsets[i]));
        return new BinaryArray(BinaryType.Default, rows, BufferOf<int>(offsets), new ArrowBuffer(data), bitmap, nulls, 0);
    }
}

/// <summary>Walks list offsets/validity and emits Parquet levels; the item writer appends present items.</summary>
internal abstract class ListCodecBase<TItem> : ColumnCodec where TItem : struct
{
    protected readonly List<TItem> Values = new();
    int MaxDef => ParquetLeaf.MaxDefinitionLevel;

    public override void Append(IArrowArray array)
    {
        var a = (ListArray)array;
        var items = a.Values;
        var offsets = a.ValueOffsets;
        for (int i = 0; i < a.Length; i++)
        {
            if (a.IsNull(i)) { Def.Add(MaxDef - 3); Rep.Add(0); continue; }
            int start = offsets[i], end = offsets[i + 1];
            if (start == end) { Def.Add(MaxDef - 2); Rep.Add(0); continue; }
            for (int j = start; j < end; j++)
            {
                Rep.Add(j == start ? 0 : 1);
                if (items.IsNull(j)) { Def.Add(MaxDef - 1); continue; }
                Def.Add(MaxDef);
                Values.Add(Item(items, j));
            }
        }
    }

    protected abstract TItem Item(IArrowArray items, int index);
    protected abstract IArrowArray BuildItems(TItem[] values, int[] def, int count, int present);

    public override Task FlushAsync(Parquet.ParquetRowGroupWriter rg, CancellationToken ct) =>
        rg.WriteAllPartsAsync<TItem>(ParquetLeaf, Values.ToArray(), DefLevels, RepLevels, ct);

    public override void Clear() { base.Clear(); Values.Clear(); }

    public override async Task<IArrowArray> ReadAsync(Parquet.ParquetRowGroupReader rg, int rows, CancellationToken ct)
    {
        var (values, def, rep, n) = await ReadRawAsync<TItem>(rg, ct);
        var offsets = new int[rows + 1];
        var listBits = new byte[(rows + 7) / 8];
        int listNulls = 0, row = -1, items = 0;
        // Item slots: every level with def >= MaxDef-1 (a null item or a value).
        var itemDef = new int[n];
        for (int k = 0; k < n; k++)
        {
            if (rep![k] == 0)
            {
                if (row >= 0) offsets[row + 1] = items;
                row++;
                if (def![k] < MaxDef - 2) { listNulls++; continue; }
                listBits[row >> 3] |= (byte)(1 << (row & 7));
                if (def[k] == MaxDef - 2) continue;
            }
            itemDef[items++] = def![k];
        }
        if (row >= 0) offsets[row + 1] = items;
        if (row + 1 != rows) throw new InvalidDataException($"column '{ArrowField.Name}': {row + 1} lists for {rows} rows");
        int present = 0;
        for (int k = 0; k < items; k++) if (itemDef[k] == MaxDef) present++;
        var itemArray = BuildItems(values, itemDef, items, present);
        var bitmap = listNulls == 0 ? ArrowBuffer.Empty : new ArrowBuffer(listBits);
        return new ListArray(ArrowField.DataType, rows, BufferOf<int>(offsets), itemArray, bitmap, listNulls, 0);
    }

    protected (ArrowBuffer bitmap, int nulls) ItemValidity(int[] def, int count) => Validity(def.Length == count ? def : def[..count], count, MaxDef);
}

internal sealed class ListCodec<T> : ListCodecBase<T> where T : struct, IEquatable<T>
{
    protected override T Item(IArrowArray items, int index) => ((PrimitiveArray<T>)items).Values[index];

    protected override IArrowArray BuildItems(T[] values, int[] def, int count, int present)
    {
        var (bitmap, nulls) = ItemValidity(def, count);
        var dense = new T[count];
        for (int k = 0, v = 0; k < count; k++) if (nulls == 0 || def[k] == ParquetLeaf.MaxDefinitionLevel) dense[k] = values[v++];
        var itemType = ((ListType)ArrowField.DataType).ValueDataType;
        return ArrowArrayFactory.BuildArray(new ArrayData(itemType, count, nulls, 0, new[] { bitmap, BufferOf<T>(dense) }));
    }
}

internal sealed class ListStringCodec : ListCodecBase<ReadOnlyMemory<char>>
{
    protected override ReadOnlyMemory<char> Item(IArrowArray items, int index) => Utf8Column.Decode(((StringArray)items).GetBytes(index));

    protected override IArrowArray BuildItems(ReadOnlyMemory<char>[] values, int[] def, int count, int present)
    {
        var (bitmap, nulls) = ItemValidity(def, count);
        int max = ParquetLeaf.MaxDefinitionLevel;
        var (offsets, data) = Utf8Column.Encode(values, count, k => def[k] == max);
        return new StringArray(count, offsets, data, bitmap, nulls, 0);
    }
}
