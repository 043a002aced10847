using System.CommandLine;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Gpu.Serving;
using IwSft.Text;

namespace IwSft.Cli.Serve;

/// <summary><c>iwsft serve CHECKPOINT</c>: an OpenAI-compatible server (vLLM's protocol) over the in-process model.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var dir = new Argument<string>("checkpoint") { Description = "checkpoint directory (config.json + *.safetensors + tokenizer files)" };
        var port = new Option<int>("--port") { Description = "Port to listen on (0: any free port).", DefaultValueFactory = _ => 8000 };
        var host = new Option<string>("--host") { Description = "Address to bind (default 127.0.0.1: this machine only).", DefaultValueFactory = _ => "127.0.0.1" };
        var name = new Option<string?>("--served-model-name") { Description = "The model name clients send (default: the checkpoint directory's name)." };
        var maxBatch = new Option<int>("--max-batch") { Description = "Most sequences generated at once.", DefaultValueFactory = _ => 16 };
        var device = new Option<string>("--device") { Description = "cpu or cuda:N", DefaultValueFactory = _ => "cpu" };
        var dtype = new Option<string?>("--dtype") { Description = "parameter dtype: float32, bfloat16, float16 (default float32; bf16 compute on cuda)" };
        var c = new Command("serve", "Serve a checkpoint over the OpenAI protocol (/v1/models, /v1/completions, /v1/chat/completions), as vLLM does.")
            { dir, port, host, name, maxBatch, device, dtype };
        c.SetAction((pr, ct) => EngineCommands.Guard(async () =>
        {
            var path = Path.GetFullPath(pr.GetValue(dir)!);
            if (pr.GetValue(maxBatch) < 1) throw new ArgumentException($"--max-batch {pr.GetValue(maxBatch)}: must be at least 1");
            string dev = pr.GetValue(device)!;
            var options = dev.StartsWith("cuda", StringComparison.OrdinalIgnoreCase)
                ? new ModelOptions(dev, pr.GetValue(dtype) ?? "float32", "bfloat16") : new ModelOptions(dev, pr.GetValue(dtype) ?? "float32");
            using var engine = Open(path, options, pr.GetValue(maxBatch));
            string model = pr.GetValue(name) ?? Path.GetFileName(path.TrimEnd('/'));
            await using var server = await OpenAiServer.StartAsync(engine,
                new ServeOptions { ModelName = model, Root = path, Host = pr.GetValue(host)!, Port = pr.GetValue(port) }, ct);
            Console.WriteLine($"iwsft serve: {model} at {server.BaseAddress}v1 (Ctrl-C to stop)");
            await server.WaitAsync(ct);
            return 0;
        }));
        return c;
    }

    /// <summary>The checkpoint's model (in eval mode) and its own tokenizer.</summary>
    public static CompletionEngine Open(string checkpoint, ModelOptions options, int maxBatch)
    {
        if (!Directory.Exists(checkpoint)) throw new DirectoryNotFoundException($"checkpoint {checkpoint} does not exist");
        var tokenizer = HfTokenizer.Load(checkpoint);
        var model = Checkpoint.Load(checkpoint, options);
        model.eval();
        return new CompletionEngine(model, tokenizer, maxBatch);
    }
}
