using System.Text.Json;
using Apache.Arrow;
using Parquet;

namespace IwSft.Runtime.Store;

/// <summary>
/// Streams Arrow batches into one Parquet file. Small batches are gathered until <c>rowGroupRows</c> rows or
/// <c>rowGroupBytes</c> bytes (<see cref="Arrow.RowBytes"/>), whichever comes first, so the file has few, reasonably
/// sized row groups; a large batch is cut at the same points. A row group is closed by the row that reaches a bound,
/// so it exceeds the byte budget by at most that row; memory is bounded by one row group, and so is each batch a
/// reader gets back (one row group each).
/// The Arrow schema (types and nullability) is stored in the file's key-value metadata.
/// </summary>
internal sealed class ParquetTableFileWriter : IAsyncDisposable
{
    internal const string SchemaKey = "iwsft.arrow_schema";
    readonly FileStream _stream;
    readonly ParquetWriter _writer;
    ColumnCodec[] _codecs;
    // Double buffering: while one row group is encoded, compressed and written on another thread (_flushing), the
    // next one fills the other set of codecs; at most one row group is in flight, so memory grows by one row group.
    ColumnCodec[] _spare;
    Task _flushing = Task.CompletedTask;
    readonly int _rowGroupRows;
    readonly long _rowGroupBytes;
    int _pendingRows, _strippedGroups;
    long _pendingBytes;
    bool _closed;

    public Schema Schema { get; }
    public long RowCount { get; private set; }

    ParquetTableFileWriter(FileStream stream, ParquetWriter writer, ColumnCodec[] codecs, ColumnCodec[] spare, Schema schema, int rowGroupRows, long rowGroupBytes)
    {
        _stream = stream; _writer = writer; _codecs = codecs; _spare = spare; Schema = schema;
        _rowGroupRows = Math.Max(1, rowGroupRows); _rowGroupBytes = Math.Max(1, rowGroupBytes);
    }

    /// <summary>Row counts of the row groups written so far (in order).</summary>
    public List<int> RowGroupRows { get; } = new();

    // Snappy (fast, the Parquet default). Dictionary encoding is tried on a sample first: a column of unique
    // ids would otherwise be scanned in full for every row group (measured 2x slower writes on string ids).
    static readonly ParquetOptions WriteOptions = new()
    {
        CompressionMethod = CompressionMethod.Snappy,
        CompressionLevel = System.IO.Compression.CompressionLevel.Fastest,
        DictionaryEncodingSampleSize = 1024,
        // Parquet.Net's RecyclableMemoryStream pool keeps every freed buffer unless bounded ("indistinguishable from a
        // memory leak" by its own documentation): keep at most a few row groups' worth for reuse.
        MaximumSmallPoolFreeBytes = 16 << 20,
        MaximumLargePoolFreeBytes = 64 << 20,
    };

    /// <summary>Reader options with the same bound on Parquet.Net's buffer pool.</summary>
    internal static readonly ParquetOptions ReadOptions = new() { MaximumSmallPoolFreeBytes = 16 << 20, MaximumLargePoolFreeBytes = 64 << 20 };

    public static Task<ParquetTableFileWriter> CreateAsync(string path, Schema schema, int rowGroupRows, CancellationToken ct) =>
        CreateAsync(path, schema, rowGroupRows, ExecutionOptions.DefaultBatchBytes, ct);

