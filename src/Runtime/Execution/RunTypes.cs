namespace IwSft.Runtime;

public enum StageStatus
{
    /// <summary>Computed in this run.</summary>
    Ran,
    /// <summary>Outputs taken from the store: the cache key matched and the artifacts checked out.</summary>
    Cached,
    /// <summary>Not run: after --until, downstream of a failure, or cancelled.</summary>
    Skipped,
    /// <summary>Threw; its earlier artifacts are untouched.</summary>
    Failed,
}

/// <summary>Options of one pipeline run.</summary>
public sealed record RunOptions
{
    /// <summary>Stages to recompute even when their cache key matches.</summary>
    public IReadOnlyList<string> Force { get; init; } = [];
    /// <summary>Stages to recompute together with every memoised record (their record memo is read as empty and rewritten).</summary>
    public IReadOnlyList<string> ForceRecords { get; init; } = [];
    /// <summary>Run only this stage and its ancestors.</summary>
    public string? Until { get; init; }
    /// <summary>Configuration overrides <c>stage.key=value</c> (key may be a dotted path into nested objects).</summary>
    public IReadOnlyList<string> Overrides { get; init; } = [];
    public IProgressSink? Progress { get; init; }
    public ExecutionOptions Execution { get; init; } = new();
    /// <summary>Re-hash every artifact instead of trusting the size + mtime recorded when it was written.</summary>
    public bool VerifyHashes { get; init; }
    /// <summary>Stages running at the same time (independent branches).</summary>
    public int MaxConcurrentStages { get; init; } = Math.Max(2, Environment.ProcessorCount);
}

public sealed record StageResult
{
    public required string Name { get; init; }
    public required StageStatus Status { get; init; }
    /// <summary>Why it ran / was skipped ("never run", "config changed: top_k", "forced", ...).</summary>
    public string Reason { get; init; } = "";
    public string? Key { get; init; }
    /// <summary>Code identity used in the key; <see cref="CodeAliasReason"/> is set when a CodeIdentityAlias replaced the computed one.</summary>
    public string? Code { get; init; }
    public string? CodeAliasReason { get; init; }
    public IReadOnlyDictionary<string, ArtifactRef> Outputs { get; init; } = new Dictionary<string, ArtifactRef>();
    public IReadOnlyDictionary<string, InputLock> Inputs { get; init; } = new Dictionary<string, InputLock>();
    /// <summary>Rows per table output.</summary>
    public IReadOnlyDictionary<string, long> Rows => Outputs.Where(o => o.Value.Kind == ArtifactKind.Table).ToDictionary(o => o.Key, o => o.Value.Rows);
    public TimeSpan Duration { get; init; }
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();
    public DecisionCounts? Decisions { get; init; }
    public string? Error { get; init; }
    public DateTime StartedUtc { get; init; }
    public DateTime FinishedUtc { get; init; }
}

public sealed record RunResult
{
    public required string Pipeline { get; init; }
    public required string RunId { get; init; }
    public required IReadOnlyDictionary<string, StageResult> Stages { get; init; }
    public required string ManifestPath { get; init; }
    public TimeSpan Duration { get; init; }
    public bool Succeeded => Stages.Values.All(s => s.Status != StageStatus.Failed);
}

/// <summary>A run in which a stage failed; the run manifest was written and earlier artifacts are intact.</summary>
public sealed class StageFailedException(string stage, RunResult result, Exception inner)
    : Exception($"stage '{stage}' failed: {inner.Message}", inner)
{
    public string Stage { get; } = stage;
    public RunResult Result { get; } = result;
}

public enum StageState { UpToDate, Stale }

public sealed record StageStatusEntry(string Stage, StageState State, IReadOnlyList<string> Reasons, string? Key);

public sealed record StatusReport(string Pipeline, IReadOnlyList<StageStatusEntry> Stages)
{
    public StageStatusEntry this[string stage] => Stages.First(s => s.Stage == stage);
    public bool UpToDate => Stages.All(s => s.State == StageState.UpToDate);
}

/// <summary>One stage's verdict on a record, for <c>iwsft why</c>.</summary>
public sealed record RecordDecision(string Stage, bool Kept, string Reason, string? Detail);

public sealed record WhyReport(string Pipeline, string RecordId, IReadOnlyList<RecordDecision> Decisions, IReadOnlyList<string> StagesNotMaterialised)
{
    public bool Found => Decisions.Count > 0;

    /// <summary>
    /// The first stage (in DAG order) that kept no occurrence of the record; null when every stage that decided
    /// kept it. A stage that kept one occurrence and dropped others (ingest's exact duplicates) dropped the
    /// duplicates, not the record.
    /// </summary>
    public string? DroppedAt => Decisions.GroupBy(d => d.Stage).FirstOrDefault(g => !g.Any(d => d.Kept))?.Key;
}

/// <summary>Receives run progress (the CLI renders it live or as log lines). Called from several threads.</summary>
public interface IProgressSink
{
    void RunStarted(string pipeline, IReadOnlyList<string> stages);
    void StageStarted(string stage);
    void StageProgress(string stage, long done, long? total, string unit);
    void StageLog(string stage, string message);
    void StageFinished(StageResult result);
    void RunFinished(RunResult result);
}
