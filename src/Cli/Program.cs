using System.CommandLine;

namespace IwSft.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("iwsft: curated-data pipelines for LLM post-training (SFT, SFT(Q), iw-SFT)");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
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
