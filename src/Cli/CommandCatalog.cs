using System.CommandLine;

namespace IwSft.Cli;

/// <summary>Every top-level command; each area of the tool adds its commands in its own file.</summary>
public static partial class CommandCatalog
{
    public static IEnumerable<Command> All(PipelineRegistry pipelines)
    {
        yield return ListCommand(pipelines);
        foreach (var c in EngineCommands.All(pipelines)) yield return c;
        yield return ModelCommand();
        yield return ReportCommands.Report(pipelines);
        yield return GradeCommand.Create();
        yield return EvalCiCommands.Metrics();
        yield return Ui.UiCommand.Create(pipelines);
        yield return Serve.ServeCommand.Create();
    }

    static Command ListCommand(PipelineRegistry pipelines)
    {
        var c = new Command("list", "List the pipelines available.");
        c.SetAction(_ =>
        {
            foreach (var p in pipelines.All) Console.WriteLine($"{p.Name,-12} {p.Description}");
            return 0;
        });
        return c;
    }
}
