using System.CommandLine;

namespace IwSft.Cli;

/// <summary>Every top-level command; each area of the tool adds its commands in its own file.</summary>
public static partial class CommandCatalog
{
    public static IEnumerable<Command> All()
    {
        yield return ListCommand();
        foreach (var c in EngineCommands.All()) yield return c;
        yield return ModelCommand();
        yield return ReportCommands.Report();
        yield return GradeCommand.Create();
        yield return EvalCiCommands.Metrics();
        yield return Ui.UiCommand.Create();
    }

    static Command ListCommand()
    {
        var c = new Command("list", "List the pipelines available.");
        c.SetAction(_ =>
        {
            foreach (var p in IwSft.Pipelines.PipelineCatalog.All) Console.WriteLine($"{p.Name,-12} {p.Description}");
            return 0;
        });
        return c;
    }
}
