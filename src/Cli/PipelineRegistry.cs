using IwSft.Runtime;

namespace IwSft.Cli;

/// <summary>
/// The pipelines the command line knows, by name: this repository's catalog for <c>iwsft</c>, or whatever a user's own
/// program passes to <see cref="IwSftCli.Run"/>.
/// </summary>
public sealed class PipelineRegistry
{
    public PipelineRegistry(IEnumerable<IPipelineDefinition> pipelines)
    {
        All = [.. pipelines];
        if (All.Count == 0) throw new ArgumentException("no pipelines given: pass at least one pipeline definition");
        var duplicate = All.GroupBy(p => p.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"two pipelines are named '{duplicate.Key}': names identify pipelines in the store, so they must be unique");
    }

    public IReadOnlyList<IPipelineDefinition> All { get; }

    public IPipelineDefinition Get(string name) =>
        All.FirstOrDefault(p => p.Name == name)
        ?? throw new KeyNotFoundException($"unknown pipeline '{name}'; available: {string.Join(", ", All.Select(p => p.Name))}");

    public Pipeline Build(string name, PipelineBuildOptions options) => Get(name).Build(options);
}
