using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using IwSft.Runtime;

namespace IwSft.Stages.Tests.Training;

/// <summary>
/// An in-memory <see cref="IStageContext"/> for the training stages: table inputs are batches, directory
/// inputs are paths, outputs are validated and collected (tables) or created under a temp root (dirs).
/// </summary>
public sealed class TrainingTestContext : IStageContext, IDisposable
{
    readonly Stage _stage;
    readonly Dictionary<string, List<RecordBatch>> _tables = new();
    readonly Dictionary<string, string> _dirs = new();
    readonly Dictionary<string, Writer> _outputs = new();
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-train-ctx-" + Guid.NewGuid().ToString("N")[..8]);

    public TrainingTestContext(Stage stage, IRecordMemo? memo = null, CancellationToken cancellationToken = default)
    {
        _stage = stage;
        Memo = memo ?? new InMemoryMemo();
        CancellationToken = cancellationToken;
        ScratchDirectory = Path.Combine(_root, "scratch");
        Directory.CreateDirectory(ScratchDirectory);
    }

    public TrainingTestContext Table(string name, params RecordBatch[] batches) { _tables[name] = batches.ToList(); return this; }
    public TrainingTestContext Dir(string name, string path) { _dirs[name] = path; return this; }

    public string StageName => _stage.Name;
    public CancellationToken CancellationToken { get; }
    public ExecutionOptions Execution { get; init; } = new() { MaxDegreeOfParallelism = 1, BatchRows = 2 };
    public IDecisionWriter Decisions => throw new NotSupportedException();
    public IRecordMemo Memo { get; }
    public string ScratchDirectory { get; }
    public List<string> Logs { get; } = new();
    public ConcurrentDictionary<string, double> Metrics { get; } = new();
    public List<(long Done, long? Total, string Unit)> Progress { get; } = new();
    public Action<long>? OnProgress { get; set; }

    public ITableReader ReadTable(string input) =>
        _tables.TryGetValue(input, out var b) ? new Reader(input, b) : throw new KeyNotFoundException($"no input '{input}'");
    public bool HasInput(string input) => _tables.ContainsKey(input) || _dirs.ContainsKey(input);
    public string InputDirectory(string input) => _dirs.TryGetValue(input, out var d) ? d : throw new KeyNotFoundException($"no input '{input}'");

    public ITableWriter WriteTable(string output)
    {
        var port = _stage.Outputs.Single(p => p.Name == output);
        return _outputs[output] = new Writer(TableSchema.Get(port.Schema!), _stage.Name, output);
    }

    public string OutputDirectory(string output)
    {
        var dir = Path.Combine(_root, "out", output);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public void Log(string message) { lock (Logs) Logs.Add(message); }
    public void ReportProgress(long done, long? total = null, string unit = "rows") { Progress.Add((done, total, unit)); OnProgress?.Invoke(done); }
    public void SetMetric(string name, double value) => Metrics[name] = value;

    public List<RecordBatch> Output(string name) => _outputs[name].Batches;

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    sealed class Reader(string name, List<RecordBatch> batches) : ITableReader
    {
        public string Artifact => name;
        public Schema Schema => batches[0].Schema;
        public long RowCount => batches.Sum(b => (long)b.Length);
        public string ContentHash => "test";
        public async IAsyncEnumerable<RecordBatch> ReadBatchesAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var b in batches) { await Task.Yield(); yield return b; }
        }
    }

    sealed class Writer(TableSchema schema, string stage, string output) : ITableWriter
    {
        public List<RecordBatch> Batches { get; } = new();
        public Schema Schema => schema.ToArrow();
        public long RowCount => Batches.Sum(b => (long)b.Length);
        public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken = default)
        {
            schema.Validate(batch.Schema, stage, output);
            Batches.Add(batch);
            return Task.CompletedTask;
        }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public sealed class InMemoryMemo : IRecordMemo
{
    readonly ConcurrentDictionary<string, string> _values = new();
    public bool TryGet(string recordKey, out string value) => _values.TryGetValue(recordKey, out value!);
    public Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default) { _values[recordKey] = value; return Task.CompletedTask; }
    public long Count => _values.Count;
}
