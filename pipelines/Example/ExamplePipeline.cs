using IwSft.Runtime;

namespace IwSft.Pipelines.Example;

/// <summary>
/// The engine example: generate → square → drop_multiples (decisions) → sum_by_group, and independently
/// generate → histogram; both branches meet in a report directory. Six stages, two concurrent branches.
/// </summary>
public sealed class ExamplePipeline(string name = "example") : IPipelineDefinition
{
    public string Name { get; } = name;
    public string Description => "engine example: numbers → square → filter (decisions) → per-group sums, plus a histogram branch and a report";

    public Pipeline Build(PipelineBuildOptions options) => Build(Name, options.Quick ? 20_000 : 1_000_000);

    public static Pipeline Build(string name, long rows)
    {
        var p = new Pipeline(name, "engine example pipeline");
        var gen = p.Add(new GenerateNumbers("generate", new GenerateConfig { Count = rows }));
        var sq = p.Add(new SquareNumbers("square"));
        sq.From("numbers", gen["numbers"]);
        var filter = p.Add(new DropMultiples("drop_multiples"));
        filter.From("squared", sq["squared"]);
        var sum = p.Add(new SumByGroup("sum_by_group"));
        sum.From("rows", filter["kept"]);
        var hist = p.Add(new Histogram("histogram"));
        hist.From("numbers", gen["numbers"]);
        var report = p.Add(new WriteReport("report"));
        report.From("groups", sum["groups"]).From("histogram", hist["histogram"]);
        return p;
    }
}
