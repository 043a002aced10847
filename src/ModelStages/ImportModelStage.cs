using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Stages;

namespace IwSft.Stages;

public sealed class ImportModelConfig
{
    /// <summary>A Hugging Face checkpoint directory (config.json + *.safetensors, tokenizer files).</summary>
    public string Path { get; set; } = "";
}

/// <summary>
/// Brings a checkpoint directory from outside the store into it, so that downstream stages bind it as a
/// directory input and their cache keys carry its content hash (a changed model reruns them). The
/// directory is copied once; the engine hashes the external directory by (path, size, mtime) afterwards.
/// </summary>
public sealed class ImportModelStage(string name, ImportModelConfig? config = null) : Stage<ImportModelConfig>(name, config)
{
    public const string ModelOutput = "model";
    public override string Kind => "import-model";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Dir(ModelOutput)];
    public override IEnumerable<string> ExternalInputs => string.IsNullOrEmpty(Config.Path) ? [] : [Config.Path];

    public override Task RunAsync(IStageContext context)
    {
        var source = Config.Path;
        if (string.IsNullOrWhiteSpace(source))
            throw new ArgumentException($"stage '{Name}': path is not configured (set it with --set {Name}.path=DIR or the settings file)");
        if (!File.Exists(System.IO.Path.Combine(source, Checkpoint.ConfigFile)))
            throw new FileNotFoundException($"stage '{Name}': '{source}' is not a checkpoint directory (no {Checkpoint.ConfigFile})");
        var target = context.OutputDirectory(ModelOutput);
        long bytes = 0;
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var destination = System.IO.Path.Combine(target, System.IO.Path.GetRelativePath(source, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
            File.Copy(file, destination);
            bytes += new FileInfo(file).Length;
        }
        context.SetMetric("bytes", bytes);
        return Task.CompletedTask;
    }
}
