using System.CommandLine;
using IwSft.Runtime;

namespace IwSft.Cli;

/// <summary>
/// The <c>iwsft</c> command line as a library call, so pipelines kept in another repository get the same verbs
/// (<c>run</c>, <c>status</c>, <c>dag</c>, <c>why</c>, <c>show</c>, <c>report</c>, <c>gc</c>, <c>ui</c>, ...): a user's program
/// (a file-based app or a small project referencing IwSft.Cli) ends with <c>return IwSftCli.Run(args, [new MyPipeline()]);</c>
/// (examples/my-curation).
/// </summary>
public static class IwSftCli
{
    /// <summary>Parses <paramref name="args"/> as the <c>iwsft</c> command line over <paramref name="pipelines"/>; returns the exit code.</summary>
    public static int Run(string[] args, IEnumerable<IPipelineDefinition> pipelines)
    {
        var registry = new PipelineRegistry(pipelines);
        var root = new RootCommand("iwsft: curated-data pipelines for LLM post-training (SFT, SFT(Q), iw-SFT)");
        foreach (var command in CommandCatalog.All(registry)) root.Subcommands.Add(command);
        var parsed = root.Parse(args);
        // `grade` answers with its exit code (0 equivalent, 1 not): a usage error there exits 2, not 1.
        if (parsed.Errors.Count > 0 && parsed.CommandResult.Command.Name == "grade")
        {
            foreach (var e in parsed.Errors) Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine("usage: iwsft grade GOLD PREDICTION [options] (iwsft grade --help)");
            return 2;
        }
        return parsed.Invoke();
    }
}
