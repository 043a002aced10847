using IwSft.Runtime;

namespace IwSft.Pipelines;

/// <summary>The pipelines this repository defines, by name.</summary>
public static class PipelineCatalog
{
    public static IReadOnlyList<IPipelineDefinition> All { get; } = new IPipelineDefinition[]
    {
        new Demo.DemoPipeline(),
        new Example.ExamplePipeline("example"),
        new Bandit.BanditPipeline(),
        new Control.ControlPipeline(),
        new S1k.S1kPipeline(),
        new Eval.EvalPipeline(),
    };

    public static IPipelineDefinition Get(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new KeyNotFoundException($"unknown pipeline '{name}'; available: {string.Join(", ", All.Select(p => p.Name))}");
}
