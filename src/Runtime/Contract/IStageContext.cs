using Apache.Arrow;

namespace IwSft.Runtime;

/// <summary>Tuning of the Dataflow blocks a stage builds for itself.</summary>
public sealed record ExecutionOptions
{
    /// <summary>Parallel workers for record/batch transforms inside a stage.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;
    /// <summary>Batches buffered between blocks (back-pressure bound).</summary>
    public int BoundedCapacity { get; init; } = 4;
    /// <summary>Rows per Arrow batch / Parquet row group written by the store.</summary>
    public int BatchRows { get; init; } = 8192;
    /// <summary>
    /// Byte budget of one Arrow batch / Parquet row group (<see cref="Arrow.RowBytes"/>): a batch is cut as soon as its
    /// rows reach <see cref="BatchRows"/> rows or this many bytes, whichever comes first, so a batch exceeds the budget
    /// by at most its last row. With 150 KB reasoning traces, 8,192 rows would be 1.2 GB; 16 MiB is ~110 such rows
    /// (a stage holds about a dozen times its budget at once: the batch read, the row group written, each in a few forms).
    /// </summary>
    public long BatchBytes { get; init; } = DefaultBatchBytes;

    public const long DefaultBatchBytes = 16L << 20;

    /// <summary>True when a batch of <paramref name="rows"/> rows and <paramref name="bytes"/> bytes is full.</summary>
    public bool BatchFull(int rows, long bytes) => rows >= Math.Max(1, BatchRows) || bytes >= Math.Max(1, BatchBytes);
}

/// <summary>What the engine hands a running stage.</summary>
public interface IStageContext
{
    string StageName { get; }
    CancellationToken CancellationToken { get; }
    ExecutionOptions Execution { get; }

    /// <summary>A table input, streamed batch by batch from its Parquet artifact.</summary>
    ITableReader ReadTable(string input);

    /// <summary>True when an optional input is bound.</summary>
    bool HasInput(string input);

    /// <summary>A directory input (read-only).</summary>
    string InputDirectory(string input);

    /// <summary>
    /// Content hash of a directory input (<see cref="Store.Hashing.HashDirectory"/>). The engine already knows it
    /// (it is the artifact's address), so stages that key memos on a model's content need not re-read the
    /// weights; the default computes it, for contexts outside the engine.
    /// </summary>
    string InputDirectoryHash(string input) => Store.Hashing.HashDirectory(InputDirectory(input));

    /// <summary>
    /// Content hash of one of the stage's <see cref="Stage.ExternalInputs"/> (a file's sha256 or
    /// <see cref="Store.Hashing.HashDirectory"/>), as the engine computed it for the cache key.
    /// </summary>
    string ExternalInputHash(string path) => Store.Hashing.HashPath(path);

    /// <summary>A table output; batches are checked against the port's schema and streamed to Parquet.</summary>
    ITableWriter WriteTable(string output);

    /// <summary>
    /// A table output made of rows of <paramref name="input"/> (a table this stage read through <see cref="ReadTable"/>)
    /// with columns added or replaced: filters, selections and feature stages. The engine stores only the row numbers
    /// and the new columns and reads the other columns from the input's stored table when the output is read, so the
    /// stage never rewrites long texts it passes on; readers see an ordinary table. Outside the engine (tests, other
    /// hosts) this default writes the rows in full through <see cref="WriteTable"/>; both give the same table.
    /// </summary>
    IDerivedTableWriter DeriveTable(string output, ITableReader input) => new MaterializingDerivedWriter(input, WriteTable(output), Execution);

    /// <summary>An empty directory to fill; committed atomically to the store when the stage succeeds.</summary>
    string OutputDirectory(string output);

    /// <summary>The decisions table (record id, stage, kept, reason, detail); only for stages with WritesDecisions.</summary>
    IDecisionWriter Decisions { get; }

    /// <summary>Per-record memo for record-wise stages; survives crashes and reruns.</summary>
    IRecordMemo Memo { get; }

    /// <summary>
    /// The user forced this stage (<c>--force</c>): recompute from scratch. A stage that resumes interrupted work
    /// (training checkpoints) must not resume; a resume is only for an interrupted run of the same key.
    /// </summary>
    bool Forced => false;

    /// <summary>Scratch space for this run, deleted afterwards.</summary>
    string ScratchDirectory { get; }

    void Log(string message);

