using IwSft.Gpu.Models;
using IwSft.Pipelines.S1k.Stages;
using IwSft.Runtime;
using IwSft.Stages;
using IwSft.Stages.Curate;
using IwSft.Stages.Curate.Export;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;
using IwSft.Stages.Reporting;
using IwSft.Stages.Training;

namespace IwSft.Pipelines.S1k;

/// <summary>
/// The S1K recipe end to end (DESIGN.md sections 2–3): ingest the candidate pool and the benchmarks →
/// 8-gram decontamination → judge featurisation (MSC domain, grading of the attempt and of each reference
/// model's answer) → trace lengths → s1 filters → 1K selection → Qwen chat template with the think/answer
/// layout → reference log-probs under the starting model → iw-SFT → evaluation of base and trained model →
/// report. One definition; the full-size run and the CPU test differ only in <see cref="S1kSettings"/>.
/// </summary>
public sealed class S1kPipeline(Func<S1kSettings>? settings = null) : IPipelineDefinition
{
    public string Name => "s1k";
    public string Description => "S1K at scale: ingest, decontaminate, judge features, s1 filter + 1K selection, format, reference log-probs, iw-SFT, evaluate";

    /// <summary>The configured settings, or with <c>--quick</c> <see cref="S1kSettings.Quick"/> on the shared data (<see cref="PipelineData.Root"/>).</summary>
    public Pipeline Build(PipelineBuildOptions options) => options.Quick && settings is null
        ? Build(Name, S1kSettings.Quick(), options.DataRoot ?? PipelineData.Root())
        : Build(Name, (settings ?? S1kSettings.Load)(), DataRoot(options));

    static string DataRoot(PipelineBuildOptions options) =>
        options.DataRoot ?? (Environment.GetEnvironmentVariable("IWSFT_DATA") is { Length: > 0 } env ? env : "data");