    /// <param name="metadata">More key-value metadata for the footer (a derived table's base and logical schema).</param>
    public static async Task<ParquetTableFileWriter> CreateAsync(string path, Schema schema, int rowGroupRows, long rowGroupBytes, CancellationToken ct,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var parquetSchema = ColumnCodec.ToParquetSchema(schema);
        var stream = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16);
        try
        {
            var writer = await ParquetWriter.CreateAsync(parquetSchema, stream, WriteOptions, false, ct);
            var custom = new Dictionary<string, string> { [SchemaKey] = ArrowSchemaJson.Write(schema) };
            foreach (var (k, v) in metadata ?? new Dictionary<string, string>()) custom[k] = v;
            writer.CustomMetadata = custom;
            return new ParquetTableFileWriter(stream, writer, ColumnCodec.Create(schema, parquetSchema), ColumnCodec.Create(schema, parquetSchema),
                schema, rowGroupRows, rowGroupBytes);
        }
        catch
        {
            await stream.DisposeAsync();
            throw;
        }
    }

    public async Task WriteAsync(RecordBatch batch, CancellationToken ct)
    {
        if (_closed) throw new InvalidOperationException("writer is closed");
        var sizes = Arrow.RowBytes.Of(batch);
        int start = 0;
        for (int r = 0; r < batch.Length; r++)
        {
            _pendingBytes += sizes[r];
            if (_pendingRows + (r - start + 1) < _rowGroupRows && _pendingBytes < _rowGroupBytes) continue;
            Append(batch, start, r + 1 - start);
            start = r + 1;
            await FlushRowGroupAsync(ct);
        }
        if (start < batch.Length) Append(batch, start, batch.Length - start);
    }

    void Append(RecordBatch batch, int start, int length)
    {
        var part = start == 0 && length == batch.Length ? batch : batch.Slice(start, length);
        for (int i = 0; i < _codecs.Length; i++) _codecs[i].Append(part.Column(i));
        _pendingRows += length;
        RowCount += length;
    }

    /// <summary>
    /// Hands the filled codecs to a background write of one row group (after the previous one finished: row groups
    /// are written in order) and continues with the spare set. A failed background write surfaces here or at close.
    /// </summary>
    async Task FlushRowGroupAsync(CancellationToken ct)
    {
        if (_pendingRows == 0) return;
        await _flushing;
        var full = _codecs;
        int rows = _pendingRows;
        (_codecs, _spare) = (_spare, full);
        _pendingRows = 0;
        _pendingBytes = 0;
        _flushing = Task.Run(() => WriteRowGroupAsync(full, rows, ct), ct);
    }

    async Task WriteRowGroupAsync(ColumnCodec[] codecs, int rows, CancellationToken ct)
    {
        using (var rg = _writer.CreateRowGroup())
        {
            foreach (var c in codecs) await c.FlushAsync(rg, ct);
            rg.CompleteValidate();
        }
        _strippedGroups = ParquetStatistics.DropByteArrayMinMax(_writer, _strippedGroups);
        foreach (var c in codecs) c.Clear();
        RowGroupRows.Add(rows);
    }

    /// <summary>Writes the last row group and the footer, and flushes the file to disk (fsync).</summary>
    public async Task CloseAsync(CancellationToken ct)
    {
        if (_closed) return;
        await FlushRowGroupAsync(ct);
        await _flushing;
        await _writer.DisposeAsync();
        _stream.Flush(flushToDisk: true);
        await _stream.DisposeAsync();
        _closed = true;
    }

    public async ValueTask DisposeAsync()
    {
        if (_closed) return;
        _closed = true;
        try { await _flushing; } catch { /* abandoning: the background write's error does not matter any more */ }
        try { await _writer.DisposeAsync(); } catch { /* abandoning a partial file: it is deleted by the caller */ }
        await _stream.DisposeAsync();
    }
}

