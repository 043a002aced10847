using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Parquet;
using Parquet.Schema;

namespace IwSft.Stages.Ingest;

/// <summary>
/// Streams a Parquet file one row group at a time (memory: one row group). Top-level primitive columns
/// are supported (strings, booleans, integers, floating point, decimals, dates); a file with a nested or
/// repeated column is rejected up front naming the column, because silently dropping it would lose data.
/// Rows are numbered from 1 across row groups.
/// </summary>
public sealed class ParquetSourceReader(string path)
{
    public async IAsyncEnumerable<RawRow> ReadAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        await using var reader = await ParquetReader.CreateAsync(stream, cancellationToken: ct);
        var fields = reader.Schema.Fields.ToList();
        foreach (var f in fields)
            if (f is not DataField { IsArray: false })
                throw new InvalidDataException($"{path}: column '{f.Name}' is a nested or repeated Parquet column; only flat columns can be ingested");
        var dataFields = fields.Cast<DataField>().ToArray();

        long row = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var group = reader.OpenRowGroupReader(g);
            int count = checked((int)group.RowCount);
            var columns = new RawValue[dataFields.Length][];
            for (int c = 0; c < dataFields.Length; c++)
                columns[c] = await ReadColumnAsync(group, dataFields[c], count, ct);
            for (int r = 0; r < count; r++)
            {
                row++;
                var values = new List<KeyValuePair<string, RawValue>>(dataFields.Length);
                for (int c = 0; c < dataFields.Length; c++) values.Add(new(dataFields[c].Name, columns[c][r]));
                yield return new RawRecord(path, row, values, () => JsonSerializer.Serialize(values.ToDictionary(kv => kv.Key, kv => kv.Value.Text)));
            }
        }
    }

    static async Task<RawValue[]> ReadColumnAsync(ParquetRowGroupReader group, DataField field, int count, CancellationToken ct)
    {
        var t = Nullable.GetUnderlyingType(field.ClrType) ?? field.ClrType;
        if (t == typeof(string) || t == typeof(ReadOnlyMemory<char>))
        {
            var buffer = new string?[count];
            await group.ReadAsync(field, buffer.AsMemory(), null, ct);
            return buffer.Select(s => s is null ? RawValue.Null : RawValue.Str(s)).ToArray();
        }
        if (t == typeof(bool)) return await ReadValuesAsync<bool>(group, field, count, ct, v => new RawValue(RawKind.Bool, v ? "true" : "false"));
        if (t == typeof(sbyte)) return await ReadValuesAsync<sbyte>(group, field, count, ct, Num);
        if (t == typeof(byte)) return await ReadValuesAsync<byte>(group, field, count, ct, Num);
        if (t == typeof(short)) return await ReadValuesAsync<short>(group, field, count, ct, Num);
        if (t == typeof(ushort)) return await ReadValuesAsync<ushort>(group, field, count, ct, Num);
        if (t == typeof(int)) return await ReadValuesAsync<int>(group, field, count, ct, Num);
        if (t == typeof(uint)) return await ReadValuesAsync<uint>(group, field, count, ct, Num);
        if (t == typeof(long)) return await ReadValuesAsync<long>(group, field, count, ct, Num);
        if (t == typeof(ulong)) return await ReadValuesAsync<ulong>(group, field, count, ct, Num);
        if (t == typeof(float)) return await ReadValuesAsync<float>(group, field, count, ct, v => float.IsFinite(v) ? Num(v) : RawValue.Str(v.ToString(CultureInfo.InvariantCulture)));
        if (t == typeof(double)) return await ReadValuesAsync<double>(group, field, count, ct, v => double.IsFinite(v) ? Num(v) : RawValue.Str(v.ToString(CultureInfo.InvariantCulture)));
        if (t == typeof(decimal)) return await ReadValuesAsync<decimal>(group, field, count, ct, Num);
        if (t == typeof(DateTime)) return await ReadValuesAsync<DateTime>(group, field, count, ct, v => RawValue.Str(v.ToString("O", CultureInfo.InvariantCulture)));
        if (t == typeof(DateOnly)) return await ReadValuesAsync<DateOnly>(group, field, count, ct, v => RawValue.Str(v.ToString("O", CultureInfo.InvariantCulture)));
        throw new InvalidDataException($"column '{field.Name}': Parquet type {t.Name} is not supported by ingest");
    }

    /// <summary>A number as its invariant literal ("R" round-trips floats). NaN and infinities, which JSON cannot hold, are read as strings.</summary>
    static RawValue Num<T>(T v) where T : IFormattable => new(RawKind.Number, v.ToString(null, CultureInfo.InvariantCulture));

    static async Task<RawValue[]> ReadValuesAsync<T>(ParquetRowGroupReader group, DataField field, int count, CancellationToken ct, Func<T, RawValue> convert)
        where T : struct
    {
        var result = new RawValue[count];
        if (field.IsNullable)
        {
            var buffer = new T?[count];
            await group.ReadAsync<T>(field, buffer.AsMemory(), null, ct);
            for (int i = 0; i < count; i++) result[i] = buffer[i] is { } v ? convert(v) : RawValue.Null;
        }
        else
        {
            var buffer = new T[count];
            await group.ReadAsync<T>(field, buffer.AsMemory(), null, ct);
            for (int i = 0; i < count; i++) result[i] = convert(buffer[i]);
        }
        return result;
    }
}
