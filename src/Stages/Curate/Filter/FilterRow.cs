using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Curate.Filter;

/// <summary>One row of a batch, as a rule sees it. Missing columns read as null.</summary>
public readonly struct FilterRow(RecordBatch batch, int row)
{
    public RecordBatch Batch { get; } = batch;
    public int Row { get; } = row;

    public string Id => Batch.GetString("id", Row) ?? "";
    public object? Value(string column) => Batch.HasColumn(column) ? CurateTables.Cell(Batch.Col(column), Row) : null;
    public string? String(string column) => Value(column) as string;
    public long? Integer(string column) => Value(column) switch { int i => i, long l => l, _ => null };
    public double? Number(string column) => Value(column) switch { int i => i, long l => l, float f => f, double d => d, _ => null };
    public bool? Bool(string column) => Value(column) as bool?;
}

/// <summary>A filter rule: returns null to pass the record, or the detail of why it is dropped.</summary>
public delegate string? FilterPredicate(FilterRow row);

/// <summary>A named rule; the name is the decision reason.</summary>
public sealed record FilterRule(string Name, FilterPredicate Check);