/// <summary>Reads a Parquet file written by <see cref="ParquetTableFileWriter"/> one row group (one Arrow batch) at a time.</summary>
internal static class ParquetTableFileReader
{
    /// <summary>
    /// sha256 of a Parquet file's footer and 8-byte trailer (footer length, "PAR1"): the part a reader parses
    /// first. A file too short or without the trailer gets a value no intact file has.
    /// </summary>
    public static string FooterHash(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1);
        long len = f.Length;
        if (len < 12) return "short";
        var trailer = new byte[8];
        f.Seek(len - 8, SeekOrigin.Begin);
        f.ReadExactly(trailer);
        long footer = BitConverter.ToInt32(trailer, 0);
        if (footer < 0 || footer > len - 12 || trailer[4] != 'P' || trailer[5] != 'A' || trailer[6] != 'R' || trailer[7] != '1') return "no-trailer";
        var bytes = new byte[footer + 8];
        f.Seek(len - 8 - footer, SeekOrigin.Begin);
        f.ReadExactly(bytes);
        return Hashing.Sha256Hex(bytes);
    }

    public static async Task<(Schema schema, long rows)> ReadHeaderAsync(string path, CancellationToken ct = default)
    {
        var (schema, rows, _) = await ReadFooterAsync(path, ct);
        return (schema, rows);
    }

    /// <summary>The stored Arrow schema, the row count and the footer's key-value metadata.</summary>
    public static async Task<(Schema schema, long rows, IReadOnlyDictionary<string, string> metadata)> ReadFooterAsync(string path, CancellationToken ct = default)
    {
        await using var reader = await ParquetReader.CreateAsync(path, null, ct);
        return (SchemaOf(reader, path), reader.RowGroups.Sum(g => g.RowCount), new Dictionary<string, string>(reader.CustomMetadata));
    }

    static Schema SchemaOf(ParquetReader reader, string path) =>
        reader.CustomMetadata.TryGetValue(ParquetTableFileWriter.SchemaKey, out var json)
            ? ArrowSchemaJson.Read(json)
            : throw new InvalidDataException($"{path}: not an IwSft table (no '{ParquetTableFileWriter.SchemaKey}' metadata)");

    public static async IAsyncEnumerable<RecordBatch> ReadBatchesAsync(string path,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);
        await foreach (var b in ReadBatchesAsync(stream, path, ct)) yield return b;
    }

    /// <summary>Reads the file through <paramref name="stream"/> (left open), row group by row group, columns in file order.</summary>
    public static async IAsyncEnumerable<RecordBatch> ReadBatchesAsync(Stream stream, string path,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default, IReadOnlyList<string>? columns = null)
    {
        await foreach (var (_, batch) in ReadRowGroupsAsync(stream, path, ct, columns)) yield return batch;
    }

    /// <summary>
    /// <see cref="ReadBatchesAsync(Stream, string, CancellationToken, IReadOnlyList{string}?)"/> with each batch's first
    /// row number; a row group for which <paramref name="skip"/>(first row, rows) is true is not read at all.
    /// </summary>
    public static async IAsyncEnumerable<(long FirstRow, RecordBatch Batch)> ReadRowGroupsAsync(Stream stream, string path,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct = default, IReadOnlyList<string>? columns = null,
        Func<long, long, bool>? skip = null)
    {
        await using var reader = await ParquetReader.CreateAsync(stream, ParquetTableFileWriter.ReadOptions, leaveStreamOpen: true, ct);
        var schema = SchemaOf(reader, path);
        var codecs = ColumnCodec.Create(schema, reader.Schema);
        if (columns != null)
        {
            // Only these columns, in the order given: the other column chunks are never read.
            var index = columns.Select(c => schema.GetFieldIndex(c) is var i and >= 0 ? i
                : throw new ArgumentException($"{path}: no column '{c}' (columns: {string.Join(", ", schema.FieldsList.Select(f => f.Name))})")).ToArray();
            codecs = index.Select(i => codecs[i]).ToArray();
            var b = new Schema.Builder();
            foreach (var i in index) b.Field(schema.FieldsList[i]);
            schema = b.Build();
        }
        long first = 0;
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            ct.ThrowIfCancellationRequested();
            long groupRows = reader.RowGroups[g].RowCount;
            if (skip?.Invoke(first, groupRows) == true) { first += groupRows; continue; }
            var rg = reader.OpenRowGroupReader(g);
            int rows = checked((int)rg.RowCount);
            var arrays = new IArrowArray[codecs.Length];
            for (int i = 0; i < codecs.Length; i++) arrays[i] = await codecs[i].ReadAsync(rg, rows, ct);
            yield return (first, new RecordBatch(schema, arrays, rows));
            first += rows;
        }
    }
}

/// <summary>The Arrow schema as a small JSON list of (name, type, nullable) using <see cref="TableSchema"/> type names.</summary>
internal static class ArrowSchemaJson
{
    sealed record Col(string Name, string Type, bool Nullable);

    public static string Write(Schema schema) => JsonSerializer.Serialize(schema.FieldsList.Select(f =>
        new Col(f.Name, TableSchema.TypeName(TableSchema.FromArrowType(f.DataType)
            ?? throw new NotSupportedException($"column '{f.Name}': unsupported Arrow type {f.DataType.Name}")), f.IsNullable)));

    public static Schema Read(string json)
    {
        var cols = JsonSerializer.Deserialize<List<Col>>(json) ?? throw new InvalidDataException("empty schema metadata");
        var b = new Schema.Builder();
        foreach (var c in cols) b.Field(new Field(c.Name, TableSchema.ToArrowType(TableSchema.ParseType(c.Type)), c.Nullable));
        return b.Build();
    }
}
