using IwSft.Gpu.Training;
using IwSft.Pipelines.Demo.Stages;
using IwSft.Runtime;
using IwSft.Stages.Curate.Filter;
using IwSft.Stages.Curate.Format;
using IwSft.Stages.Curate.Weight;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;
using IwSft.Stages.Reporting;
using IwSft.Stages.Training;

namespace IwSft.Pipelines.Demo;

/// <summary>
/// The embedded CPU demo (docs/demo.md): generated task → ingest → decontaminate → reference policy trained
/// on a behaviour mixture → K samples per problem → verifier → filter (D+) → quality weights → format →
/// reference log-probs → SFT / SFT(Q) / iw-SFT per seed → evaluation → report.
/// </summary>
public sealed class DemoPipeline(string name = "demo", DemoSettings? full = null, DemoSettings? quick = null, string? inputsDirectory = null)
    : IPipelineDefinition
{
    public static readonly string[] Methods = ["sft", "sft_q", "iw_sft"];

    public string Name { get; } = name;
    public string Description => "embedded CPU demo: verifiable arithmetic task, tiny reference policy trained in the pipeline, SFT vs SFT(Q) vs iw-SFT over 3 seeds";

    public Pipeline Build(PipelineBuildOptions options)
    {
        // Building changes no process state: libtorch's thread count is the host's (IwSft.Gpu.TorchThreads).
        var s = options.Quick ? quick ?? DemoSettings.Quick : full ?? DemoSettings.Full;
        var dir = inputsDirectory ?? Path.Combine(Environment.CurrentDirectory, ".iwsft", "inputs", options.Quick ? Name + "-quick" : Name);
        return Build(Name, s, DemoData.Write(dir, s.TrainProblems, s.EvalProblems, s.TrainSeed, s.EvalSeed, s.PlantEvalInTrain));
    }

    public static Pipeline Build(string name, DemoSettings s, DemoData.Files files)
    {
        var p = new Pipeline(name, "embedded CPU demo");
        var tokenizer = p.Add(new CharTokenizerStage("tokenizer"));

        var ingestTrain = p.Add(new IngestStage("ingest_train", new IngestConfig
        {
            Mode = IngestMode.Candidates, Sources = [new IngestSource { Path = files.Train, Name = "demo_train" }],
        }));
        var ingestEval = p.Add(new IngestStage("ingest_eval", new IngestConfig
        {
            Mode = IngestMode.Benchmark, Sources = [new IngestSource { Path = files.Eval, Name = "demo_eval" }],
        }));
        // s1's defaults (word 8-grams over the question); the task is built so they are a real check.
        var decontaminate = p.Add(new DecontaminateStage("decontaminate", new DecontaminateConfig { N = 8, BenchmarkInputs = ["benchmarks"] }));
        decontaminate.From(DecontaminateStage.CandidatesInput, ingestTrain[IngestStage.CandidatesOutput])
            .From("benchmarks", ingestEval[IngestStage.BenchmarkOutput]);
        var problems = decontaminate[DecontaminateStage.CleanOutput];

        // The reference policy: a random tiny Qwen2-shaped model trained from scratch on the behaviour mixture.
        var demonstrate = p.Add(new DemonstrateStage("demonstrate", new DemonstrateConfig
        {
            CarefulWeight = s.CarefulWeight, ShortcutCorrectProbability = s.ShortcutCorrectProbability, PerProblem = s.DemonstrationsPerProblem,
        }));
        demonstrate.From(DemonstrateStage.ProblemsInput, problems);
        var formatReference = p.Add(Format("format_reference"));
        formatReference.From("records", demonstrate[DemonstrateStage.DemonstrationsOutput]).From("tokenizer", tokenizer[CharTokenizerStage.TokenizerOutput]);
        var init = p.Add(new InitModelStage("init_reference", new InitModelConfig { HiddenSize = s.HiddenSize, Layers = s.Layers, IntermediateSize = 3 * s.HiddenSize }));
        var reference = p.Add(new TrainStage("train_reference", new TrainStageConfig
        {
            Trainer = new TrainerConfig
            {
                Loss = LossKind.Sft, LearningRate = s.ReferenceLearningRate, MaxSteps = s.ReferenceSteps, GlobalBatchSize = s.BatchSize,
                MicroBatchSize = s.BatchSize, WarmupRatio = 0.05, WeightDecay = 0.0, MaxSequenceLength = 256, Seed = 1,
            },
            LogEvery = 50,
        }));
        reference.From("sequences", formatReference["sequences"]).From("base_model", init[InitModelStage.ModelOutput]);
        var referenceModel = reference["model"];

        // Candidates from the reference, graded by the verifier; D+ = the correct ones.
        var sample = p.Add(new SampleStage("sample", new SampleConfig { SamplesPerProblem = s.SamplesPerProblem }));
        sample.From(SampleStage.ProblemsInput, problems).From(SampleStage.ModelInput, referenceModel)
            .From(SampleStage.TokenizerInput, tokenizer[CharTokenizerStage.TokenizerOutput]);
        var verify = p.Add(new VerifyStage("verify"));
        verify.From(VerifyStage.CompletionsInput, sample[SampleStage.SamplesOutput]);
        var filter = p.Add(new FilterStage("filter", new FilterConfig { RequiredColumns = ["question", "trace"], WeirdStrings = false }));
        // The sparse reward is the curation filter; min_quality (off by default) can tighten it further.
        filter.AddRule("incorrect", 1, row => row.Bool("correct") == true ? null : $"final answer {row.String("attempt") ?? "(none)"} != {row.String("answer")}");
        filter.From("records", verify[VerifyStage.VerifiedOutput]);
        var weight = p.Add(new QualityWeightStage("weight", new QualityWeightConfig
        {
            Mode = QualityWeightMode.Power, QualityMin = 0, QualityMax = 1, Alpha = 1, NormalizeMean = true,
        }));
        weight.From("records", filter["records"]);
        var format = p.Add(Format("format"));
        format.From("records", weight["records"]).From("tokenizer", tokenizer[CharTokenizerStage.TokenizerOutput]);
        var refLogProbs = p.Add(new ReferenceLogProbStage("ref_logprobs", new ReferenceLogProbConfig { BatchSize = 64, ChunkSize = 512 }));
        refLogProbs.From("sequences", format["sequences"]).From("reference_model", referenceModel);

        var greedy = new EvaluateStage("evaluate_greedy", new TransformerCompletionGeneratorFactory(),
            new EvaluateConfig { SamplesPerItem = 1, Temperature = 0, MaxNewTokens = 48, BatchSize = 64 }, new DemoPromptFormatter());
        var sampled = new EvaluateStage("evaluate_sampled", new TransformerCompletionGeneratorFactory(),
            new EvaluateConfig { SamplesPerItem = 1, Temperature = 1.0, MaxNewTokens = 48, BatchSize = 64, MaxItemsPerBenchmark = s.SampledEvalItems, Seed = 7 },
            new DemoPromptFormatter());
        foreach (var e in new[] { greedy, sampled })
        {
            p.Add(e);
            e.From(EvaluateStage.ItemsInput, ingestEval[IngestStage.BenchmarkOutput]).From(EvaluateStage.TokenizerInput, tokenizer[CharTokenizerStage.TokenizerOutput]);
            e.AddCheckpoint("reference", referenceModel);
        }
        var report = p.Add(new ReportStage("report"));
        report.From(ReportStage.GreedyInput, greedy[EvaluateStage.ResultsOutput]).From(ReportStage.SampledInput, sampled[EvaluateStage.ResultsOutput])
            .From(ReportStage.ContaminationInput, decontaminate[Stage.DecisionsOutput]).From(ReportStage.VerifiedInput, verify[VerifyStage.VerifiedOutput])
            .From(ReportStage.CuratedInput, filter["records"]);
        var reportGreedy = p.Add(new EvalReportStage("report_greedy", new EvalReportConfig { Title = "Demo: greedy accuracy on held-out problems" }));
        reportGreedy.From(EvalReportStage.ResultsInput, greedy[EvaluateStage.ResultsOutput]);
        var reportSampled = p.Add(new EvalReportStage("report_sampled", new EvalReportConfig { Title = "Demo: sampled pass@1 (temperature 1) on held-out problems" }));
        reportSampled.From(EvalReportStage.ResultsInput, sampled[EvaluateStage.ResultsOutput]);
        reportGreedy.AddTrainingMetrics("reference", reference["metrics"]);

        foreach (var method in Methods)
            foreach (var seed in s.Seeds)
            {
                var train = p.Add(new TrainStage($"train_{method}_s{seed}", new TrainStageConfig
                {
                    Trainer = new TrainerConfig
                    {
                        Loss = method == "iw_sft" ? LossKind.IwSftSequence : LossKind.Sft,
                        Sampling = method == "sft_q" ? SamplingMode.Weighted : SamplingMode.Shuffle,
                        Reference = ReferenceSource.Precomputed,
                        LearningRate = s.FineTuneLearningRate, MaxSteps = s.FineTuneSteps, GlobalBatchSize = s.BatchSize, MicroBatchSize = s.BatchSize,
                        WarmupRatio = 0.05, WeightDecay = 1e-4, MaxSequenceLength = 256, Seed = (ulong)seed,
                    },
                    LogEvery = 20,
                }));
                train.From("sequences", format["sequences"]).From("base_model", referenceModel);
                if (method == "iw_sft") train.From("ref_logprobs", refLogProbs["ref_logprobs"]);
                foreach (var e in new[] { greedy, sampled }) e.AddCheckpoint($"{method}_s{seed}", train["model"]);
                reportGreedy.AddTrainingMetrics($"{method}_s{seed}", train["metrics"]);
            }
        return p;
    }

    static FormatStage Format(string name) => new(name, new FormatConfig
    {
        NoSystemPrompt = true, Layout = AssistantLayout.Solution, SolutionColumn = "trace", BlockSize = 256, Truncation = TruncationPolicy.Drop,
    });
}

/// <summary>Evaluation prompts in the layout the demo model was trained on (ChatML, no system turn, no instruction).</summary>
public sealed class DemoPromptFormatter : IPromptFormatter
{
    public string Format(EvalItem item) => DemoPrompt.Prompt(item.Question);

    /// <summary>No settings: the prompt text is code, counted by the stage's code identity.</summary>
    public System.Text.Json.Nodes.JsonNode KeyIdentity() => new System.Text.Json.Nodes.JsonObject();
}
