using System.Text;
using System.Text.Json.Nodes;
using IwSft.Runtime.Store;

namespace IwSft.Runtime;

/// <summary>The one record-key format of every record-wise stage.</summary>
public static class RecordKeys
{
    /// <summary>
    /// A record's key: sha256 over <c>"record\n" + kind + "\n"</c> and the canonical JSON (<see cref="Hashing.Canonical"/>)
    /// of <c>{"record": record, "settings": settings}</c>, where settings is the stage's <see cref="Stage.MemoIdentity"/>
    /// (what decides every record) and record is what the stage supplies for this record (content hashes, prompt,
    /// sample index...).
    /// </summary>
    public static string Of(string kind, JsonNode settings, JsonNode record) => Of(kind, Hashing.Canonical(settings), record);

    /// <summary><see cref="Of(string, JsonNode, JsonNode)"/> with the settings already canonical (the loop computes them once).</summary>
    public static string Of(string kind, string canonicalSettings, JsonNode record) =>
        // Keys sort "record" < "settings", so this concatenation is the canonical JSON of the pair.
        Hashing.Sha256Hex(new StringBuilder("record\n").Append(kind).Append('\n')
            .Append("{\"record\":").Append(Hashing.Canonical(record)).Append(",\"settings\":").Append(canonicalSettings).Append('}').ToString());

    /// <summary>
    /// A copy of <paramref name="config"/> without <paramref name="keys"/> (snake_case, '.' between nested keys);
    /// a key the configuration lacks is an error naming the stage, so a renamed setting cannot silently stay in keys.
    /// </summary>
    public static JsonNode SettingsWithout(Stage stage, JsonNode config, IEnumerable<string> keys)
    {
        var copy = config.DeepClone();
        foreach (var key in keys)
        {
            var path = key.Split('.');
            JsonNode? node = copy;
            for (int i = 0; i < path.Length - 1; i++) node = (node as JsonObject)?[path[i]];
            if (node is not JsonObject obj || !obj.Remove(path[^1]))
                throw new InvalidOperationException($"stage '{stage.Name}' ({stage.Kind}) lists '{key}' in NotInRecordKey, but its configuration has no key '{key}'");
        }
        return copy;
    }
}

/// <summary>The metrics every <see cref="RecordMemoLoop{TIn, TOut}"/> reports.</summary>
public static class RecordMemoLoop
{
    /// <summary>Records served without computing them (from the memo, or sharing a key computed in the same run).</summary>
    public const string ReusedMetric = "memo.reused";
    /// <summary>Records computed (each distinct missing key once).</summary>
    public const string ComputedMetric = "memo.computed";
}

/// <summary>
/// Computes one chunk of records and hands each result to <c>store(index in the chunk, value)</c> as soon as it
/// is known (so a record that finished is kept even if another record of the chunk then fails). Every record of
/// the chunk must be stored exactly once before the task completes.
/// </summary>
public delegate Task RecordChunkCompute<TIn, TOut>(IReadOnlyList<TIn> chunk, Func<int, TOut, Task> store, CancellationToken cancellationToken);

/// <summary>
/// The record-memo loop of record-wise stages: looks up each record's key (<see cref="RecordKeys"/>) in the
/// stage's memo, computes the missing ones in chunks of <see cref="ChunkSize"/> with the stage's function, stores
/// each computed result durably (a killed run loses only the records in flight) and returns every result in input
/// order. Records with the same key within one call are computed once. Counts go to the metrics
/// <c>memo.reused</c> and <c>memo.computed</c> (cumulative over calls) and, for a call with a label, to one log
/// line. Call <see cref="RunAsync(IReadOnlyList{TIn}, Func{IReadOnlyList{TIn}, CancellationToken, Task{IReadOnlyList{TOut}}}, string?)"/>
/// once per group of records (per input batch, per checkpoint).
/// </summary>
public sealed class RecordMemoLoop<TIn, TOut>
{
    readonly Stage _stage;
    readonly IStageContext _context;
    readonly Func<TIn, JsonNode> _identity;
    readonly Func<TOut, string> _encode;
    readonly Func<string, TOut> _decode;
    readonly string _settings;
    long _records, _computed, _progressDone, _progressSeen;

