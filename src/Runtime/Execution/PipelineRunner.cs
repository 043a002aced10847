using System.Diagnostics;
using System.Threading.Tasks.Dataflow;
using IwSft.Runtime.Execution;
using IwSft.Runtime.Store;

namespace IwSft.Runtime;

/// <summary>
/// Runs a pipeline against an <see cref="ArtifactStore"/>. This type schedules: independent branches run
/// concurrently on a Dataflow block, under the store's shared lock and the pipeline's run lock. Each stage is
/// brought up to date by <see cref="StageExecutor"/> (its key is a <see cref="StageKey"/>: name, kind, version,
/// code identity, canonical configuration, content hashes of its inputs and external files); <c>status</c> is
/// <see cref="PipelineStatus"/> and <c>why</c> is <see cref="DecisionLookup"/>.
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

    // ------------------------------------------------------------------ run

    /// <summary>
    /// Runs the selected stages: each is posted to a Dataflow block once all its parents have finished, so
    /// independent branches run side by side (at most <see cref="RunOptions.MaxConcurrentStages"/>). Writes the
    /// run manifest; throws <see cref="StageFailedException"/> after a stage failed (its earlier artifacts intact).
    /// </summary>
    public async Task<RunResult> RunAsync(Pipeline p, CancellationToken ct = default)
    {
        _store.ThrowIfReadOnly($"run pipeline '{p.Name}'");
        ConfigOverrides.Apply(p, _options.Overrides);
        var graph = new PipelineGraph(p);
        foreach (var f in _options.Force.Concat(_options.ForceRecords)) p.Get(f);
        var selected = _options.Until is { } until ? graph.AncestorsAndSelf(p.Get(until)) : new HashSet<Stage>(p.Stages);

        Directory.CreateDirectory(_store.PipelineDir(p.Name));
        using var storeLock = StoreLock.Shared(_store.Root, ct); // gc waits for the run to end
        using var runLock = AcquireRunLock(p);
        _store.CleanAbandonedTemp();

        var runId = $"{DateTime.UtcNow:yyyyMMdd'T'HHmmssfff'Z'}-{Guid.NewGuid().ToString("N")[..8]}";
        var started = Stopwatch.StartNew();
        var startedUtc = DateTime.UtcNow;
        var files = new FileHashMemo(_store.FileHashCachePath, trustStamps: !_options.VerifyHashes);
        using var inflight = new InflightRun(_store.Root, p.Name, runId);
        var results = new RunResults();
        var executor = new StageExecutor(_store, _options, p, graph, selected, results, files, inflight, ct);
        _options.Progress?.RunStarted(p.Name, graph.Order.Where(selected.Contains).Select(s => s.Name).ToList());

        await ScheduleAsync(graph, executor, results);
        if (!results.HasErrors) RecheckOutputs(graph, results); // after a failure, that failure is the news
        try { files.Save(); } catch (IOException) { /* only a cache of external hashes */ }

        var result = new RunResult
        {
            Pipeline = p.Name, RunId = runId, Duration = started.Elapsed,
            Stages = graph.Order.ToDictionary(s => s.Name, s => results[s]),
            ManifestPath = Path.Combine(_store.RunsDir(p.Name), runId + ".json"),
        };
        return Finish(p, result, startedUtc, results, ct);
    }

    /// <summary>Posts each stage to the block when all its parents have finished; returns when every stage has.</summary>
    async Task ScheduleAsync(PipelineGraph graph, StageExecutor executor, RunResults results)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var pendingGate = new object();
        // Stryker disable once Linq : a list's Count; Stryker 5.1 rewrites it to the method group Sum, which does not
        // compile and makes it drop every mutant of this method (build/mutation-test.sh)
        var pending = graph.Order.ToDictionary(s => s, s => graph.Parents[s].Count);
        int remaining = graph.Order.Count;
        var untilReason = StageExecutor.UntilReason(_options);
        ActionBlock<Stage>? block = null;
        block = new ActionBlock<Stage>(async s =>
        {
            var r = await executor.ExecuteAsync(s);
            if (r.Status is not StageStatus.Skipped || r.Reason != untilReason) _options.Progress?.StageFinished(r);
            results.Add(s, r);
            List<Stage> ready = new();
            lock (pendingGate)
                foreach (var c in graph.Children[s]) if (--pending[c] == 0) ready.Add(c);
            foreach (var c in ready) block!.Post(c);
            if (Interlocked.Decrement(ref remaining) == 0) done.TrySetResult();
        }, new ExecutionDataflowBlockOptions { MaxDegreeOfParallelism = Math.Max(1, _options.MaxConcurrentStages), EnsureOrdered = false });
        foreach (var s in graph.Order.Where(s => pending[s] == 0)) block.Post(s);
        if (graph.Order.Count == 0) done.TrySetResult();
        await done.Task;
        block.Complete();
        await block.Completion;
    }

    /// <summary>Writes the run manifest and reports the run's outcome (the first failed stage, or cancellation).</summary>
    RunResult Finish(Pipeline p, RunResult result, DateTime startedUtc, RunResults results, CancellationToken ct)
    {
        var failed = result.Stages.Values.FirstOrDefault(r => r.Status == StageStatus.Failed);
        try { RunManifest.Write(result, startedUtc, _options, p); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A full disk fails the stage and then the manifest: report the stage, which is what the user needs to know.
            if (failed != null)
                throw new StageFailedException(failed.Name, result with { ManifestPath = $"(not written: {e.Message})" }, results.ErrorOf(failed.Name));
            throw new IOException($"run of pipeline '{p.Name}': every stage finished but the run manifest could not be written: {e.Message}", e);
        }
        _options.Progress?.RunFinished(result);
        if (ct.IsCancellationRequested) throw new OperationCanceledException($"run of pipeline '{p.Name}' cancelled; manifest {result.ManifestPath}", ct);
        if (failed != null) throw new StageFailedException(failed.Name, result, results.ErrorOf(failed.Name));
        return result;
    }

    /// <summary>
    /// A run never reports success for an output that is not in the store: every output of a stage that ran or
    /// was reused is checked (stat and recorded size/mtime) once all stages have finished; a missing or damaged
    /// one fails that stage.
    /// </summary>
    void RecheckOutputs(PipelineGraph graph, RunResults results)
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
                results.AddError(s.Name, new InvalidOperationException(message));
                results.Add(s, r with { Status = StageStatus.Failed, Error = message, Reason = "output lost" });
                break;
            }
        }
    }

    IDisposable AcquireRunLock(Pipeline p)
    {
        var path = Path.Combine(_store.PipelineDir(p.Name), "run.lock");
        try { return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException)
        {
            throw new InvalidOperationException($"pipeline '{p.Name}' is being run by another process on store {_store.Root} (lock {path})");
        }
    }

    // ------------------------------------------------------------------ status and why

    /// <summary>
    /// Whether each stage would be reused or recomputed by a run, and why. Reads only the lock file, cache
    /// entries and the stat() of artifacts (plus external files whose size or mtime changed).
    /// </summary>
    public StatusReport Status(Pipeline p) => PipelineStatus.Of(_store, _options, p);

    /// <summary>Every decision about <paramref name="recordId"/> in the latest materialised decisions tables, in DAG order.</summary>
    public Task<WhyReport> WhyAsync(Pipeline p, string recordId, CancellationToken ct = default) => DecisionLookup.FindAsync(_store, p, recordId, ct);
}
