using Apache.Arrow;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>
/// The engine's <see cref="IDerivedTableWriter"/>: writes a <see cref="DerivedTable"/> — each row's number in the base
/// table and the added columns — instead of the rows in full. From a plain input the base is the input; from a derived
/// input it is that input's base, and the input's stored columns are carried along (read from its small file in step
/// with the rows asked for). The output's logical schema is checked against the port like any table output.
/// </summary>
internal sealed class DerivedTableWriter : IDerivedTableWriter
{
    readonly string _stage, _artifact;
    readonly TableSchema? _port;
    readonly StoredTableReader _input;
    readonly StageTableWriter _file;
    readonly DerivedRowCheck _check;
    readonly DerivedTable? _inputDerived;
    readonly string _baseHash;
    IAsyncEnumerator<RecordBatch>? _inputFile;
    RecordBatch? _current;
    long _currentFirst;
    Schema? _logical, _physical, _columns;
    HashSet<string>? _stored;

    readonly int _chunkRows;

    public DerivedTableWriter(string stage, string artifact, TableSchema? port, StoredTableReader input, StageTableWriter file, int chunkRows)
    {
        _stage = stage; _artifact = artifact; _port = port; _input = input; _file = file; _chunkRows = Math.Max(1, chunkRows);
        _check = new DerivedRowCheck(input.Artifact);
        _inputDerived = input.Derived;
        _baseHash = _inputDerived?.BaseHash ?? input.ContentHash;
    }

    public ITableReader Input => _input;
    public long RowCount => _file.RowCount;

    public async Task WriteRowsAsync(IReadOnlyList<long> inputRows, RecordBatch? columns = null, CancellationToken cancellationToken = default)
    {
        if (_logical is null) Define(columns?.Schema);
        else if ((columns is null) != (_columns is null))
            throw new ArgumentException($"stage '{_stage}': output '{_artifact}': every call must pass the same new columns (or none)");
        _check.Check(inputRows, columns);
        if (columns != null) CheckNulls(columns);
        // Large calls in slices of BatchRows rows, so the carried columns of one slice at a time are in memory.
        for (int from = 0; from < inputRows.Count || from == 0; from += _chunkRows)
        {
            int n = Math.Min(_chunkRows, inputRows.Count - from);
            var rows = n == inputRows.Count ? inputRows : inputRows.Skip(from).Take(n).ToList();
            await WriteChunkAsync(rows, columns is null || n == columns.Length ? columns : columns.Slice(from, n), cancellationToken);
            if (inputRows.Count == 0) break;
        }
    }

    async Task WriteChunkAsync(IReadOnlyList<long> inputRows, RecordBatch? columns, CancellationToken cancellationToken)
    {

        var baseRows = new long[inputRows.Count];
        var carried = _inputDerived is null ? null : new List<(RecordBatch Batch, int Row)>(inputRows.Count);
        for (int i = 0; i < inputRows.Count; i++)
        {
            long row = inputRows[i];
            if (_inputDerived is null)
            {
                if (row >= _input.RowCount)
                    throw new ArgumentOutOfRangeException(nameof(inputRows), $"input row {row} is past the end of '{_input.Artifact}' ({_input.RowCount} rows)");
                baseRows[i] = row;
                continue;
            }
            _inputFile ??= _input.ReadFileVerifiedAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            while (_current is null || row >= _currentFirst + _current.Length)
            {
                _currentFirst += _current?.Length ?? 0;
                if (!await _inputFile.MoveNextAsync())
                    throw new ArgumentOutOfRangeException(nameof(inputRows), $"input row {row} is past the end of '{_input.Artifact}' ({_currentFirst} rows)");
                _current = _inputFile.Current;
            }
            int at = (int)(row - _currentFirst);
            baseRows[i] = ((Int64Array)_current.Column(0)).GetValue(at)!.Value;
            carried!.Add((_current, at));
        }

        var fromInput = carried is { Count: > 0 } ? BatchRows.Take(carried[0].Batch.Schema, carried) : null;
        var arrays = new IArrowArray[_physical!.FieldsList.Count];
        arrays[0] = new Int64Array.Builder().AppendRange(baseRows).Build();
        for (int c = 1; c < arrays.Length; c++)
        {
            var name = _physical.FieldsList[c].Name;
            arrays[c] = columns?.Schema.GetFieldIndex(name) is >= 0 and var k ? columns.Column(k)
                : inputRows.Count == 0 ? Empty(_physical.FieldsList[c])
                : fromInput!.Column(fromInput.Schema.GetFieldIndex(name));
        }
        await _file.WriteAsync(new RecordBatch(_physical, arrays, inputRows.Count), cancellationToken);
    }

    static IArrowArray Empty(Field field) => new BatchBuilder(new Schema.Builder().Field(field).Build()).Build().Column(0);

    /// <summary>Fixes the output's schemas at the first call (or at the end, for an output never written).</summary>
    void Define(Schema? columns)
    {
        _columns = columns;
        _logical = BatchRows.MergedSchema(_input.Schema, columns);
        _port?.Validate(_logical, _stage, _artifact);
        if (_port != null)
            foreach (var c in _port.Columns.Where(c => !c.Nullable))
                if (columns?.GetFieldIndex(c.Name) is not >= 0 && _input.Schema.GetFieldIndex(c.Name) is var i and >= 0 && _input.Schema.FieldsList[i].IsNullable)
                    throw new SchemaMismatchException(_stage, _artifact, c.Name, $"{TableSchema.TypeName(c.Type)} (not nullable)",
                        "a nullable column of the input", $"passed on unchecked from '{_input.Artifact}'; write it as a new column instead");
        _stored = new HashSet<string>(_inputDerived?.Stored ?? new HashSet<string>(), StringComparer.Ordinal);
        foreach (var f in columns?.FieldsList ?? []) _stored.Add(f.Name);
        _physical = DerivedTable.Physical(_logical, _stored);
        _file.Metadata = DerivedTable.Metadata(_baseHash, _logical);
    }

    void CheckNulls(RecordBatch columns)
    {
        if (_port is null) return;
        foreach (var c in _port.Columns.Where(c => !c.Nullable))
            if (columns.Schema.GetFieldIndex(c.Name) is var k and >= 0 && columns.Column(k).NullCount > 0)
                throw new SchemaMismatchException(_stage, _artifact, c.Name, $"{TableSchema.TypeName(c.Type)} (not nullable)",
                    $"{columns.Column(k).NullCount} null value(s)", "first null at batch row " + Enumerable.Range(0, columns.Length).First(columns.Column(k).IsNull));
    }

    /// <summary>After the stage returned: an output never written still gets its schemas (and no rows).</summary>
    public async Task FinishAsync(CancellationToken ct)
    {
        if (_inputFile != null) { await _inputFile.DisposeAsync(); _inputFile = null; }
        if (_logical is null) await WriteRowsAsync([], null, ct);
    }

    public async ValueTask DisposeAsync()
    {
        // The engine completes the file after the stage returns (FinishAsync); here only the input's file is closed.
        if (_inputFile != null) { await _inputFile.DisposeAsync(); _inputFile = null; }
    }
}