    /// <param name="identity">What decides this record's value besides the stage's <see cref="Stage.MemoIdentity"/>:
    /// content hashes of the model and of the record's data, the prompt, the sample index. Never a throughput knob.</param>
    /// <param name="encode">Result → memo value.</param>
    /// <param name="decode">Memo value → result.</param>
    public RecordMemoLoop(Stage stage, IStageContext context, Func<TIn, JsonNode> identity, Func<TOut, string> encode, Func<string, TOut> decode)
    {
        if (!stage.IsRecordWise) throw new InvalidOperationException($"stage '{stage.Name}' ({stage.Kind}) is not record-wise (IsRecordWise is false)");
        _stage = stage; _context = context; _identity = identity; _encode = encode; _decode = decode;
        _settings = Hashing.Canonical(stage.MemoIdentity());
    }

    /// <summary>Records per call of the compute function (and per memo flush for the list-returning form).</summary>
    public int ChunkSize { get; init; } = 64;

    /// <summary>When set, the loop reports progress in this unit (reused records count as done).</summary>
    public string? ProgressUnit { get; init; }

    /// <summary>A record's size in <see cref="ProgressUnit"/> (default 1).</summary>
    public Func<TIn, long>? ProgressWeight { get; init; }

    /// <summary>The total over every call, when known up front; otherwise the total of the records seen so far.</summary>
    public long? ProgressTotal { get; init; }

    /// <summary>How a record is named in errors (e.g. its id); default: its position in the call.</summary>
    public Func<TIn, string>? Describe { get; init; }

    /// <summary>Records passed to the loop so far.</summary>
    public long Records => Interlocked.Read(ref _records);
    /// <summary>Records computed so far (each distinct missing key once).</summary>
    public long Computed => Interlocked.Read(ref _computed);
    /// <summary>Records not computed: found in the memo (or sharing a key with a record computed in the same call).</summary>
    public long Reused => Records - Computed;

    /// <summary>The key of one record.</summary>
    public string KeyOf(TIn record) => RecordKeys.Of(_stage.Kind, _settings, _identity(record));

    /// <summary>Runs the loop with a compute function that returns one result per record of the chunk, in order.</summary>
    public Task<TOut[]> RunAsync(IReadOnlyList<TIn> records, Func<IReadOnlyList<TIn>, CancellationToken, Task<IReadOnlyList<TOut>>> compute, string? label = null) =>
        RunCoreAsync(records, label, async (memo, chunk, keys, results, ct) =>
        {
            var inputs = chunk.Select(i => records[i]).ToArray();
            var outputs = await compute(inputs, ct);
            if (outputs.Count != inputs.Length)
                throw new InvalidOperationException($"stage '{_stage.Name}': {outputs.Count} results computed for a chunk of {inputs.Length} records");
            var entries = new KeyValuePair<string, string>[inputs.Length];
            for (int j = 0; j < inputs.Length; j++)
            {
                results[chunk[j]] = outputs[j];
                entries[j] = KeyValuePair.Create(keys[chunk[j]], _encode(outputs[j]));
            }
            await memo.PutManyAsync(entries, ct);
            Interlocked.Add(ref _computed, inputs.Length);
        });

