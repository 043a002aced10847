using System.Text.Json.Nodes;
using IwSft.Pipelines;
using IwSft.Runtime;

namespace IwSft.Cli.Ui;

/// <summary>How a stage is drawn: from <c>status</c> (up to date / stale), the lock (never run) and the latest manifest (failed).</summary>
enum NodeState { UpToDate, Stale, Failed, NeverRun }

/// <summary>One stage as the pages show it: its status entry (the runner's own), lock entry and latest manifest entry.</summary>
sealed record StageView(Stage Stage, StageStatusEntry Status, LockEntry? Lock, JsonNode? LastRun, NodeState State)
{
    public static string CssClass(NodeState s) => s switch
    {
        NodeState.UpToDate => "up-to-date", NodeState.Stale => "stale", NodeState.Failed => "failed", _ => "never-run",
    };

    public static string Label(NodeState s) => CssClass(s).Replace('-', ' ');
}

/// <summary>A pipeline's state for the pages: every stage in dependency order, and its run manifests (newest first).</summary>
sealed record PipelineView(Pipeline Pipeline, IReadOnlyList<StageView> Stages, IReadOnlyList<RunManifestView> Runs)
{
    public StageView this[string stage] => Stages.FirstOrDefault(s => s.Stage.Name == stage) ?? throw new KeyNotFoundException($"pipeline '{Pipeline.Name}' has no stage '{stage}'");
}

/// <summary>A run manifest as read from <c>pipelines/NAME/runs/RUNID.json</c>.</summary>
sealed record RunManifestView(string RunId, string Path, JsonNode Json)
{
    public JsonNode? Stage(string name) => Json["stages"]?[name];
    public bool Succeeded => Json["succeeded"]?.GetValue<bool>() ?? false;
    public string Started => Json["started_utc"]?.ToString() ?? "";
    public double DurationMs => Json["duration_ms"]?.GetValue<double>() ?? 0;
}

/// <summary>
/// What every page reads: the store, opened read-only (<see cref="ArtifactStore.OpenReadOnly"/>), and the pipeline
/// definitions. Everything is read again on each request, so a page shows the store as it is now (a run in
/// progress included); nothing is cached between requests and nothing is written.
/// </summary>
sealed class UiSite(ArtifactStore store, IReadOnlyList<IPipelineDefinition> definitions, bool quick)
{
    public ArtifactStore Store { get; } = store;
    public IReadOnlyList<IPipelineDefinition> Definitions { get; } = definitions;
    public bool Quick { get; } = quick;

    public IPipelineDefinition Definition(string name) =>
        Definitions.FirstOrDefault(d => d.Name == name) ?? throw new KeyNotFoundException($"unknown pipeline '{name}'");

    public Pipeline Build(string name) => Definition(name).Build(new PipelineBuildOptions { Quick = Quick, StoreRoot = Store.Root });

    /// <summary>The pipeline's stages with the status <c>iwsft status</c> computes (the same runner code, on the read-only store).</summary>
    public PipelineView View(string name)
    {
        var p = Build(name);
        var status = new PipelineRunner(Store).Status(p);
        var lk = Store.ReadLock(p.Name);
        var runs = Runs(p.Name);
        var last = runs.FirstOrDefault();
        var stages = PipelineRunner.Order(p).Select(s =>
        {
            var st = status[s.Name];
            var entry = lk.Stages.GetValueOrDefault(s.Name);
            var lastRun = last?.Stage(s.Name);
            var state = lastRun?["status"]?.ToString() == "failed" && st.State != StageState.UpToDate ? NodeState.Failed
                : st.State == StageState.UpToDate ? NodeState.UpToDate
                : entry is null ? NodeState.NeverRun : NodeState.Stale;
            return new StageView(s, st, entry, lastRun, state);
        }).ToList();
        return new PipelineView(p, stages, runs);
    }

    /// <summary>Run manifests, newest first; a manifest that cannot be parsed is skipped (it may be mid-rename by a run).</summary>
    public IReadOnlyList<RunManifestView> Runs(string pipeline)
    {
        var list = new List<RunManifestView>();
        foreach (var path in Store.RunManifests(pipeline).Reverse())
        {
            try
            {
                if (JsonNode.Parse(File.ReadAllText(path)) is { } json)
                    list.Add(new RunManifestView(System.IO.Path.GetFileNameWithoutExtension(path), path, json));
            }
            catch (Exception e) when (e is IOException or System.Text.Json.JsonException) { }
        }
        return list;
    }
}
