using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Threading.Tasks.Dataflow;
using IwSft.Runtime.Execution;
using IwSft.Runtime.Store;

namespace IwSft.Runtime;

/// <summary>
/// Runs a pipeline against an <see cref="ArtifactStore"/>: computes each stage's cache key from (stage name,
/// kind, code version, canonical configuration, content hashes of its inputs and external files), reuses
/// stored outputs when the key is known and its artifacts check out, otherwise runs the stage and commits
/// its outputs atomically. Independent branches run concurrently (stages are scheduled on a Dataflow block).
/// </summary>
public sealed class PipelineRunner
{
    readonly ArtifactStore _store;
    readonly RunOptions _options;

    public PipelineRunner(ArtifactStore store, RunOptions? options = null)
    {
        _store = store;
        _options = options ?? new RunOptions();
    }

    public ArtifactStore Store => _store;

    /// <summary>The pipeline's stages in dependency order (validates the wiring: unbound inputs, cycles, kinds).</summary>
    public static IReadOnlyList<Stage> Order(Pipeline p) => new PipelineGraph(p).Order;
    public RunOptions Options => _options;

    // ------------------------------------------------------------------ keys

    internal sealed record KeyParts(string Key, JsonNode Config, SortedDictionary<string, InputLock> Inputs, SortedDictionary<string, string> Externals,
        StageIdentity Identity);

