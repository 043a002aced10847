using System.Text.RegularExpressions;

namespace IwSft.Runtime;

/// <summary>A DAG of stage instances. Built in code by an <see cref="IPipelineDefinition"/>.</summary>
public sealed class Pipeline
{
    readonly List<Stage> _stages = new();

    public Pipeline(string name, string description = "")
    {
        Name = name;
        Description = description;
    }

    public string Name { get; }
    public string Description { get; }
    public IReadOnlyList<Stage> Stages => _stages;

    public T Add<T>(T stage) where T : Stage
    {
        if (_stages.Any(s => s.Name == stage.Name))
            throw new ArgumentException($"pipeline '{Name}' already has a stage named '{stage.Name}'");
        StageKinds.Check(stage);
        _stages.Add(stage);
        return stage;
    }

    public Stage Get(string name) =>
        _stages.FirstOrDefault(s => s.Name == name)
        ?? throw new KeyNotFoundException($"pipeline '{Name}' has no stage '{name}'; stages: {string.Join(", ", _stages.Select(s => s.Name))}");
}

/// <summary>Options a pipeline definition is built with (sizes, where shared data lives).</summary>
public sealed record PipelineBuildOptions
{
    /// <summary>A small size of the same pipeline, for tests and smoke runs.</summary>
    public bool Quick { get; init; }
    /// <summary>Root of shared data (benchmarks, candidate pools); default ../shared/data from the repo.</summary>
    public string? DataRoot { get; init; }
    /// <summary>A parameters file for pipelines driven by one (<c>iwsft run eval --params eval.json</c>).</summary>
    public string? ParamsFile { get; init; }
    /// <summary>The store the pipeline will run against (the CLI's --store; null = <see cref="ArtifactStore.DefaultRoot"/>), for definitions that name store artifacts (eval's store_artifact checkpoints).</summary>
    public string? StoreRoot { get; init; }
}

/// <summary>A pipeline as code, registered in the pipelines catalog.</summary>
public interface IPipelineDefinition
{
    string Name { get; }
    string Description { get; }
    Pipeline Build(PipelineBuildOptions options);
}

/// <summary>
/// The one naming style of stage kinds: lower-case words joined by '-' (<c>curate-filter</c>, <c>ref-logprobs</c>);
/// a kind that belongs to one pipeline or program is prefixed with its name and a dot (<c>demo.verify</c>,
/// <c>my-curation.min-words</c>). The kind is part of every cache key, so renaming one makes its stages stale.
/// </summary>
public static partial class StageKinds
{
    [GeneratedRegex(@"^[a-z][a-z0-9]*(-[a-z0-9]+)*(\.[a-z][a-z0-9]*(-[a-z0-9]+)*)?$")]
    private static partial Regex Style();

    public static bool IsValid(string kind) => Style().IsMatch(kind);

    public static void Check(Stage stage)
    {
        if (!IsValid(stage.Kind))
            throw new ArgumentException($"stage '{stage.Name}' ({stage.GetType().Name}): kind '{stage.Kind}' does not follow the naming style: lower-case words joined by '-', optionally prefixed by a pipeline name and '.' (e.g. 'curate-filter', 'demo.verify')");
    }
}
