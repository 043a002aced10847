using System.Collections.Concurrent;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

/// <summary>An in-memory stage context: tables as lists of batches, a dictionary memo that outlives runs.</summary>
public sealed class EvalFakeContext(string stageName) : IStageContext
{
    public Dictionary<string, List<RecordBatch>> Tables { get; } = new();
    public Dictionary<string, string> Directories { get; } = new();
    public Dictionary<string, List<RecordBatch>> Written { get; } = new();
    public Dictionary<string, string> OutputDirs { get; } = new();
    public EvalFakeMemo MemoStore { get; set; } = new();
    public Dictionary<string, double> Metrics { get; } = new();
    public List<string> Logs { get; } = new();
    public string Root { get; set; } = Path.Combine(Path.GetTempPath(), "iwsft-eval-tests", Guid.NewGuid().ToString("N"));

    public string StageName => stageName;
    public CancellationToken CancellationToken => default;
    public ExecutionOptions Execution { get; set; } = new() { BatchRows = 7 };
    public ITableReader ReadTable(string input) => new Reader(input, Tables[input]);
    public bool HasInput(string input) => Tables.ContainsKey(input) || Directories.ContainsKey(input);
    public string InputDirectory(string input) => Directories[input];
    public ITableWriter WriteTable(string output)
    {
        var list = new List<RecordBatch>();
        Written[output] = list;
        return new Writer(list);
    }
    public string OutputDirectory(string output)
    {
        var d = Path.Combine(Root, "out", output);
        Directory.CreateDirectory(d);
        OutputDirs[output] = d;
        return d;
    }
    public IDecisionWriter Decisions => throw new NotSupportedException();
    public IRecordMemo Memo => MemoStore;
    public string ScratchDirectory => Path.Combine(Root, "scratch");
    public void Log(string message) => Logs.Add(message);
    public (long Done, long? Total) LastProgress { get; private set; }
    public void ReportProgress(long done, long? total = null, string unit = "rows") => LastProgress = (done, total);
    public void SetMetric(string name, double value) => Metrics[name] = value;

    sealed class Reader(string name, List<RecordBatch> batches) : ITableReader
    {
        public string Artifact => name;
        public Schema Schema => batches[0].Schema;
        public long RowCount => batches.Sum(b => (long)b.Length);
        public string ContentHash => "fake-" + name;
        public async IAsyncEnumerable<RecordBatch> ReadBatchesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken = default)
        {
            foreach (var b in batches) { await Task.Yield(); yield return b; }
        }
    }

    sealed class Writer(List<RecordBatch> sink) : ITableWriter
    {
        public Schema Schema => sink.FirstOrDefault()?.Schema ?? new Schema.Builder().Build();
        public long RowCount => sink.Sum(b => (long)b.Length);
        public Task WriteAsync(RecordBatch batch, CancellationToken cancellationToken = default) { sink.Add(batch); return Task.CompletedTask; }
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public sealed class EvalFakeMemo : IRecordMemo
{
    readonly ConcurrentDictionary<string, string> _values = new();
    public bool TryGet(string recordKey, out string value) => _values.TryGetValue(recordKey, out value!);
    public Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default) { _values[recordKey] = value; return Task.CompletedTask; }
    public long Count => _values.Count;
}

/// <summary>
/// A deterministic generator: the checkpoint directory's "skill.txt" says which items it solves.
/// A skilled checkpoint answers "\boxed{gold}" (gold read from the prompt's "[gold=...=gold]" marker), an
/// unskilled one a wrong number derived from the seed. Counts every open and request.
/// </summary>
public sealed class EvalFakeGeneratorFactory : ICompletionGeneratorFactory
{
    public ConcurrentDictionary<string, int> Opens { get; } = new();
    public ConcurrentDictionary<string, int> Requests { get; } = new();
    /// <summary>Every request, with the checkpoint directory it went to.</summary>
    public ConcurrentQueue<(string Dir, GenerationRequest Request)> Log { get; } = new();
    public int TotalRequests => Requests.Values.Sum();
    /// <summary>What the fake's answers depend on besides the checkpoint and prompt; tests change it to prove it reaches the key.</summary>
    public string Flavour { get; set; } = "default";
    public System.Text.Json.Nodes.JsonNode KeyIdentity() => new System.Text.Json.Nodes.JsonObject { ["flavour"] = Flavour };

    public ICompletionGenerator Open(string checkpointDirectory, string? tokenizerDirectory, CancellationToken cancellationToken)
    {
        Opens.AddOrUpdate(checkpointDirectory, 1, (_, n) => n + 1);
        var skill = File.ReadAllText(Path.Combine(checkpointDirectory, "skill.txt")).Trim();
        return new Generator(this, checkpointDirectory, skill);
    }

    sealed class Generator(EvalFakeGeneratorFactory owner, string dir, string skill) : ICompletionGenerator
    {
        public IReadOnlyList<GeneratedSample> Generate(IReadOnlyList<GenerationRequest> requests, GenerationSettings settings, CancellationToken ct)
        {
            owner.Requests.AddOrUpdate(dir, requests.Count, (_, n) => n + requests.Count);
            foreach (var r in requests) owner.Log.Enqueue((dir, r));
            return requests.Select(r =>
            {
                var m = System.Text.RegularExpressions.Regex.Match(r.Prompt, @"\[gold=(?<g>.*?)=gold\]", System.Text.RegularExpressions.RegexOptions.Singleline);
                bool solves = skill == "all" || (skill == "even-seeds" && r.Seed % 2 == 0);
                string text = solves ? $"Reasoning... so \\boxed{{{m.Groups["g"].Value}}}" : $"I think it is \\boxed{{{100000 + r.Seed % 1000}}}";
                return new GeneratedSample(text + $" (T={settings.Temperature})", 10 + (int)(r.Seed % 7));
            }).ToList();
        }
        public void Dispose() { }
    }
}

/// <summary>The prompt with the gold answer embedded, so the fake generator can be right on purpose.</summary>
public sealed class EvalGoldLeakingFormatter : IPromptFormatter
{
    public System.Text.Json.Nodes.JsonNode KeyIdentity() => new System.Text.Json.Nodes.JsonObject();

    public string Format(EvalItem item) =>
        $"{item.Question} [gold={(item.IsMultipleChoice ? item.Answer : Grader.GoldMathAnswer(item.Answer))}=gold]";
}
