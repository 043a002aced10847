using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using IwSft.Runtime;

namespace IwSft.Stages.Tests;

/// <summary>
/// An in-memory <see cref="IStageContext"/> for running one stage directly, outside the engine: table inputs
/// are given batches, directory inputs are paths; table outputs are validated against the port's schema and
/// collected, directory outputs are created under a temp root (deleted on dispose); decisions, metrics,
/// logs and progress are captured.
/// </summary>
public sealed class StageTestContext : IStageContext, IDisposable
{
    readonly Stage _stage;
    readonly Dictionary<string, List<RecordBatch>> _tables = new();
    readonly Dictionary<string, string> _dirs = new();
    readonly Dictionary<string, List<RecordBatch>> _outputs = new();
    readonly ConcurrentQueue<(string Id, bool Kept, string Reason, string? Detail)> _decisions = new();
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-stage-ctx-" + Guid.NewGuid().ToString("N")[..12]);

    public StageTestContext(Stage stage, IRecordMemo? memo = null, CancellationToken cancellationToken = default)
    {
        _stage = stage;
        Memo = memo ?? new TestMemo();
        CancellationToken = cancellationToken;
    }

    public StageTestContext Table(string name, params IEnumerable<RecordBatch> batches) { _tables[name] = batches.ToList(); return this; }
    public StageTestContext Dir(string name, string path) { _dirs[name] = path; return this; }

    public string StageName => _stage.Name;
    public CancellationToken CancellationToken { get; }
    public ExecutionOptions Execution { get; init; } = new() { MaxDegreeOfParallelism = 2 };
    public IDecisionWriter Decisions => new DecisionSink(_decisions);
    public IRecordMemo Memo { get; }
    public string ScratchDirectory => Created(Path.Combine(_root, "scratch"));
    public List<string> Logs { get; } = new();
    public ConcurrentDictionary<string, double> Metrics { get; } = new();
    public List<(long Done, long? Total, string Unit)> Progress { get; } = new();
    public Action<long>? OnProgress { get; set; }

    public IReadOnlyList<(string Id, bool Kept, string Reason, string? Detail)> DecisionRows => _decisions.ToList();

    public ITableReader ReadTable(string input) =>
        _tables.TryGetValue(input, out var b) ? new Reader(input, b, InputSchema(input)) : throw new KeyNotFoundException($"no table input '{input}'");
    public bool HasInput(string input) => _tables.ContainsKey(input) || _dirs.ContainsKey(input);
    public string InputDirectory(string input) => _dirs.TryGetValue(input, out var d) ? d : throw new KeyNotFoundException($"no directory input '{input}'");

    public ITableWriter WriteTable(string output)
    {
        var port = _stage.Outputs.Single(p => p.Name == output);
        return new Writer(TableSchema.Get(port.Schema!), _stage.Name, output, _outputs[output] = new List<RecordBatch>());
    }

    public string OutputDirectory(string output) => Created(Path.Combine(_root, "out", output));
    public void Log(string message) { lock (Logs) Logs.Add(message); }
    public void ReportProgress(long done, long? total = null, string unit = "rows")
    {
        lock (Progress) Progress.Add((done, total, unit));
        OnProgress?.Invoke(done);
    }
    public void SetMetric(string name, double value) => Metrics[name] = value;

    /// <summary>Every table output written, by name.</summary>
    public IReadOnlyDictionary<string, List<RecordBatch>> Outputs => _outputs;

    /// <summary>All batches written to an output.</summary>
    public List<RecordBatch> Output(string name) => _outputs[name];

    public List<string> OutputIds(string name) => Column(name, "id").Select(id => id!).ToList();

    /// <summary>All rows of one string column of an output.</summary>
    public List<string?> Column(string output, string column) =>
        _outputs[output].SelectMany(b => Enumerable.Range(0, b.Length).Select(r => (string?)((StringArray)b.Column(b.Schema.GetFieldIndex(column))).GetString(r))).ToList();

    public long RowCount(string output) => _outputs[output].Sum(b => (long)b.Length);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    static string Created(string dir)
    {
        Directory.CreateDirectory(dir);
        return dir;
    }

    Schema InputSchema(string input) =>
        _stage.Inputs.FirstOrDefault(p => p.Name == input)?.Schema is { } schema ? TableSchema.Get(schema).ToArrow()
        : throw new KeyNotFoundException($"stage '{_stage.Name}' has no table input '{input}'");

    sealed class Reader(string name, List<RecordBatch> batches, Schema portSchema) : ITableReader
    {
        public string Artifact => name;
        public Schema Schema => batches.Count > 0 ? batches[0].Schema : portSchema;
        public long RowCount => batches.Sum(b => (long)b.Length);
        public string ContentHash => "test";
        public async IAsyncEnumerable<RecordBatch> ReadBatchesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var b in batches)
            {
                cancellationToken.ThrowIfCancellationRequested();
                await Task.Yield();
                yield return b;
            }
        }
    }

    sealed class Writer(TableSchema schema, string stage, string output, List<RecordBatch> sink) : ITableWriter
    {
        public Schema Schema => schema.ToArrow();
        public long RowCount { get { lock (sink) return sink.Sum(b => (long)b.Length); } }
        public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken = default)
        {
            schema.Validate(batch.Schema, stage, output);
            lock (sink) sink.Add(batch);
            return Task.CompletedTask;
        }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    sealed class DecisionSink(ConcurrentQueue<(string, bool, string, string?)> rows) : IDecisionWriter
    {
        public void Record(string recordId, bool kept, string reason, string? detail = null) => rows.Enqueue((recordId, kept, reason, detail));
    }
}

/// <summary>A thread-safe in-memory memo; share one instance between runs to model a rerun.</summary>
public sealed class TestMemo : IRecordMemo
{
    readonly ConcurrentDictionary<string, string> _values = new();
    public bool TryGet(string recordKey, out string value) => _values.TryGetValue(recordKey, out value!);
    public Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default)
    {
        _values[recordKey] = value;
        return Task.CompletedTask;
    }
    public long Count => _values.Count;
}
