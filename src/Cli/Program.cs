namespace IwSft.Cli;

public static class Program
{
    public static int Main(string[] args) => IwSftCli.Run(args, IwSft.Pipelines.PipelineCatalog.All);
}
