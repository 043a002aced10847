using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Stages.Evaluate;
using IwSft.Stages.OpenAi;
using IwSft.Stages.Ingest;
using IwSft.Stages.Reporting;

namespace IwSft.Pipelines.Eval;

/// <summary>
/// Batch evaluation driven by a parameters file (<see cref="EvalParams"/>): the file itself (hashed as an
/// external input) → ingest of the listed benchmarks → evaluate every checkpoint (model directories, and store
/// artifacts used in place as external directories) → eval_summary.
/// Every sample is memoised per (checkpoint content × item × sample × generation settings), so adding a
/// checkpoint or a benchmark to the file generates only the new cells.
/// </summary>
public sealed class EvalPipeline(ICompletionGeneratorFactory? generators = null, IPromptFormatter? formatter = null) : IPipelineDefinition
{
    public const string DefaultParamsFile = "eval.json";
    public string Name => "eval";
    public string Description => "Evaluate checkpoints on benchmarks from a parameters file (--params eval.json): summary, JUnit, thresholds";

    /// <summary>From <c>--params</c>, else ./eval.json; with <c>--quick</c> and neither, the built-in example (for dag and checks; its params file does not exist).</summary>
    public Pipeline Build(PipelineBuildOptions options) =>
        options.ParamsFile is null && options.Quick && !File.Exists(DefaultParamsFile)
            ? Build(Name, EvalParams.Example())
            : Build(Name, EvalParams.Load(options.ParamsFile ?? DefaultParamsFile), options.StoreRoot);

    /// <param name="storeRoot">Where <c>store_artifact</c> checkpoints are resolved (default <see cref="ArtifactStore.DefaultRoot"/>).</param>
    public Pipeline Build(string name, EvalParams prm, string? storeRoot = null)
    {
        if (prm.NamesStoreArtifacts)
        {
            var root = Path.GetFullPath(storeRoot ?? ArtifactStore.DefaultRoot);
            // Checked first: opening a store creates its directory, and a mistyped --store should not leave one behind.
            if (!Directory.Exists(root))
                throw new InvalidDataException($"{prm.SourcePath}: the file names store artifacts, but store {root} does not exist (pass --store DIR)");
            prm.ResolveStoreArtifacts(new ArtifactStore(root));
        }
        var p = new Pipeline(name, $"evaluation from {prm.SourcePath}");
        if (File.Exists(prm.SourcePath)) p.Add(new ParamsFileStage("params", new ParamsFileConfig { Path = prm.SourcePath }));
        var items = p.Add(new IngestStage("benchmarks", new IngestConfig { Mode = IngestMode.Benchmark, Sources = prm.Benchmarks }));
        bool cuda = (prm.Devices.Count > 1 ? prm.Devices[0] : prm.Device).StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        var factory = generators ?? (prm.Server is { } server ? new OpenAiCompletionGeneratorFactory(server) : (ICompletionGeneratorFactory?)null) ?? new TransformerCompletionGeneratorFactory(new ModelOptions(prm.Device, prm.DType ?? (cuda ? "bfloat16" : "float32"), cuda ? "bfloat16" : null), prm.Devices);
        var evaluate = p.Add(new EvaluateStage("evaluate", factory, prm.Generation, formatter));
        evaluate.From(EvaluateStage.ItemsInput, items[items.MainOutput]);
        if (prm.Tokenizer?.Path is { Length: > 0 } tokenizerDir)
        {
            // A copy in the store (tokenizers are small) so the evaluate stage gets it as an ordinary input, whose
            // content hash joins every sample's key.
            var tokenizer = p.Add(new ExternalDirectoryStage("tokenizer", new ExternalDirectoryConfig { Path = tokenizerDir }));
            evaluate.From(EvaluateStage.TokenizerInput, tokenizer[ExternalDirectoryStage.Output]);
        }
        foreach (var c in prm.Checkpoints) evaluate.AddExternalCheckpoint(c.Label, c.Path);
        var report = p.Add(new EvalReportStage("report", new EvalReportConfig { Title = "Evaluation", PassAtK = prm.PassAtK }));
        report.From(EvalReportStage.ResultsInput, evaluate[EvaluateStage.ResultsOutput]);
        return p;
    }
}

public sealed class ParamsFileConfig
{
    public string Path { get; set; } = "";
}

/// <summary>Keeps a copy of the parameters file in the store; the file is an external input, so its content hash is in the key.</summary>
public sealed class ParamsFileStage(string name, ParamsFileConfig? config = null) : Stage<ParamsFileConfig>(name, config)
{
    public const string Output = "params";
    public override string Kind => "params-file";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Dir(Output)];
    public override IEnumerable<string> ExternalInputs => [Config.Path];

    public override Task RunAsync(IStageContext ctx)
    {
        File.Copy(Config.Path, System.IO.Path.Combine(ctx.OutputDirectory(Output), System.IO.Path.GetFileName(Config.Path)));
        return Task.CompletedTask;
    }
}

public sealed class ExternalDirectoryConfig
{
    public string Path { get; set; } = "";
}

/// <summary>Copies a small directory from outside the pipeline (a tokenizer) into the store; its content hash is in the key.</summary>
public sealed class ExternalDirectoryStage(string name, ExternalDirectoryConfig? config = null) : Stage<ExternalDirectoryConfig>(name, config)
{
    public const string Output = "dir";
    public override string Kind => "external-directory";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Dir(Output)];
    public override IEnumerable<string> ExternalInputs => [Config.Path];

    public override Task RunAsync(IStageContext ctx)
    {
        if (!Directory.Exists(Config.Path)) throw new DirectoryNotFoundException($"stage '{Name}': directory '{Config.Path}' not found");
        var dest = ctx.OutputDirectory(Output);
        foreach (var file in Directory.EnumerateFiles(Config.Path, "*", SearchOption.AllDirectories))
        {
            var target = System.IO.Path.Combine(dest, System.IO.Path.GetRelativePath(Config.Path, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
        return Task.CompletedTask;
    }
}
