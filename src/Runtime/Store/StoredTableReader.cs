using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Runtime.Store;

/// <summary>
/// Streams a stored Parquet table as Arrow batches, one row group at a time, hashing the file's bytes as they are
/// read (<see cref="VerifyingReadStream"/>): an enumeration that reaches the end compares the hash with the
/// artifact's address and fails (quarantining the object) on a mismatch, so corrupt bytes never flow on unnoticed.
/// A derived table (<see cref="DerivedTable"/>) is read as the table it stands for: its rows of the base table, the
/// base's columns joined with its own; the base is verified like any input (<see cref="EnsureVerified"/>).
/// </summary>
internal sealed class StoredTableReader(ArtifactStore store, ArtifactRef artifact, string name) : ITableReader, IColumnTableReader
{
    Schema? _schema, _physical;
    DerivedTable? _derived;
    bool _footerRead;
    StoredTableReader? _base;
    int _requested, _verified;
    public string Artifact { get; } = name;
    public ArtifactRef Ref { get; } = artifact;
    public string Path { get; } = store.ObjectPath(artifact);
    public long RowCount => Ref.Rows;
    public string ContentHash => Ref.Hash;
    /// <summary>Bytes the last verified enumeration had to read beyond what the Parquet reader read.</summary>
    public long LastCatchUpBytes { get; private set; }
    /// <summary>Some enumeration started reading batches.</summary>
    public bool BatchesRequested => Volatile.Read(ref _requested) != 0;
    /// <summary>Some enumeration read the whole file and its hash matched.</summary>
    public bool Verified => Volatile.Read(ref _verified) != 0;

    /// <summary>The table's schema (a derived table's logical schema, not its stored columns).</summary>
    public Schema Schema
    {
        get
        {
            ReadFooter();
            return _schema!;
        }
    }

    /// <summary>The derived-table description, or null for a plain table.</summary>
    public DerivedTable? Derived
    {
        get
        {
            ReadFooter();
            return _derived;
        }
    }

    /// <summary>The columns stored in the file (for a derived table: its row column and stored columns).</summary>
    public Schema PhysicalSchema
    {
        get
        {
            ReadFooter();
            return _physical!;
        }
    }

    readonly object _footerLock = new();
    void ReadFooter()
    {
        lock (_footerLock)
        {
            if (_footerRead) return;
            CheckFooterOnce();
            var (physical, _, metadata) = ParquetTableFileReader.ReadFooterAsync(Path).GetAwaiter().GetResult();
            _physical = physical;
            _derived = DerivedTable.FromFooter(physical, metadata, Path);
            _schema = _derived?.Logical ?? physical;
            _footerRead = true;
        }
    }

    int _footerChecked;
    void CheckFooterOnce()
    {
        if (Volatile.Read(ref _footerChecked) != 0) return;
        store.CheckFooter(Ref, Artifact);
        Volatile.Write(ref _footerChecked, 1);
    }

    /// <summary>The base table of a derived table (opened once; missing: a clear error naming both).</summary>
    internal StoredTableReader Base()
    {
        var d = Derived ?? throw new InvalidOperationException($"{Artifact} is not a derived table");
        lock (_footerLock)
        {
            if (_base != null) return _base;
            var a = store.FindArtifact(d.BaseHash) is { Kind: ArtifactKind.Table } found ? found
                : throw new FileNotFoundException($"artifact {Artifact} ({Ref.Hash[..12]}) is derived from table {d.BaseHash[..12]}, which is missing from store {store.Root}; rerun the pipeline to recompute it");
            return _base = new StoredTableReader(store, a, $"{Artifact} → base table");
        }
    }

    /// <summary>
    /// Row groups are decoded one ahead of the consumer on another thread (<see cref="ReadAhead"/>), so a stage's own
    /// work on a batch overlaps with decoding the next; the hash check still comes after the last batch.
    /// </summary>
    public IAsyncEnumerable<RecordBatch> ReadBatchesAsync(CancellationToken cancellationToken = default) =>
        ReadAhead.Of(Derived is null ? ReadFileVerifiedAsync(cancellationToken) : ReadDerivedAsync(null, cancellationToken), depth: 1, cancellationToken);

    /// <summary>
    /// Only the named columns' chunks are read and decoded. The file is not hashed on the way (a partial read cannot
    /// be); it counts as a request, so the engine verifies the whole file after the stage unless a full read did.
    /// </summary>
    public IAsyncEnumerable<RecordBatch> ReadColumnsAsync(IReadOnlyList<string> columns, CancellationToken cancellationToken = default) =>
        ReadAhead.Of(Derived is null ? ReadFileColumnsAsync(columns, null, cancellationToken).Select(x => x.Batch) : ReadDerivedAsync(columns, cancellationToken),
            depth: 1, cancellationToken);