    /// <summary>Progress in some unit ("rows", "tokens", "steps"); total may be unknown.</summary>
    void ReportProgress(long done, long? total = null, string unit = "rows");

    /// <summary>A number for the run manifest (decision counts, loss, accuracy...).</summary>
    void SetMetric(string name, double value);
}

public interface ITableReader
{
    string Artifact { get; }
    Schema Schema { get; }
    long RowCount { get; }
    string ContentHash { get; }
    IAsyncEnumerable<RecordBatch> ReadBatchesAsync(CancellationToken cancellationToken = default);
}

/// <summary>A table reader that can read some columns without decoding the others (the engine's readers can).</summary>
public interface IColumnTableReader
{
    IAsyncEnumerable<RecordBatch> ReadColumnsAsync(IReadOnlyList<string> columns, CancellationToken cancellationToken = default);
}

public static class TableReaderExtensions
{
    /// <summary>
    /// Batches holding only <paramref name="columns"/> (in that order), one per stored batch: for a first pass that
    /// needs a few small columns of a table of long texts. Readers that cannot skip columns read whole batches and
    /// drop the others.
    /// </summary>
    public static IAsyncEnumerable<RecordBatch> ReadColumnsAsync(this ITableReader reader, IReadOnlyList<string> columns, CancellationToken cancellationToken = default) =>
        reader is IColumnTableReader r ? r.ReadColumnsAsync(columns, cancellationToken) : Project(reader, columns, cancellationToken);

    static async IAsyncEnumerable<RecordBatch> Project(ITableReader reader, IReadOnlyList<string> columns,
        [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var batch in reader.ReadBatchesAsync(cancellationToken))
        {
            var index = columns.Select(c => batch.Schema.GetFieldIndex(c) is var i and >= 0 ? i
                : throw new ArgumentException($"{reader.Artifact}: no column '{c}'")).ToArray();
            var b = new Schema.Builder();
            foreach (var i in index) b.Field(batch.Schema.FieldsList[i]);
            yield return new RecordBatch(b.Build(), index.Select(batch.Column), batch.Length);
        }
    }
}

public interface ITableWriter : IAsyncDisposable
{
    Schema Schema { get; }
    long RowCount { get; }
    Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken = default);
}

/// <summary>
/// Writes a table derived from one input table (<see cref="IStageContext.DeriveTable"/>): rows of the input, in input
/// order, with the columns of <c>columns</c> replacing same-named input columns (in place) or appended (in order).
/// </summary>
public interface IDerivedTableWriter : IAsyncDisposable
{
    /// <summary>The input the rows come from.</summary>
    ITableReader Input { get; }

    /// <summary>Rows written so far.</summary>
    long RowCount { get; }

    /// <summary>
    /// Appends input rows <paramref name="inputRows"/> (0-based row numbers of the input table, strictly increasing
    /// across all calls) with <paramref name="columns"/> (one row per listed input row; every call the same columns,
    /// or none). A call with no rows and an empty <paramref name="columns"/> batch declares the added columns of an
    /// output that may stay empty.
    /// </summary>
    Task WriteRowsAsync(IReadOnlyList<long> inputRows, RecordBatch? columns = null, CancellationToken cancellationToken = default);
}

/// <summary>Why a record was kept or dropped by a stage. Thread-safe.</summary>
public interface IDecisionWriter
{
    void Record(string recordId, bool kept, string reason, string? detail = null);
}

/// <summary>
/// Durable per-record results of a record-wise stage, in a file namespaced by (stage kind, version,
/// <see cref="Stage.MemoIdentity"/>). Keys are record keys (<see cref="RecordKeys"/>; stages get them from
/// <see cref="RecordMemoLoop{TIn, TOut}"/>); values are opaque strings (usually JSON). Thread-safe.
/// </summary>
public interface IRecordMemo
{
    bool TryGet(string recordKey, out string value);
    /// <summary>Persists one result before returning (a crash loses only records not yet put).</summary>
    Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default);
    /// <summary>Persists several results before returning (the engine's memo with one flush to disk).</summary>
    async Task PutManyAsync(IReadOnlyList<KeyValuePair<string, string>> entries, CancellationToken cancellationToken = default)
    {
        foreach (var (key, value) in entries) await PutAsync(key, value, cancellationToken);
    }
    long Count { get; }
    /// <summary>Where the memo lives, for error messages (the engine's memo: its log file).</summary>
    string Location => "the record memo";
}
