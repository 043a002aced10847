using System.CommandLine;
using IwSft.Runtime;

namespace IwSft.Cli.Ui;

/// <summary><c>iwsft ui</c>: the read-only local web view of pipelines, runs, lineage and results.</summary>
public static class UiCommand
{
    public static Command Create(PipelineRegistry pipelines)
    {
        var store = new Option<string?>("--store") { Description = "Artifact store directory (default: .iwsft in the current directory)." };
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port).", DefaultValueFactory = _ => 8080 };
        var host = new Option<string>("--host") { Description = "Address to bind (default 127.0.0.1: this machine only).", DefaultValueFactory = _ => "127.0.0.1" };
        var quick = new Option<bool>("--quick") { Description = "Show the pipelines' small variants (as `run --quick` built them)." };
        var c = new Command("ui", "Serve a read-only web view of the pipelines, runs, lineage and results in the store.") { store, port, host, quick };
        c.SetAction((pr, ct) => EngineCommands.Guard(async () =>
        {
            await using var server = await UiServer.StartAsync(new UiOptions
            {
                StoreDirectory = pr.GetValue(store) ?? ArtifactStore.DefaultRoot, Port = pr.GetValue(port), Host = pr.GetValue(host)!, Quick = pr.GetValue(quick), Pipelines = pipelines.All,
            }, ct);
            Console.WriteLine($"iwsft ui: {server.BaseAddress} (read-only view of {Path.GetFullPath(pr.GetValue(store) ?? ArtifactStore.DefaultRoot)}; Ctrl-C to stop)");
            await server.WaitAsync(ct);
            return 0;
        }));
        return c;
    }
}
