using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Tests.Curate;

/// <summary>
/// An in-memory <see cref="IStageContext"/> for running one curate stage directly: inputs are given
/// batches, outputs are validated against the port schema and collected, decisions and metrics are lists.
/// </summary>
public sealed class CurateTestContext : IStageContext
{
    readonly Stage _stage;
    readonly Dictionary<string, List<RecordBatch>> _inputs = new();
    readonly Dictionary<string, TestWriter> _outputs = new();
    readonly TestDecisions _decisions = new();

    public CurateTestContext(Stage stage, IRecordMemo? memo = null, CancellationToken ct = default)
    {
        _stage = stage;
        Memo = memo ?? new TestMemo();
        CancellationToken = ct;
        ScratchDirectory = Path.Combine(Path.GetTempPath(), "iwsft-curate-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(ScratchDirectory);
    }

    public CurateTestContext Input(string name, params RecordBatch[] batches)
    {
        _inputs[name] = batches.ToList();
        return this;
    }

    public string StageName => _stage.Name;
    public CancellationToken CancellationToken { get; }
    public ExecutionOptions Execution { get; init; } = new() { MaxDegreeOfParallelism = 2 };
    public IDecisionWriter Decisions => _decisions;
    public IRecordMemo Memo { get; }
    public string ScratchDirectory { get; }
    public List<string> Logs { get; } = new();
    public ConcurrentDictionary<string, double> Metrics { get; } = new();

    public List<(string Id, bool Kept, string Reason, string? Detail)> DecisionRows => _decisions.Rows.ToList();

    public ITableReader ReadTable(string input) =>
        _inputs.TryGetValue(input, out var b) ? new TestReader(input, b) : throw new KeyNotFoundException($"no input '{input}'");

    readonly Dictionary<string, string> _dirs = new();

    public CurateTestContext InputDir(string name, string path)
    {
        _dirs[name] = path;
        return this;
    }

    public bool HasInput(string input) => _inputs.ContainsKey(input) || _dirs.ContainsKey(input);
    public string InputDirectory(string input) => _dirs.TryGetValue(input, out var d) ? d : throw new KeyNotFoundException($"no directory input '{input}'");

    public ITableWriter WriteTable(string output)
    {
        var port = _stage.Outputs.Single(p => p.Name == output);
        var w = new TestWriter(TableSchema.Get(port.Schema!), _stage.Name, output);
        _outputs[output] = w;
        return w;
    }

    public string OutputDirectory(string output) => throw new NotSupportedException();
    public void Log(string message) { lock (Logs) Logs.Add(message); }
    public void ReportProgress(long done, long? total = null, string unit = "rows") { }
    public void SetMetric(string name, double value) => Metrics[name] = value;

    /// <summary>All rows written to an output, concatenated.</summary>
    public List<RecordBatch> Output(string name) => _outputs[name].Batches;

    public List<string> OutputIds(string name) =>
        Output(name).SelectMany(b => Enumerable.Range(0, b.Length).Select(r => b.GetString("id", r)!)).ToList();

    sealed class TestReader(string name, List<RecordBatch> batches) : ITableReader
    {
        public string Artifact => name;
        public Schema Schema => batches.Count > 0 ? batches[0].Schema : TableSchema.Get("candidates").ToArrow();
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

    sealed class TestWriter(TableSchema schema, string stage, string output) : ITableWriter
    {
        public List<RecordBatch> Batches { get; } = new();
        public Schema Schema => schema.ToArrow();
        public long RowCount => Batches.Sum(b => (long)b.Length);
        public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken = default)
        {
            schema.Validate(batch.Schema, stage, output);
            lock (Batches) Batches.Add(batch);
            return Task.CompletedTask;
        }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    sealed class TestDecisions : IDecisionWriter
    {
        public ConcurrentQueue<(string, bool, string, string?)> Rows { get; } = new();
        public void Record(string recordId, bool kept, string reason, string? detail = null) => Rows.Enqueue((recordId, kept, reason, detail));
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

/// <summary>Builds candidate/feature batches for tests.</summary>
public static class CurateRows
{
    public sealed record Rec(string Id, string Question)
    {
        public string? Solution { get; init; }
        public string? Answer { get; init; }
        public string? Trace { get; init; } = "trace";
        public string? Attempt { get; init; } = "attempt";
        public string? Source { get; init; }
        public string? Domain { get; init; }
        public int? TraceTokens { get; init; }
        public float? Quality { get; init; }
        public float? SamplingWeight { get; init; }
        public Dictionary<string, bool?> Bools { get; init; } = new();
    }

    public static RecordBatch Batch(IEnumerable<Rec> recs, params string[] boolColumns)
    {
        var features = TableSchema.Get("features");
        var sb = new Schema.Builder();
        foreach (var c in features.Columns) sb.Field(new Field(c.Name, TableSchema.ToArrowType(c.Type), c.Nullable));
        foreach (var b in boolColumns) sb.Field(new Field(b, Apache.Arrow.Types.BooleanType.Default, true));
        var bb = new BatchBuilder(sb.Build());
        foreach (var r in recs)
        {
            bb.Set("id", r.Id).Set("question", r.Question).Set("solution", r.Solution).Set("answer", r.Answer)
              .Set("trace", r.Trace).Set("attempt", r.Attempt).Set("source", r.Source).Set("domain", r.Domain)
              .Set("trace_tokens", r.TraceTokens).Set("quality", r.Quality).Set("sampling_weight", r.SamplingWeight);
            foreach (var b in boolColumns) bb.Set(b, r.Bools.GetValueOrDefault(b));
            bb.EndRow();
        }
        return bb.Build();
    }

    /// <summary>A batch with only the candidates columns (what ingest produces).</summary>
    public static RecordBatch Candidates(IEnumerable<Rec> recs)
    {
        var bb = new BatchBuilder(TableSchema.Get("candidates"));
        foreach (var r in recs)
        {
            bb.Set("id", r.Id).Set("question", r.Question).Set("solution", r.Solution).Set("answer", r.Answer)
              .Set("trace", r.Trace).Set("attempt", r.Attempt).Set("source", r.Source).Set("domain", r.Domain);
            bb.EndRow();
        }
        return bb.Build();
    }
}
