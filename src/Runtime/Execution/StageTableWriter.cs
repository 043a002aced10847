using Apache.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>
/// A stage's table output: checks every batch against the port's schema (columns, types, nulls in
/// non-nullable columns, same schema as earlier batches) and streams it into a temp Parquet file.
/// The file becomes an artifact only when the stage succeeds.
/// </summary>
internal sealed class StageTableWriter : ITableWriter
{
    readonly string _stage;
    readonly string _artifact;
    readonly TableSchema? _portSchema;
    readonly int _rowGroupRows;
    readonly long _rowGroupBytes;
    readonly Action<long>? _onRows;
    readonly SemaphoreSlim _gate = new(1, 1);
    ParquetTableFileWriter? _file;
    bool _completed;

    public string TempPath { get; }
    /// <summary>More footer metadata (a derived table's); set before the first write.</summary>
    public IReadOnlyDictionary<string, string>? Metadata { get; set; }
    public long RowCount { get; private set; }
    public Schema Schema => _file?.Schema ?? _portSchema?.ToArrow() ?? new Schema.Builder().Build();

    public StageTableWriter(string stage, string artifact, TableSchema? portSchema, string tempPath, int rowGroupRows, Action<long>? onRows,
        long rowGroupBytes = ExecutionOptions.DefaultBatchBytes)
    {
        _stage = stage; _artifact = artifact; _portSchema = portSchema; TempPath = tempPath; _rowGroupRows = rowGroupRows; _onRows = onRows;
        _rowGroupBytes = rowGroupBytes;
    }

    public async Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_completed) throw new InvalidOperationException($"stage '{_stage}': output '{_artifact}' is already complete");
            Check(batch);
            _file ??= await ParquetTableFileWriter.CreateAsync(TempPath, batch.Schema, _rowGroupRows, _rowGroupBytes, cancellationToken, Metadata);
            await _file.WriteAsync(batch, cancellationToken);
            RowCount += batch.Length;
        }
        finally { _gate.Release(); }
        _onRows?.Invoke(RowCount);
    }

    void Check(RecordBatch batch)
    {
        _portSchema?.Validate(batch.Schema, _stage, _artifact);
        if (_portSchema != null)
            foreach (var c in _portSchema.Columns.Where(c => !c.Nullable))
            {
                var col = batch.Column(batch.Schema.GetFieldIndex(c.Name));
                if (col.NullCount > 0)
                    throw new SchemaMismatchException(_stage, _artifact, c.Name, $"{TableSchema.TypeName(c.Type)} (not nullable)",
                        $"{col.NullCount} null value(s)", "first null at batch row " + Enumerable.Range(0, col.Length).First(col.IsNull));
            }
        if (_file is null) return;
        var first = _file.Schema;
        if (first.FieldsList.Count != batch.Schema.FieldsList.Count)
            throw new SchemaMismatchException(_stage, _artifact, "*", string.Join(",", first.FieldsList.Select(f => f.Name)),
                string.Join(",", batch.Schema.FieldsList.Select(f => f.Name)), "every batch of one output must have the same columns");
        for (int i = 0; i < first.FieldsList.Count; i++)
        {
            Field a = first.FieldsList[i], b = batch.Schema.FieldsList[i];
            if (a.Name != b.Name || TableSchema.FromArrowType(a.DataType) != TableSchema.FromArrowType(b.DataType) || a.IsNullable != b.IsNullable)
                throw new SchemaMismatchException(_stage, _artifact, b.Name, $"{a.Name}:{a.DataType.Name}{(a.IsNullable ? "?" : "")}",
                    $"{b.Name}:{b.DataType.Name}{(b.IsNullable ? "?" : "")}", "differs from the first batch written");
        }
    }

    /// <summary>Finishes the file (an output never written becomes an empty table with the port's schema).</summary>
    public async Task CompleteAsync(CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            if (_completed) return;
            _file ??= await ParquetTableFileWriter.CreateAsync(TempPath, _portSchema?.ToArrow()
                ?? throw new InvalidOperationException($"stage '{_stage}': output '{_artifact}' has no schema and no rows"), _rowGroupRows, _rowGroupBytes, ct);
            await _file.CloseAsync(ct);
            _completed = true;
        }
        finally { _gate.Release(); }
    }

    public async ValueTask DisposeAsync()
    {
        // Disposing is what stage code does with `await using`; the engine finishes the file after the stage returns.
        await Task.CompletedTask;
    }

    public async Task AbandonAsync()
    {
        if (_file != null && !_completed) await _file.DisposeAsync();
        _completed = true;
    }
}