    internal static KeyParts ComputeKey(Stage s, IReadOnlyDictionary<string, ArtifactRef> inputHashes,
        IReadOnlyDictionary<string, string> inputSources, FileHashMemo files)
    {
        var config = JsonNode.Parse(Hashing.Canonical(s.ConfigJson()))!;
        var identity = StageIdentity.Of(s);
        var inputs = new SortedDictionary<string, InputLock>(StringComparer.Ordinal);
        foreach (var (name, a) in inputHashes) inputs[name] = new InputLock(inputSources[name], a.Hash);
        var externals = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in s.ExternalInputs) externals[path] = files.Hash(path);
        var keyDoc = new JsonObject
        {
            ["stage"] = s.Name,
            ["kind"] = s.Kind,
            ["version"] = s.Version,
            ["code"] = identity.Code,
            ["behaviour"] = identity.Behaviour.DeepClone(),
            ["config"] = config.DeepClone(),
            ["inputs"] = new JsonObject(inputs.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value.Hash))),
            ["externals"] = new JsonObject(externals.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        return new KeyParts(Hashing.Sha256Hex(Hashing.Canonical(keyDoc)), config, inputs, externals, identity);
    }

    /// <summary>Bound inputs whose upstream produced the output (optional outputs may be absent).</summary>
    static (Dictionary<string, ArtifactRef> refs, Dictionary<string, string> sources) BoundInputs(Stage s, Func<Stage, IReadOnlyDictionary<string, ArtifactRef>?> outputsOf)
    {
        var refs = new Dictionary<string, ArtifactRef>(StringComparer.Ordinal);
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (input, src) in s.Bindings)
        {
            var outs = outputsOf(src.Stage);
            if (outs != null && outs.TryGetValue(src.Output, out var a)) { refs[input] = a; sources[input] = src.ToString(); }
            else if (!s.Inputs.First(i => i.Name == input).Optional)
                throw new InvalidOperationException($"stage '{s.Name}' input '{input}': upstream '{src}' produced no artifact");
        }
        return (refs, sources);
    }

    string MemoPath(Stage s) =>
        Path.Combine(_store.MemoDir, s.Kind, $"v{s.Version}-{Hashing.Sha256Hex(Hashing.Canonical(s.MemoIdentity()))[..16]}.log");

    bool CachedOutputsHealthy(CacheEntry entry, out string problem)
    {
        foreach (var (name, a) in entry.Outputs)
        {
            var h = _store.Verify(a, _options.VerifyHashes);
            if (h != ArtifactHealth.Ok) { problem = $"artifact {name} {h.ToString().ToLowerInvariant()}"; return false; }
        }
        problem = "";
        return true;
    }

    // ------------------------------------------------------------------ run

    public async Task<RunResult> RunAsync(Pipeline p, CancellationToken ct = default)
    {
        _store.ThrowIfReadOnly($"run pipeline '{p.Name}'");
        ConfigOverrides.Apply(p, _options.Overrides);
        var graph = new PipelineGraph(p);
        foreach (var f in _options.Force.Concat(_options.ForceRecords)) p.Get(f);
        var selected = _options.Until is { } until ? graph.AncestorsAndSelf(p.Get(until)) : new HashSet<Stage>(p.Stages);
        var force = new HashSet<string>(_options.Force.Concat(_options.ForceRecords), StringComparer.Ordinal);

        Directory.CreateDirectory(_store.PipelineDir(p.Name));
        using var storeLock = StoreLock.Shared(_store.Root, ct); // gc waits for the run to end
        using var runLock = AcquireRunLock(p);
        _store.CleanAbandonedTemp();

        var runId = $"{DateTime.UtcNow:yyyyMMdd'T'HHmmssfff'Z'}-{Guid.NewGuid().ToString("N")[..8]}";
        var started = Stopwatch.StartNew();
        var startedUtc = DateTime.UtcNow;
        var files = new FileHashMemo(_store.FileHashCachePath, trustStamps: !_options.VerifyHashes);
        using var inflight = new InflightRun(_store.Root, p.Name, runId);
        var pipelineLock = _store.ReadLock(p.Name);
        var lockGate = new object();
        var results = new Dictionary<Stage, StageResult>();
        var resultGate = new object();
        var errors = new Dictionary<string, Exception>();
        var progress = _options.Progress;
        progress?.RunStarted(p.Name, graph.Order.Where(selected.Contains).Select(s => s.Name).ToList());

        IReadOnlyDictionary<string, ArtifactRef>? OutputsOf(Stage s)
        {
            lock (resultGate) return results.TryGetValue(s, out var r) && r.Status is StageStatus.Ran or StageStatus.Cached ? r.Outputs : null;
        }

        async Task<StageResult> Execute(Stage s)
        {
            var startUtc = DateTime.UtcNow;
            var sw = Stopwatch.StartNew();
            if (!selected.Contains(s))
                return new StageResult { Name = s.Name, Status = StageStatus.Skipped, Reason = $"after --until {_options.Until}", StartedUtc = startUtc, FinishedUtc = startUtc };
            var failedParent = graph.Parents[s].FirstOrDefault(x => { lock (resultGate) return results[x].Status is StageStatus.Failed or StageStatus.Skipped; });
            if (failedParent != null)
                return new StageResult { Name = s.Name, Status = StageStatus.Skipped, Reason = $"upstream '{failedParent.Name}' did not complete", StartedUtc = startUtc, FinishedUtc = startUtc };
            if (ct.IsCancellationRequested)
                return new StageResult { Name = s.Name, Status = StageStatus.Skipped, Reason = "cancelled", StartedUtc = startUtc, FinishedUtc = startUtc };

            KeyParts? key = null;
            try
            {
                var (refs, sources) = BoundInputs(s, OutputsOf);
                key = ComputeKey(s, refs, sources, files);
                string reason;
                LockEntry? previous;
                lock (lockGate) previous = pipelineLock.Stages.GetValueOrDefault(s.Name);
                if (force.Contains(s.Name)) reason = "forced";
                else
                {
                    var entry = _store.TryGetCacheEntry(key.Key);
                    if (entry != null) inflight.Pin(entry.Outputs.Values); // before they are checked and used
                    string problem = "";
                    if (entry != null && CachedOutputsHealthy(entry, out problem))
                    {
                        var cached = new StageResult
                        {
                            Name = s.Name, Status = StageStatus.Cached, Reason = "cache key matched", Key = key.Key, Outputs = entry.Outputs,
                            Code = key.Identity.Code, CodeAliasReason = key.Identity.AliasReason,
                            Inputs = key.Inputs, Metrics = entry.Metrics, Decisions = entry.Decisions,
                            Duration = sw.Elapsed, StartedUtc = startUtc, FinishedUtc = DateTime.UtcNow,
                        };
                        RecordLock(s, key, entry.Outputs);
                        return cached;
                    }
                    reason = entry != null ? problem : StalenessReasons.Describe(s, key, previous);
                }

                progress?.StageStarted(s.Name);
                var outputs = await RunStage(s, refs, sources, key.Externals, force.Contains(s.Name), ct);
                inflight.Pin(outputs.outputs.Values);
                var ran = new StageResult
                {
                    Name = s.Name, Status = StageStatus.Ran, Reason = reason, Key = key.Key, Outputs = outputs.outputs, Inputs = key.Inputs,
                    Code = key.Identity.Code, CodeAliasReason = key.Identity.AliasReason,
                    Metrics = outputs.metrics, Decisions = outputs.decisions, Duration = sw.Elapsed, StartedUtc = startUtc, FinishedUtc = DateTime.UtcNow,
                };
                _store.PutCacheEntry(new CacheEntry
                {
                    Key = key.Key, Stage = s.Name, Kind = s.Kind, Version = s.Version, Code = key.Identity.Code, Outputs = outputs.outputs,
                    Metrics = outputs.metrics, Decisions = outputs.decisions, DurationMs = sw.Elapsed.TotalMilliseconds, CreatedUtc = DateTime.UtcNow,
                });
                RecordLock(s, key, outputs.outputs);
                return ran;
            }
            catch (Exception e)
            {
                lock (resultGate) errors[s.Name] = e;
                var cancelled = e is OperationCanceledException && ct.IsCancellationRequested;
                return new StageResult
                {
                    Name = s.Name, Status = StageStatus.Failed, Key = key?.Key, Reason = cancelled ? "cancelled" : "threw",
                    Error = cancelled ? "cancelled" : Describe(e), Duration = sw.Elapsed, StartedUtc = startUtc, FinishedUtc = DateTime.UtcNow,
                };
            }
        }

        void RecordLock(Stage s, KeyParts key, Dictionary<string, ArtifactRef> outputs)
        {
            lock (lockGate)
            {
                pipelineLock.Stages[s.Name] = new LockEntry
                {
                    Key = key.Key, Kind = s.Kind, Version = s.Version, Code = key.Identity.Code, Behaviour = key.Identity.Behaviour.DeepClone(),
                    Config = key.Config, Inputs = key.Inputs, Externals = key.Externals,
                    Outputs = new SortedDictionary<string, ArtifactRef>(outputs, StringComparer.Ordinal), UpdatedUtc = DateTime.UtcNow,
                };
                _store.WriteLock(pipelineLock);
            }
        }

        // Schedule: a stage is posted to the block when all its parents have finished.
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Stryker disable once Linq : a list's Count; Stryker 5.1 rewrites it to the method group Sum, which does not
        // compile and makes it drop every mutant of this method (build/mutation-test.sh)
        var pending = graph.Order.ToDictionary(s => s, s => graph.Parents[s].Count);
        int remaining = graph.Order.Count;
        ActionBlock<Stage>? block = null;
        block = new ActionBlock<Stage>(async s =>
        {
            var r = await Execute(s);
            if (r.Status is not StageStatus.Skipped || r.Reason != $"after --until {_options.Until}") progress?.StageFinished(r);
            List<Stage> ready = new();
            lock (resultGate)
            {
                results[s] = r;
                foreach (var c in graph.Children[s]) if (--pending[c] == 0) ready.Add(c);
            }
            foreach (var c in ready) block!.Post(c);
            if (Interlocked.Decrement(ref remaining) == 0) done.TrySetResult();
        }, new ExecutionDataflowBlockOptions { MaxDegreeOfParallelism = Math.Max(1, _options.MaxConcurrentStages), EnsureOrdered = false });
        foreach (var s in graph.Order.Where(s => pending[s] == 0)) block.Post(s);
        if (graph.Order.Count == 0) done.TrySetResult();
        await done.Task;
        block.Complete();
        await block.Completion;
        if (errors.Count == 0) RecheckOutputs(graph, results, errors); // after a failure, that failure is the news
        try { files.Save(); } catch (IOException) { /* only a cache of external hashes */ }

        var result = new RunResult
        {
            Pipeline = p.Name, RunId = runId, Duration = started.Elapsed,
            Stages = graph.Order.ToDictionary(s => s.Name, s => results[s]),
            ManifestPath = Path.Combine(_store.RunsDir(p.Name), runId + ".json"),
        };
        var failed = graph.Order.Select(s => results[s]).FirstOrDefault(r => r.Status == StageStatus.Failed);
        try { RunManifest.Write(result, startedUtc, _options, p); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A full disk fails the stage and then the manifest: report the stage, which is what the user needs to know.
            if (failed != null)
                throw new StageFailedException(failed.Name, result with { ManifestPath = $"(not written: {e.Message})" }, errors[failed.Name]);
            throw new IOException($"run of pipeline '{p.Name}': every stage finished but the run manifest could not be written: {e.Message}", e);
        }
        progress?.RunFinished(result);
        if (ct.IsCancellationRequested) throw new OperationCanceledException($"run of pipeline '{p.Name}' cancelled; manifest {result.ManifestPath}", ct);
        if (failed != null) throw new StageFailedException(failed.Name, result, errors[failed.Name]);
        return result;
    }

    /// <summary>
    /// A run never reports success for an output that is not in the store: every output of a stage that ran or
    /// was reused is checked (stat and recorded size/mtime) once all stages have finished; a missing or damaged
    /// one fails that stage.
    /// </summary>
    void RecheckOutputs(PipelineGraph graph, Dictionary<Stage, StageResult> results, Dictionary<string, Exception> errors)
    {
        foreach (var s in graph.Order)
        {
            var r = results[s];
            if (r.Status is not (StageStatus.Ran or StageStatus.Cached)) continue;
            foreach (var (name, a) in r.Outputs)
            {
                var health = _store.Verify(a);
                if (health == ArtifactHealth.Ok) continue;
                var message = $"output {s.Name}.{name} ({a.Hash[..12]}) is {health.ToString().ToLowerInvariant()} at the end of the run " +
                              "(removed or changed by another process); rerun the pipeline to recompute it";
                errors[s.Name] = new InvalidOperationException(message);
                results[s] = r with { Status = StageStatus.Failed, Error = message, Reason = "output lost" };
                break;
            }
        }
    }

    static string Describe(Exception e) => e is AggregateException { InnerExceptions.Count: 1 } a ? Describe(a.InnerExceptions[0]) : e.Message;

    IDisposable AcquireRunLock(Pipeline p)
    {
        var path = Path.Combine(_store.PipelineDir(p.Name), "run.lock");
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            throw new InvalidOperationException($"pipeline '{p.Name}' is being run by another process on store {_store.Root} (lock {path})");
        }
    }

    async Task<(Dictionary<string, ArtifactRef> outputs, Dictionary<string, double> metrics, DecisionCounts? decisions)> RunStage(
        Stage s, Dictionary<string, ArtifactRef> refs, Dictionary<string, string> sources, IReadOnlyDictionary<string, string> externals, bool forced, CancellationToken ct)
    {
        var work = _store.NewTempDir();
        var inputs = refs.ToDictionary(kv => kv.Key, kv => (kv.Value, sources[kv.Key]), StringComparer.Ordinal);
        bool freshRecords = _options.ForceRecords.Contains(s.Name);
        var ctx = new StageContext(s, _store, inputs, externals, work, _options.Execution, () => RecordMemo.OpenShared(MemoPath(s), freshRecords), _options.Progress, ct) { Forced = forced };
        try
        {
            await Task.Run(() => s.RunAsync(ctx), ct);
            ct.ThrowIfCancellationRequested();
            ctx.VerifyInputsRead(); // nothing is committed from input bytes that did not hash to their address
            var staged = await ctx.CompleteOutputsAsync(ct);
            var outputs = new Dictionary<string, ArtifactRef>(StringComparer.Ordinal);
            foreach (var (name, (kind, path, rows)) in staged)
                outputs[name] = kind == ArtifactKind.Table ? _store.CommitTable(path, rows) : _store.CommitDirectory(path);
            var metrics = new Dictionary<string, double>(ctx.Metrics, StringComparer.Ordinal);
            return (outputs, metrics, ctx.DecisionsCollector?.Counts());
        }
        finally
        {
            await ctx.AbandonAsync();
            try { Directory.Delete(work, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    // ------------------------------------------------------------------ status

    /// <summary>
    /// Whether each stage would be reused or recomputed by a run, and why. Reads only the lock file, cache
    /// entries and the stat() of artifacts (plus external files whose size or mtime changed).
    /// </summary>
    public StatusReport Status(Pipeline p)
    {
        ConfigOverrides.Apply(p, _options.Overrides);
        var graph = new PipelineGraph(p);
        using var storeLock = _store.LockShared();
        var files = new FileHashMemo(_store.FileHashCachePath, trustStamps: !_options.VerifyHashes);
        var pipelineLock = _store.ReadLock(p.Name);
        var outputs = new Dictionary<Stage, IReadOnlyDictionary<string, ArtifactRef>>();
        var entries = new List<StageStatusEntry>();
        foreach (var s in graph.Order)
        {
            var previous = pipelineLock.Stages.GetValueOrDefault(s.Name);
            var staleParents = graph.Parents[s].Where(x => !outputs.ContainsKey(x)).Select(x => x.Name).ToList();
            if (staleParents.Count > 0)
            {
                var reasons = new List<string> { $"upstream stale: {string.Join(", ", staleParents)}" };
                if (previous == null) reasons.Add("never run");
                else reasons.AddRange(StalenessReasons.OwnChanges(s, previous));
                entries.Add(new StageStatusEntry(s.Name, StageState.Stale, reasons, null));
                continue;
            }
            KeyParts? key = null;
            try
            {
                var (refs, sources) = BoundInputs(s, x => outputs.GetValueOrDefault(x));
                key = ComputeKey(s, refs, sources, files);
            }
            catch (FileNotFoundException e)
            {
                entries.Add(new StageStatusEntry(s.Name, StageState.Stale, [e.Message], null));
            }
            if (key is null) continue;
            var entry = _store.TryGetCacheEntry(key.Key);
            string problem = "";
            if (entry != null && CachedOutputsHealthy(entry, out problem))
            {
                outputs[s] = entry.Outputs;
                entries.Add(new StageStatusEntry(s.Name, StageState.UpToDate, [], key.Key));
            }
            else
                entries.Add(new StageStatusEntry(s.Name, StageState.Stale, [entry != null ? problem : StalenessReasons.Describe(s, key, previous)], key.Key));
        }
        if (!_store.IsReadOnly) files.Save(); // a read-only reader re-hashes changed external files each time instead
        return new StatusReport(p.Name, entries);
    }

    // ------------------------------------------------------------------ why

    /// <summary>Every decision about <paramref name="recordId"/> in the latest materialised decisions tables, in DAG order.</summary>
    public async Task<WhyReport> WhyAsync(Pipeline p, string recordId, CancellationToken ct = default)
    {
        var graph = new PipelineGraph(p);
        using var storeLock = _store.LockShared(ct);
        var pipelineLock = _store.ReadLock(p.Name);
        var decisions = new List<RecordDecision>();
        var missing = new List<string>();
        foreach (var s in graph.Order.Where(s => s.WritesDecisions))
        {
            var a = pipelineLock.Stages.GetValueOrDefault(s.Name)?.Outputs.GetValueOrDefault(Stage.DecisionsOutput);
            if (a == null || _store.Verify(a) != ArtifactHealth.Ok) { missing.Add(s.Name); continue; }
            var reader = _store.OpenTable(a, $"{s.Name}.{Stage.DecisionsOutput}");
            await foreach (var batch in reader.ReadBatchesAsync(ct))
            {
                var ids = (Apache.Arrow.StringArray)batch.Column(0);
                for (int i = 0; i < batch.Length; i++)
                {
                    if (ids.GetString(i) != recordId) continue;
                    decisions.Add(new RecordDecision(s.Name, ((Apache.Arrow.BooleanArray)batch.Column(2)).GetValue(i) ?? false,
                        ((Apache.Arrow.StringArray)batch.Column(3)).GetString(i), ((Apache.Arrow.StringArray)batch.Column(4)).GetString(i)));
                }
            }
        }
        return new WhyReport(p.Name, recordId, decisions, missing);
    }
}

