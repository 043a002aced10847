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
