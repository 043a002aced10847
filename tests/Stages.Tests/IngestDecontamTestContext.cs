using System.Collections.Concurrent;
using Apache.Arrow;
using IwSft.Runtime;

namespace IwSft.Stages.Tests.IngestDecontam;

/// <summary>
/// An in-memory <see cref="IStageContext"/> for running one stage directly: inputs are given as batches,
/// outputs, decisions and metrics are captured. Output batches are validated against the port schema.
/// </summary>
public sealed class TestStageContext(Stage stage, ExecutionOptions? execution = null) : IStageContext
{
    public Dictionary<string, List<RecordBatch>> Inputs { get; } = new();
    public Dictionary<string, List<RecordBatch>> Outputs { get; } = new();
    public ConcurrentQueue<(string Id, bool Kept, string Reason, string? Detail)> DecisionRows { get; } = new();
    public ConcurrentDictionary<string, double> Metrics { get; } = new();
    public List<string> Logs { get; } = new();

    public string StageName => stage.Name;
    public CancellationToken CancellationToken => CancellationToken.None;
    public ExecutionOptions Execution { get; } = execution ?? new ExecutionOptions();

    public ITableReader ReadTable(string input) =>
        Inputs.TryGetValue(input, out var batches) ? new Reader(input, batches) : throw new KeyNotFoundException($"no input '{input}'");

    public bool HasInput(string input) => Inputs.ContainsKey(input);
    public string InputDirectory(string input) => throw new NotSupportedException();

    public ITableWriter WriteTable(string output)
    {
        var port = stage.Outputs.Single(p => p.Name == output);
        var list = Outputs[output] = new List<RecordBatch>();
        return new Writer(TableSchema.Get(port.Schema!), stage.Name, output, list);
    }

    public string OutputDirectory(string output) => throw new NotSupportedException();
    public IDecisionWriter Decisions => new DecisionSink(DecisionRows);
    public IRecordMemo Memo => throw new NotSupportedException();
    public string ScratchDirectory => Path.GetTempPath();
    public void Log(string message) { lock (Logs) Logs.Add(message); }
    public void ReportProgress(long done, long? total = null, string unit = "rows") { }
    public void SetMetric(string name, double value) => Metrics[name] = value;

    /// <summary>All rows of an output, one string column.</summary>
    public List<string?> Column(string output, string column) =>
        Outputs[output].SelectMany(b => Enumerable.Range(0, b.Length).Select(r => ((StringArray)b.Column(b.Schema.GetFieldIndex(column))).GetString(r))).ToList();

    public long RowCount(string output) => Outputs[output].Sum(b => (long)b.Length);

    sealed class Reader(string name, List<RecordBatch> batches) : ITableReader
    {
        public string Artifact => name;
        public Schema Schema => batches[0].Schema;
        public long RowCount => batches.Sum(b => (long)b.Length);
        public string ContentHash => "test";
#pragma warning disable CS1998
        public async IAsyncEnumerable<RecordBatch> ReadBatchesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var b in batches) yield return b;
        }
#pragma warning restore CS1998
    }

    sealed class Writer(TableSchema schema, string stage, string output, List<RecordBatch> sink) : ITableWriter
    {
        public Schema Schema { get; } = schema.ToArrow();
        public long RowCount => sink.Sum(b => (long)b.Length);
        public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken = default)
        {
            schema.Validate(batch.Schema, stage, output);
            sink.Add(batch);
            return Task.CompletedTask;
        }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    sealed class DecisionSink(ConcurrentQueue<(string, bool, string, string?)> rows) : IDecisionWriter
    {
        public void Record(string recordId, bool kept, string reason, string? detail = null) => rows.Enqueue((recordId, kept, reason, detail));
    }
}
