using System.Diagnostics;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>The results of one run so far, shared by stages running side by side.</summary>
internal sealed class RunResults
{
    readonly object _gate = new();
    readonly Dictionary<Stage, StageResult> _results = new();
    readonly Dictionary<string, Exception> _errors = new(StringComparer.Ordinal);

    /// <summary>The outputs of a stage that ran or was reused; null otherwise (or not finished yet).</summary>
    public IReadOnlyDictionary<string, ArtifactRef>? OutputsOf(Stage s)
    {
        lock (_gate) return _results.TryGetValue(s, out var r) && r.Status is StageStatus.Ran or StageStatus.Cached ? r.Outputs : null;
    }

    public bool DidNotComplete(Stage s)
    {
        lock (_gate) return _results[s].Status is StageStatus.Failed or StageStatus.Skipped;
    }

    public void Add(Stage s, StageResult r) { lock (_gate) _results[s] = r; }

    public void AddError(string stage, Exception e) { lock (_gate) _errors[stage] = e; }

    public StageResult this[Stage s] { get { lock (_gate) return _results[s]; } }

    public bool HasErrors { get { lock (_gate) return _errors.Count > 0; } }

    public Exception ErrorOf(string stage) { lock (_gate) return _errors[stage]; }
}

/// <summary>
/// Brings one stage of a run up to date: computes its key, reuses the cached outputs when the key is known and
/// they check out, otherwise runs the stage in a fresh work directory and commits its outputs and cache entry;
/// either way it records the stage in the pipeline's lock file.
/// </summary>
internal sealed class StageExecutor(ArtifactStore store, RunOptions options, Pipeline pipeline, PipelineGraph graph, IReadOnlySet<Stage> selected,
    RunResults results, FileHashMemo files, InflightRun inflight, CancellationToken ct)
{
    readonly PipelineLock _lock = store.ReadLock(pipeline.Name);
    readonly object _lockGate = new();
    readonly HashSet<string> _forced = new(options.Force.Concat(options.ForceRecords), StringComparer.Ordinal);

    public async Task<StageResult> ExecuteAsync(Stage s)
    {
        var startUtc = DateTime.UtcNow;
        var sw = Stopwatch.StartNew();
        if (NotRunReason(s) is { } skipped)
            return new StageResult { Name = s.Name, Status = StageStatus.Skipped, Reason = skipped, StartedUtc = startUtc, FinishedUtc = startUtc };

        StageKey? key = null;
        try
        {
            var bound = BoundInputs.Of(s, results.OutputsOf);
            key = StageKey.Compute(s, bound, files);
            string reason;
            if (_forced.Contains(s.Name)) reason = "forced";
            else
            {
                var entry = store.TryGetCacheEntry(key.Key);
                if (entry != null) inflight.Pin(entry.Outputs.Values); // before they are checked and used
                string problem = "";
                if (entry != null && CachedOutputs.Healthy(store, entry, options.VerifyHashes, out problem))
                {
                    RecordLock(s, key, entry.Outputs);
                    return new StageResult
                    {
                        Name = s.Name, Status = StageStatus.Cached, Reason = "cache key matched", Key = key.Key, Outputs = entry.Outputs,
                        Code = key.Identity.Code, CodeAliasReason = key.Identity.AliasReason,
                        Inputs = key.Inputs, Metrics = entry.Metrics, Decisions = entry.Decisions,
                        Duration = sw.Elapsed, StartedUtc = startUtc, FinishedUtc = DateTime.UtcNow,
                    };
                }
                LockEntry? previous;
                lock (_lockGate) previous = _lock.Stages.GetValueOrDefault(s.Name);
                reason = entry != null ? problem : StalenessReasons.Describe(s, key, previous);
            }

            options.Progress?.StageStarted(s.Name);
            var ran = await RunAsync(s, bound, key.Externals);
            inflight.Pin(ran.Outputs.Values);
            store.PutCacheEntry(new CacheEntry
            {
                Key = key.Key, Stage = s.Name, Kind = s.Kind, Version = s.Version, Code = key.Identity.Code, Outputs = ran.Outputs,
                Metrics = ran.Metrics, Decisions = ran.Decisions, DurationMs = sw.Elapsed.TotalMilliseconds, CreatedUtc = DateTime.UtcNow,
            });
            RecordLock(s, key, ran.Outputs);
            return new StageResult
            {
                Name = s.Name, Status = StageStatus.Ran, Reason = reason, Key = key.Key, Outputs = ran.Outputs, Inputs = key.Inputs,
                Code = key.Identity.Code, CodeAliasReason = key.Identity.AliasReason,
                Metrics = ran.Metrics, Decisions = ran.Decisions, Duration = sw.Elapsed, StartedUtc = startUtc, FinishedUtc = DateTime.UtcNow,
            };
        }
        catch (Exception e)
        {
            results.AddError(s.Name, e);
            var cancelled = e is OperationCanceledException && ct.IsCancellationRequested;
            return new StageResult
            {
                Name = s.Name, Status = StageStatus.Failed, Key = key?.Key, Reason = cancelled ? "cancelled" : "threw",
                Error = cancelled ? "cancelled" : Describe(e), Duration = sw.Elapsed, StartedUtc = startUtc, FinishedUtc = DateTime.UtcNow,
            };
        }
    }

    /// <summary>Why the stage is not run at all, or null when it is.</summary>
    string? NotRunReason(Stage s)
    {
        if (!selected.Contains(s)) return UntilReason(options);
        if (graph.Parents[s].FirstOrDefault(results.DidNotComplete) is { } failedParent) return $"upstream '{failedParent.Name}' did not complete";
        return ct.IsCancellationRequested ? "cancelled" : null;
    }

    /// <summary>The reason given to stages left out by <c>--until</c>.</summary>
    public static string UntilReason(RunOptions options) => $"after --until {options.Until}";

    void RecordLock(Stage s, StageKey key, IReadOnlyDictionary<string, ArtifactRef> outputs)
    {
        lock (_lockGate)
        {
            _lock.Stages[s.Name] = key.ToLockEntry(s, outputs);
            store.WriteLock(_lock);
        }
    }

    sealed record Ran(Dictionary<string, ArtifactRef> Outputs, Dictionary<string, double> Metrics, DecisionCounts? Decisions);

    /// <summary>Runs the stage in a fresh work directory and commits its outputs; the work directory is removed either way.</summary>
    async Task<Ran> RunAsync(Stage s, BoundInputs bound, IReadOnlyDictionary<string, string> externals)
    {
        var work = store.NewTempDir();
        var inputs = bound.Artifacts.ToDictionary(kv => kv.Key, kv => (kv.Value, bound.Sources[kv.Key]), StringComparer.Ordinal);
        bool freshRecords = options.ForceRecords.Contains(s.Name);
        var ctx = new StageContext(s, store, inputs, externals, work, options.Execution, () => RecordMemo.OpenShared(MemoPath(s), freshRecords), options.Progress, ct)
        {
            Forced = _forced.Contains(s.Name),
        };
        try
        {
            await Task.Run(() => s.RunAsync(ctx), ct);
            ct.ThrowIfCancellationRequested();
            ctx.VerifyInputsRead(); // nothing is committed from input bytes that did not hash to their address
            var staged = await ctx.CompleteOutputsAsync(ct);
            var outputs = new Dictionary<string, ArtifactRef>(StringComparer.Ordinal);
            foreach (var (name, (kind, path, rows)) in staged)
                outputs[name] = kind == ArtifactKind.Table ? store.CommitTable(path, rows) : store.CommitDirectory(path);
            return new Ran(outputs, new Dictionary<string, double>(ctx.Metrics, StringComparer.Ordinal), ctx.DecisionsCollector?.Counts());
        }
        finally
        {
            await ctx.AbandonAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    string MemoPath(Stage s) =>
        Path.Combine(store.MemoDir, s.Kind, $"v{s.Version}-{Hashing.Sha256Hex(Hashing.Canonical(s.MemoIdentity()))[..16]}.log");

    static string Describe(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Describe(a.InnerExceptions[0]) : e.Message;
}