    /// <summary>Runs the loop with a compute function that stores each record's result as it completes (concurrent callers).</summary>
    public Task<TOut[]> RunAsync(IReadOnlyList<TIn> records, RecordChunkCompute<TIn, TOut> compute, string? label = null) =>
        RunCoreAsync(records, label, async (memo, chunk, keys, results, ct) =>
        {
            var stored = new int[chunk.Length];
            async Task Store(int j, TOut value)
            {
                if ((uint)j >= (uint)chunk.Length) throw new ArgumentOutOfRangeException(nameof(j), $"stage '{_stage.Name}': record {j} of a chunk of {chunk.Length}");
                if (Interlocked.Exchange(ref stored[j], 1) != 0) throw new InvalidOperationException($"stage '{_stage.Name}': record {j} of the chunk was stored twice");
                results[chunk[j]] = value;
                await memo.PutAsync(keys[chunk[j]], _encode(value), ct);
                Interlocked.Increment(ref _computed);
            }
            await compute(chunk.Select(i => records[i]).ToArray(), Store, ct);
            int missing = stored.Count(s => s == 0);
            if (missing > 0)
                throw new InvalidOperationException($"stage '{_stage.Name}': the compute function returned without a result for {missing} of the chunk's {chunk.Length} records");
        });

    delegate Task ChunkRunner(IRecordMemo memo, int[] chunk, string[] keys, TOut[] results, CancellationToken ct);

    async Task<TOut[]> RunCoreAsync(IReadOnlyList<TIn> records, string? label, ChunkRunner runChunk)
    {
        if (ChunkSize <= 0) throw new ArgumentException($"stage '{_stage.Name}': the record chunk size must be positive, got {ChunkSize}");
        var ct = _context.CancellationToken;
        var memo = _context.Memo;
        var keys = new string[records.Count];
        var results = new TOut[records.Count];
        var pending = new List<int>();
        var firstWithKey = new Dictionary<string, int>(StringComparer.Ordinal);
        var sameAs = new List<(int Record, int First)>();
        long reusedWeight = 0;
        for (int i = 0; i < records.Count; i++)
        {
            keys[i] = KeyOf(records[i]);
            if (memo.TryGet(keys[i], out var value)) { results[i] = Decode(memo, value, records[i], i, keys[i]); reusedWeight += Weight(records[i]); }
            else if (firstWithKey.TryGetValue(keys[i], out int first)) sameAs.Add((i, first));
            else { firstWithKey[keys[i]] = i; pending.Add(i); }
        }
        Interlocked.Add(ref _records, records.Count);
        if (label != null) _context.Log($"{label}: {records.Count} records, {records.Count - pending.Count} reused from the record memo, {pending.Count} to compute");
        _progressSeen += records.Sum(r => Weight(r));
        Progress(reusedWeight);

        for (int start = 0; start < pending.Count; start += ChunkSize)
        {
            ct.ThrowIfCancellationRequested();
            var chunk = pending.GetRange(start, Math.Min(ChunkSize, pending.Count - start)).ToArray();
            await runChunk(memo, chunk, keys, results, ct);
            Progress(chunk.Sum(i => Weight(records[i])));
        }
        foreach (var (record, first) in sameAs) results[record] = results[first];
        if (sameAs.Count > 0) Progress(sameAs.Sum(x => Weight(records[x.Record])));
        _context.SetMetric(RecordMemoLoop.ReusedMetric, Reused);
        _context.SetMetric(RecordMemoLoop.ComputedMetric, Computed);
        return results;
    }

    /// <summary>A memoised value the stage cannot read (a hand-edited or foreign memo) is an error naming the memo file and the record.</summary>
    TOut Decode(IRecordMemo memo, string value, TIn record, int index, string key)
    {
        try { return _decode(value); }
        catch (Exception e) when (e is FormatException or System.Text.Json.JsonException or InvalidOperationException or InvalidCastException or InvalidDataException or ArgumentException)
        {
            throw new InvalidDataException($"stage '{_stage.Name}': the record memo {memo.Location} holds an unreadable value for " +
                                           $"{Describe?.Invoke(record) ?? $"record {index + 1} of the call"} (key {key[..Math.Min(12, key.Length)]}): {e.Message}; " +
                                           "delete that line to compute the record again", e);
        }
    }

    long Weight(TIn record) => ProgressWeight?.Invoke(record) ?? 1;

    void Progress(long add)
    {
        if (ProgressUnit is null) return;
        _progressDone += add;
        _context.ReportProgress(_progressDone, ProgressTotal ?? _progressSeen, ProgressUnit);
    }
}
