using Apache.Arrow;
using Apache.Arrow.Types;

namespace IwSft.Runtime.Arrow;

/// <summary>
/// Builds Arrow record batches row by row for a schema: <c>Set</c> columns of the current row, then
/// <c>EndRow</c>. Unset columns become null; a null in a non-nullable column is an error naming it.
/// </summary>
public sealed class BatchBuilder
{
    readonly Schema _schema;
    readonly IColumn[] _columns;
    readonly Dictionary<string, int> _index;
    readonly bool[] _set;

    public BatchBuilder(Schema schema)
    {
        _schema = schema;
        _columns = schema.FieldsList.Select(f => CreateColumn(f)).ToArray();
        _index = schema.FieldsList.Select((f, i) => (f.Name, i)).ToDictionary(x => x.Name, x => x.i, StringComparer.Ordinal);
        _set = new bool[_columns.Length];
    }

    public BatchBuilder(TableSchema schema) : this(schema.ToArrow()) { }

    public Schema Schema => _schema;

    /// <summary>Completed rows in the batch being built.</summary>
    public int Count { get; private set; }

    /// <summary>Bytes of the values set so far in this batch (<see cref="RowBytes"/>'s rule), for the batch byte budget.</summary>
    public long Bytes { get; private set; }

    public BatchBuilder Set(string column, object? value)
    {
        if (!_index.TryGetValue(column, out int i))
            throw new ArgumentException($"no column '{column}' in schema; columns: {string.Join(", ", _index.Keys)}");
        if (_set[i]) throw new InvalidOperationException($"column '{column}' set twice in one row");
        var f = _schema.FieldsList[i];
        if (value is null && !f.IsNullable)
            throw new ArgumentException($"column '{column}' is not nullable");
        try { _columns[i].Append(value); Bytes += RowBytes.OfValue(value); }
        catch (InvalidCastException) { throw new ArgumentException($"column '{column}' ({f.DataType.Name}) cannot hold a {value!.GetType().Name}"); }
        _set[i] = true;
        return this;
    }

    public void EndRow()
    {
        for (int i = 0; i < _columns.Length; i++)
        {
            if (_set[i]) { _set[i] = false; continue; }
            var f = _schema.FieldsList[i];
            if (!f.IsNullable) throw new ArgumentException($"row {Count}: non-nullable column '{f.Name}' not set");
            _columns[i].Append(null);
        }
        Count++;
    }

    /// <summary>The rows so far as one batch; the builder starts a new batch afterwards.</summary>
    public RecordBatch Build()
    {
        if (_set.Any(x => x)) throw new InvalidOperationException("Build called in the middle of a row (EndRow missing)");
        var arrays = _columns.Select(c => c.Build()).ToArray();
        var batch = new RecordBatch(_schema, arrays, Count);
        for (int i = 0; i < _columns.Length; i++) _columns[i] = CreateColumn(_schema.FieldsList[i]);
        Count = 0;
        Bytes = 0;
        return batch;
    }

    interface IColumn { void Append(object? v); IArrowArray Build(); }

    sealed class Col<TBuilder>(TBuilder builder, Action<TBuilder, object> append, Action<TBuilder> appendNull, Func<TBuilder, IArrowArray> build) : IColumn
    {
        public void Append(object? v) { if (v is null) appendNull(builder); else append(builder, v); }
        public IArrowArray Build() => build(builder);
    }

    static IColumn CreateColumn(Field f) => f.DataType switch
    {
        StringType => new Col<StringArray.Builder>(new(), (b, v) => b.Append((string)v), b => b.AppendNull(), b => b.Build()),
        Int32Type => new Col<Int32Array.Builder>(new(), (b, v) => b.Append(Convert.ToInt32(v)), b => b.AppendNull(), b => b.Build()),
        Int64Type => new Col<Int64Array.Builder>(new(), (b, v) => b.Append(Convert.ToInt64(v)), b => b.AppendNull(), b => b.Build()),
        FloatType => new Col<FloatArray.Builder>(new(), (b, v) => b.Append(Convert.ToSingle(v)), b => b.AppendNull(), b => b.Build()),
        DoubleType => new Col<DoubleArray.Builder>(new(), (b, v) => b.Append(Convert.ToDouble(v)), b => b.AppendNull(), b => b.Build()),
        BooleanType => new Col<BooleanArray.Builder>(new(), (b, v) => b.Append((bool)v), b => b.AppendNull(), b => b.Build()),
        BinaryType => new Col<BinaryArray.Builder>(new(), (b, v) => b.Append(((byte[])v).AsSpan()), b => b.AppendNull(), b => b.Build()),
        ListType { ValueDataType: FloatType } lt => new Col<ListArray.Builder>(new(lt.ValueDataType), (b, v) =>
        {
            b.Append();
            var vb = (FloatArray.Builder)b.ValueBuilder;
            foreach (var x in (IEnumerable<float>)v) vb.Append(x);
        }, b => b.AppendNull(), b => b.Build()),
        ListType { ValueDataType: Int32Type } lt => new Col<ListArray.Builder>(new(lt.ValueDataType), (b, v) =>
        {
            b.Append();
            var vb = (Int32Array.Builder)b.ValueBuilder;
            foreach (var x in (IEnumerable<int>)v) vb.Append(x);
        }, b => b.AppendNull(), b => b.Build()),
        ListType { ValueDataType: StringType } lt => new Col<ListArray.Builder>(new(lt.ValueDataType), (b, v) =>
        {
            b.Append();
            var vb = (StringArray.Builder)b.ValueBuilder;
            foreach (var x in (IEnumerable<string>)v) vb.Append(x);
        }, b => b.AppendNull(), b => b.Build()),
        _ => throw new NotSupportedException($"column '{f.Name}': Arrow type {f.DataType.Name} is not a supported column type"),
    };
}