    public static Pipeline Build(string name, S1kSettings s, string dataRoot)
    {
        var p = new Pipeline(name, "S1K recipe");
        IngestSource Resolve(IngestSource src)
        {
            var copy = Clone(src);
            copy.Path = S1kSettings.Expand(src.Path, dataRoot);
            return copy;
        }

        var candidates = p.Add(new IngestStage("ingest", new IngestConfig { Mode = IngestMode.Candidates, Sources = s.Candidates.Select(Resolve).ToList() }));
        var benchmarks = p.Add(new IngestStage("benchmarks", new IngestConfig { Mode = IngestMode.Benchmark, Sources = s.Benchmarks.Select(Resolve).ToList() }));
        var decontam = p.Add(new DecontaminateStage("decontaminate", Clone(s.Decontaminate, dc => dc.BenchmarkInputs = ["benchmarks"])));
        decontam.From(DecontaminateStage.CandidatesInput, candidates[candidates.MainOutput]).From("benchmarks", benchmarks[benchmarks.MainOutput]);

        // A smoke run's toy checkpoint stands in for the base model under the same stage name.
        var baseModel = s.ToyModel is { } toy
            ? p.Add(new ToyModelStage("base_model", Clone(toy)))[ToyModelStage.ModelOutput]
            : p.Add(new ImportModelStage("base_model", new ImportModelConfig { Path = s.BaseModel }))[ImportModelStage.ModelOutput];
        var referenceModel = s.ReferenceModel is { Length: > 0 } refPath && refPath != s.BaseModel
            ? p.Add(new ImportModelStage("reference_model", new ImportModelConfig { Path = refPath }))[ImportModelStage.ModelOutput]
            : baseModel;
        // The judge in process: a configured checkpoint, else a smoke run's toy model; otherwise a server answers.
        OutputRef? judgeModel = s.Judge.Checkpoint is { Length: > 0 } judgePath
            ? p.Add(new ImportModelStage("judge_model", new ImportModelConfig { Path = judgePath }))[ImportModelStage.ModelOutput]
            : s.ToyModel is not null ? baseModel : null;

        bool cuda = s.Device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        string inferenceDType = s.InferenceDType ?? (cuda ? "bfloat16" : "float32");
        var modelOptions = new ModelOptions(s.Device, inferenceDType, s.ComputeDType ?? (cuda ? "bfloat16" : null));
        var generators = new TransformerCompletionGeneratorFactory(modelOptions, s.InferenceDevices);

        var chain = S1kCuration.Add(p, decontam[DecontaminateStage.CleanOutput], new S1kCurationOptions
        {
            JudgeBaseUrl = s.Judge.BaseUrl, JudgeModel = s.Judge.Model, ApiKeyEnv = s.Judge.ApiKeyEnv, MaxConcurrency = s.Judge.MaxConcurrency,
            Resilience = s.Judge.Resilience, ReferenceModels = s.ReferenceModels, Select = s.Select, BlockSize = s.BlockSize,
            Tokenizer = s.LengthTokenizer ?? "", GuidedChoice = s.Judge.GuidedChoice,
            JudgeCheckpoint = judgeModel, JudgeGenerators = judgeModel is null ? null : generators,
            AttemptModels = s.ReferenceModels.Where(m => m.Checkpoint is { Length: > 0 }).ToDictionary(m => m.Name, m =>
            (
                m.Checkpoint == ReferenceModelAnswers.BaseModel ? baseModel
                    : p.Add(new ImportModelStage($"model_{m.Name}", new ImportModelConfig { Path = m.Checkpoint! }))[ImportModelStage.ModelOutput],
                m.Server is { } server ? new IwSft.Stages.OpenAi.OpenAiCompletionGeneratorFactory(Clone(server)) : (ICompletionGeneratorFactory)generators
            )),
        });
        // The model's own tokenizer: formatting always, trace lengths unless another one is configured.
        chain.Format.From("tokenizer", baseModel);
        if (s.LengthTokenizer is null) chain.Lengths.From("tokenizer", baseModel);

        var refLogProbs = p.Add(new ReferenceLogProbStage("ref_logprobs", new ReferenceLogProbConfig
        {
            Device = s.Device, Devices = [.. s.InferenceDevices], ComputeDType = s.ComputeDType, BatchSize = s.ReferenceBatchSize, ParamDType = inferenceDType,
            Server = s.ReferenceServer is null ? null : Clone(s.ReferenceServer),
        }));
        refLogProbs.From("sequences", chain.Sequences).From("reference_model", referenceModel);

        // The curated set for the Python stack: s1K-1.1's layout (+ text), and with the reference log-probs the layout
        // of the authors' trainer (emmyqin/iw_sft main.py --ref_log_probs_in_input).
        p.Add(new S1kExportStage("export", Clone(s.Export))).From(S1kExportStage.RecordsInput, chain.Curated);
        p.Add(new IwSftExportStage("export_iw_sft", Clone(s.Export)))
            .From(IwSftExportStage.RecordsInput, chain.Curated).From(IwSftExportStage.SequencesInput, chain.Sequences)
            .From(IwSftExportStage.RefLogProbsInput, refLogProbs["ref_logprobs"]);

        var trainer = Clone(s.Trainer, t => t.MaxSequenceLength = Math.Max(t.MaxSequenceLength, s.BlockSize));
        var train = p.Add(new TrainStage("train", new TrainStageConfig
        {
            Trainer = trainer, Device = s.Device, Devices = [.. s.TrainDevices], ComputeDType = s.ComputeDType, GradientCheckpointing = s.GradientCheckpointing, LossChunkTokens = s.LossChunkTokens,
            CheckpointDirectory = s.CheckpointDirectory,
        }));
        train.From("sequences", chain.Sequences).From("base_model", baseModel).From("ref_logprobs", refLogProbs["ref_logprobs"]);

        ICompletionGeneratorFactory evaluateGenerators = s.EvaluateServers is { Count: > 0 } servers
            ? new IwSft.Stages.OpenAi.OpenAiServersGeneratorFactory(servers.Select(x => Clone(x)).ToList())
            : generators;
        var evaluate = p.Add(new EvaluateStage("evaluate", evaluateGenerators, Clone(s.Evaluate)));
        evaluate.From(EvaluateStage.ItemsInput, benchmarks[benchmarks.MainOutput]);
        if (s.EvaluateBaseModel) evaluate.AddCheckpoint("base", baseModel);
        evaluate.AddCheckpoint("iw_sft", train["model"]);

        var report = p.Add(new EvalReportStage("report", new EvalReportConfig
        {
            Title = "S1K: base vs iw-SFT",
            Notes = s.ToyModel is null ? null :
            [
                "A smoke run (run s1k --quick): the base model, the reference model and the judge are one random toy checkpoint " +
                "(stage base_model, kind s1k.toy-model). The judge answers (domains, attempt grades), the reference log-probs, " +
                "the trained model and every accuracy below come from that toy model: they show the pipeline runs end to end, " +
                "not anything about iw-SFT. The candidates and benchmarks are real (shared data); decontamination and the " +
                "selection rules ran on them as in a full run.",
            ],
        }));
        report.From(EvalReportStage.ResultsInput, evaluate[EvaluateStage.ResultsOutput]);
        report.AddTrainingMetrics("iw_sft", train["metrics"]);
        return p;
    }

    static T Clone<T>(T value, Action<T>? edit = null)
    {
        var copy = System.Text.Json.JsonSerializer.Deserialize<T>(System.Text.Json.JsonSerializer.Serialize(value, S1kSettings.JsonOptions), S1kSettings.JsonOptions)!;
        edit?.Invoke(copy);
        return copy;
    }
}