    /// <summary>The stored file as it is (a derived table: its row column and stored columns), hashed on the way.</summary>
    internal async IAsyncEnumerable<RecordBatch> ReadFileVerifiedAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var (_, b) in ReadFileRowGroupsVerifiedAsync(null, cancellationToken)) yield return b;
    }

    async IAsyncEnumerable<(long First, RecordBatch Batch)> ReadFileRowGroupsVerifiedAsync(Func<long, long, bool>? skip,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Volatile.Write(ref _requested, 1);
        CheckFooterOnce();
        await using var stream = new VerifyingReadStream(Path);
        await foreach (var g in ParquetTableFileReader.ReadRowGroupsAsync(stream, Path, cancellationToken, skip: skip)) yield return g;
        // Row groups skipped are hashed here (the stream catches up on what the reader did not read).
        var actual = await stream.FinishAsync(cancellationToken);
        LastCatchUpBytes = stream.CatchUpBytes;
        if (actual != Ref.Hash) throw store.CorruptWhileReading(Ref, Artifact, actual);
        Volatile.Write(ref _verified, 1);
    }

    async IAsyncEnumerable<(long First, RecordBatch Batch)> ReadFileColumnsAsync(IReadOnlyList<string> columns, Func<long, long, bool>? skip,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        Volatile.Write(ref _requested, 1);
        CheckFooterOnce();
        await using var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        await foreach (var g in ParquetTableFileReader.ReadRowGroupsAsync(stream, Path, cancellationToken, columns, skip)) yield return g;
    }

    /// <summary>
    /// A derived table's rows: its own file row group by row group (all of it, hashed, when every column is read),
    /// joined with the base's rows of the columns it does not store. The base is read in order, skipping row groups
    /// that hold none of the rows; every batch handed out comes from one row group of each, so it is bounded like them.
    /// </summary>
    async IAsyncEnumerable<RecordBatch> ReadDerivedAsync(IReadOnlyList<string>? columns,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var d = Derived!;
        var want = columns ?? d.Logical.FieldsList.Select(f => f.Name).ToList();
        var fields = want.Select(c => d.Logical.GetFieldIndex(c) is var i and >= 0 ? d.Logical.FieldsList[i]
            : throw new ArgumentException($"{Artifact}: no column '{c}' (columns: {string.Join(", ", d.Logical.FieldsList.Select(f => f.Name))})")).ToList();
        var schemaBuilder = new Schema.Builder();
        foreach (var f in fields) schemaBuilder.Field(f);
        var schema = schemaBuilder.Build();
        var fromBase = want.Where(c => !d.Stored.Contains(c)).ToList();

        var own = columns is null ? ReadFileVerifiedAsync(ct)
            : ReadFileColumnsAsync([DerivedTable.RowColumn, .. want.Where(d.Stored.Contains)], null, ct).Select(x => x.Batch);
        if (fromBase.Count == 0)
        {
            await foreach (var b in own) yield return Assemble(schema, b, null);
            yield break;
        }

        var baseReader = Base();
        bool wholeBase = fromBase.Count == baseReader.Schema.FieldsList.Count;
        long needed = 0; // the next base row wanted; a row group ending before it is not read (read ahead sees an older value: it reads more, never less)
        Func<long, long, bool> skip = (first, rows) => first + rows <= Volatile.Read(ref needed);
        var groups = wholeBase ? baseReader.ReadFileRowGroupsVerifiedAsync(skip, ct) : baseReader.ReadFileColumnsAsync(fromBase, skip, ct);
        await using var baseGroups = ReadAhead.Of(groups, depth: 1, ct).GetAsyncEnumerator(ct);
        long first = 0;
        RecordBatch? current = null;
        long previous = -1;
        await foreach (var b in own)
        {
            var rows = (Int64Array)b.Column(0);
            for (int start = 0; start < b.Length;)
            {
                long row = rows.GetValue(start)!.Value;
                if (row <= previous) throw new InvalidDataException($"{Artifact}: base rows are not increasing ({row} after {previous})");
                Volatile.Write(ref needed, row);
                while (current is null || row >= first + current.Length)
                {
                    if (!await baseGroups.MoveNextAsync())
                        throw new InvalidDataException($"{Artifact}: base row {row} is past the end of its base table {d.BaseHash[..12]}");
                    (first, current) = baseGroups.Current;
                }
                if (row < first) throw new InvalidDataException($"{Artifact}: base row {row} was skipped");
                var take = new List<int>();
                int end = start;
                for (; end < b.Length; end++)
                {
                    long r = rows.GetValue(end)!.Value;
                    if (r >= first + current.Length) break;
                    if (end > start && r <= rows.GetValue(end - 1)!.Value) throw new InvalidDataException($"{Artifact}: base rows are not increasing ({r})");
                    take.Add((int)(r - first));
                }
                previous = rows.GetValue(end - 1)!.Value;
                yield return Assemble(schema, b.Slice(start, end - start), BatchRows.Take(current, take));
                start = end;
            }
        }
        // A full read of the base also verifies its skipped row groups: run its enumeration to the end.
        if (wholeBase) while (await baseGroups.MoveNextAsync()) { }
    }

    static RecordBatch Assemble(Schema schema, RecordBatch own, RecordBatch? baseRows)
    {
        var arrays = new IArrowArray[schema.FieldsList.Count];
        for (int i = 0; i < arrays.Length; i++)
        {
            var name = schema.FieldsList[i].Name;
            int k = own.Schema.GetFieldIndex(name);
            arrays[i] = k >= 0 && name != DerivedTable.RowColumn ? own.Column(k) : baseRows!.Column(baseRows.Schema.GetFieldIndex(name));
        }
        return new RecordBatch(schema, arrays, own.Length);
    }

    /// <summary>
    /// Verifies the whole file unless an enumeration already did (for a stage that stopped reading early), and the
    /// base of a derived table when it was read.
    /// </summary>
    public void EnsureVerified()
    {
        if (BatchesRequested && !Verified)
        {
            store.VerifyContent(Ref, Artifact);
            Volatile.Write(ref _verified, 1);
        }
        _base?.EnsureVerified();
    }
}
