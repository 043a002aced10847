using System.CommandLine;

namespace IwSft.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("iwsft: curated-data pipelines for LLM post-training (SFT, SFT(Q), iw-SFT)");
        foreach (var command in CommandCatalog.All()) root.Subcommands.Add(command);
        return root.Parse(args).Invoke();
    }
}
