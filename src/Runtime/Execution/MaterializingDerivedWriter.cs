using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Runtime;

/// <summary>
/// <see cref="IStageContext.DeriveTable"/> outside the engine: reads the input once more, in step with the rows
/// asked for, and writes each derived row in full to an ordinary table output. Holds one input batch at a time; a
/// batch written never spans two input batches and is cut at the batch budget (<see cref="ExecutionOptions.BatchFull"/>).
/// </summary>
internal sealed class MaterializingDerivedWriter(ITableReader input, ITableWriter output, ExecutionOptions execution) : IDerivedTableWriter
{
    readonly DerivedRowCheck _check = new(input.Artifact);
    IAsyncEnumerator<RecordBatch>? _batches;
    RecordBatch? _current;
    long _currentFirst;

    public ITableReader Input => input;
    public long RowCount => _check.Rows;

    public async Task WriteRowsAsync(IReadOnlyList<long> inputRows, RecordBatch? columns = null, CancellationToken cancellationToken = default)
    {
        _check.Check(inputRows, columns);
        if (inputRows.Count == 0)
        {
            var empty = new BatchBuilder(BatchRows.MergedSchema(input.Schema, columns?.Schema)).Build();
            await output.WriteAsync(empty, cancellationToken);
            return;
        }
        // One output batch per input batch the rows fall in, so no batch written is larger than one read.
        var picked = new List<int>();
        int from = 0;
        for (int i = 0; i < inputRows.Count; i++)
        {
            long row = inputRows[i];
            _batches ??= input.ReadBatchesAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);
            while (_current is null || row >= _currentFirst + _current.Length)
            {
                if (picked.Count > 0) await FlushAsync(picked, columns, from, cancellationToken);
                from = i;
                _currentFirst += _current?.Length ?? 0;
                if (!await _batches.MoveNextAsync())
                    throw new ArgumentOutOfRangeException(nameof(inputRows), $"input row {row} is past the end of '{input.Artifact}' ({_currentFirst} rows)");
                _current = _batches.Current;
            }
            picked.Add((int)(row - _currentFirst));
        }
        if (picked.Count > 0) await FlushAsync(picked, columns, from, cancellationToken);
    }

    async Task FlushAsync(List<int> picked, RecordBatch? columns, int from, CancellationToken ct)
    {
        var batch = BatchRows.WithColumns(BatchRows.Take(_current!, picked), columns?.Slice(from, picked.Count));
        picked.Clear();
        var sizes = RowBytes.Of(batch);
        long bytes = 0;
        for (int start = 0, r = 0; r < batch.Length; r++)
        {
            bytes += sizes[r];
            if (!execution.BatchFull(r + 1 - start, bytes) && r + 1 < batch.Length) continue;
            await output.WriteAsync(start == 0 && r + 1 == batch.Length ? batch : batch.Slice(start, r + 1 - start), ct);
            start = r + 1;
            bytes = 0;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_batches != null) await _batches.DisposeAsync();
        await output.DisposeAsync();
    }
}

/// <summary>The contract of <see cref="IDerivedTableWriter.WriteRowsAsync"/>, checked the same way by every writer.</summary>
internal sealed class DerivedRowCheck(string input)
{
    long _next;
    Schema? _columns;

    public long Rows { get; private set; }

    public void Check(IReadOnlyList<long> inputRows, RecordBatch? columns)
    {
        if (columns != null && columns.Length != inputRows.Count)
            throw new ArgumentException($"{columns.Length} rows of new columns for {inputRows.Count} input rows of '{input}'");
        if (columns != null)
        {
            if (_columns is null) _columns = columns.Schema;
            else if (!SameFields(_columns, columns.Schema))
                throw new ArgumentException($"new columns ({Describe(columns.Schema)}) differ from the first call's ({Describe(_columns)})");
        }
        foreach (long row in inputRows)
        {
            if (row < _next)
                throw new ArgumentException($"input rows of '{input}' must be strictly increasing across calls: row {row} after row {_next - 1}");
            _next = row + 1;
        }
        Rows += inputRows.Count;
    }

    static bool SameFields(Schema a, Schema b) =>
        a.FieldsList.Count == b.FieldsList.Count && a.FieldsList.Zip(b.FieldsList).All(p =>
            p.First.Name == p.Second.Name && TableSchema.FromArrowType(p.First.DataType) == TableSchema.FromArrowType(p.Second.DataType)
            && p.First.IsNullable == p.Second.IsNullable);

    static string Describe(Schema s) => string.Join(", ", s.FieldsList.Select(f => $"{f.Name}:{f.DataType.Name}"));
}
