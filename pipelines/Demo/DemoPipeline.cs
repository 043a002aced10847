using IwSft.Gpu.Training;
using IwSft.Pipelines.Demo.Stages;
using IwSft.Runtime;
using IwSft.Stages.Curate.Filter;
using IwSft.Stages.Curate.Format;
using IwSft.Stages.Curate.Weight;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;
using IwSft.Stages.OpenAi;
using IwSft.Stages.Reporting;
using IwSft.Stages.Training;

namespace IwSft.Pipelines.Demo;

/// <summary>
/// The embedded CPU demo (docs/demo.md): generated task → ingest → decontaminate → reference policy trained
/// on a behaviour mixture → K samples per problem → verifier → filter (D+) → quality weights → format →
/// reference log-probs → SFT / SFT(Q) / iw-SFT per seed → evaluation → report.
/// </summary>
public sealed class DemoPipeline(string name = "demo", DemoSettings? full = null, DemoSettings? quick = null)
    : IPipelineDefinition
{
    public static readonly string[] Methods = ["sft", "sft_q", "iw_sft", "iw_sft_token"];

    public string Name { get; } = name;
    public string Description => "embedded CPU demo: verifiable arithmetic task, tiny reference policy trained in the pipeline, SFT vs SFT(Q) vs iw-SFT (sequence and token level) over 5 seeds";

    /// <summary>Pure: reads and writes nothing and changes no process state (the task files are a stage's output;
    /// libtorch's thread count is the host's, see IwSft.Gpu.TorchThreads).</summary>
    public Pipeline Build(PipelineBuildOptions options) => Build(Name, options.Quick ? quick ?? DemoSettings.Quick : full ?? DemoSettings.Full);

    /// <param name="sampleGenerators">Where the reference is sampled for D+: null = in process; an
    /// <see cref="OpenAiCompletionGeneratorFactory"/> samples it behind a server (e.g. <c>iwsft serve</c>).</param>
    public static Pipeline Build(string name, DemoSettings s, ICompletionGeneratorFactory? sampleGenerators = null) =>
        new DemoBuilder(new Pipeline(name, "embedded CPU demo"), s, sampleGenerators ?? new TransformerCompletionGeneratorFactory()).Build();

    /// <summary>The demo's DAG, one part per method: task, reference policy, curation, evaluation, fine-tunes.</summary>
    sealed class DemoBuilder(Pipeline p, DemoSettings s, ICompletionGeneratorFactory sampleGenerators)
    {
        OutputRef _tokenizer = null!, _problems = null!, _demonstrations = null!, _evalItems = null!, _referenceModel = null!, _sequences = null!, _refLogProbs = null!;
        DecontaminateStage _decontaminate = null!;
        VerifyStage _verify = null!;
        FilterStage _filter = null!;
        TrainStage _reference = null!;
        EvaluateStage _greedy = null!, _sampled = null!;
        EvalReportStage _reportGreedy = null!;

        public Pipeline Build()
        {
            _tokenizer = p.Add(new CharTokenizerStage("tokenizer"))[CharTokenizerStage.TokenizerOutput];
            AddTask();
            AddReferencePolicy();
            AddCuration();
            AddEvaluation();
            foreach (var method in Methods)
                foreach (var seed in s.Seeds)
                    AddFineTune(method, seed);
            return p;
        }

        /// <summary>The generated task, ingested and decontaminated like a user's own files.</summary>
        void AddTask()
        {
            var task = p.Add(new GenerateTaskStage("task", new GenerateTaskConfig
            {
                TrainProblems = s.TrainProblems, EvalProblems = s.EvalProblems, TrainSeed = s.TrainSeed, EvalSeed = s.EvalSeed,
                PlantEvalInTrain = s.PlantEvalInTrain,
            }))[GenerateTaskStage.TaskOutput];
            var ingestTrain = p.Add(new IngestStage("ingest_train", new IngestConfig
            {
                Mode = IngestMode.Candidates, Sources = [new IngestSource { Path = DemoData.TrainFile, Name = "demo_train" }],
            }));
            var ingestEval = p.Add(new IngestStage("ingest_eval", new IngestConfig
            {
                Mode = IngestMode.Benchmark, Sources = [new IngestSource { Path = DemoData.EvalFile, Name = "demo_eval" }],
            }));
            ingestTrain.From(IngestStage.FilesInput, task);
            ingestEval.From(IngestStage.FilesInput, task);
            _evalItems = ingestEval[IngestStage.BenchmarkOutput];
            // s1's defaults (word 8-grams over the question); the task is built so they are a real check.
            _decontaminate = p.Add(new DecontaminateStage("decontaminate", new DecontaminateConfig { N = 8, BenchmarkInputs = ["benchmarks"] }));
            _decontaminate.From(DecontaminateStage.CandidatesInput, ingestTrain[IngestStage.CandidatesOutput]).From("benchmarks", _evalItems);
            _problems = _decontaminate[DecontaminateStage.CleanOutput];
        }

        /// <summary>The reference policy: a random tiny Qwen2-shaped model trained from scratch on the behaviour mixture.</summary>
        void AddReferencePolicy()
        {
            var demonstrate = p.Add(new DemonstrateStage("demonstrate", new DemonstrateConfig
            {
                CarefulWeight = s.CarefulWeight, ShortcutCorrectProbability = s.ShortcutCorrectProbability, PerProblem = s.DemonstrationsPerProblem,
                ReferenceShare = s.ReferenceShare, DrillsPerProblem = s.DrillsPerProblem,
            }));
            demonstrate.From(DemonstrateStage.ProblemsInput, _problems);
            _demonstrations = demonstrate[DemonstrateStage.DemonstrationsOutput];
            var formatReference = p.Add(Format("format_reference"));
            formatReference.From("records", demonstrate[DemonstrateStage.DemonstrationsOutput]).From("tokenizer", _tokenizer);
            var init = p.Add(new InitModelStage("init_reference", new InitModelConfig { HiddenSize = s.HiddenSize, Layers = s.Layers, IntermediateSize = 3 * s.HiddenSize }));
            _reference = p.Add(new TrainStage("train_reference", new TrainStageConfig
            {
                Trainer = new TrainerConfig
                {
                    Loss = LossKind.Sft, LearningRate = s.ReferenceLearningRate, MaxSteps = s.ReferenceSteps, GlobalBatchSize = s.BatchSize,
                    MicroBatchSize = s.BatchSize, WarmupRatio = 0.05, WeightDecay = 0.0, MaxSequenceLength = 256, Seed = 1,
                },
                LogEvery = 50,
            }));
            _reference.From("sequences", formatReference["sequences"]).From("base_model", init[InitModelStage.ModelOutput]);
            _referenceModel = _reference["model"];
        }

        /// <summary>Candidates from the reference, graded by the verifier; D+ = the correct ones, weighted, formatted, scored by the reference.</summary>
        void AddCuration()
        {
            var sample = p.Add(new SampleStage("sample", sampleGenerators,
                new SampleConfig { SamplesPerProblem = s.SamplesPerProblem }));
            sample.From(SampleStage.ProblemsInput, _problems).From(SampleStage.DemonstrationsInput, _demonstrations).From(SampleStage.ModelInput, _referenceModel).From(SampleStage.TokenizerInput, _tokenizer);
            _verify = p.Add(new VerifyStage("verify"));
            _verify.From(VerifyStage.CompletionsInput, sample[SampleStage.SamplesOutput]);
            _filter = p.Add(new FilterStage("filter", new FilterConfig { RequiredColumns = ["question", "trace"], WeirdStrings = false }));
            // The sparse reward is the curation filter; min_quality (off by default) can tighten it further.
            _filter.AddRule("incorrect", 1, row => row.Bool("correct") == true ? null : $"final answer {row.String("attempt") ?? "(none)"} != {row.String("answer")}");
            _filter.From("records", _verify[VerifyStage.VerifiedOutput]);
            var weight = p.Add(new QualityWeightStage("weight", new QualityWeightConfig
            {
                Mode = QualityWeightMode.Power, QualityMin = 0, QualityMax = 1, Alpha = 1, NormalizeMean = true,
            }));
            weight.From("records", _filter["records"]);
            var format = p.Add(Format("format"));
            format.From("records", weight["records"]).From("tokenizer", _tokenizer);
            _sequences = format["sequences"];
            var refLogProbs = p.Add(new ReferenceLogProbStage("ref_logprobs", new ReferenceLogProbConfig { BatchSize = 64, ChunkSize = 512 }));
            refLogProbs.From("sequences", _sequences).From("reference_model", _referenceModel);
            _refLogProbs = refLogProbs["ref_logprobs"];
        }

        /// <summary>Greedy and sampled evaluation of every checkpoint on the held-out problems, and the reports.</summary>
        void AddEvaluation()
        {
            _greedy = new EvaluateStage("evaluate_greedy", new TransformerCompletionGeneratorFactory(),
                new EvaluateConfig { SamplesPerItem = 1, Temperature = 0, MaxNewTokens = 48, BatchSize = 64 }, new DemoPromptFormatter());
            _sampled = new EvaluateStage("evaluate_sampled", new TransformerCompletionGeneratorFactory(),
                new EvaluateConfig { SamplesPerItem = 1, Temperature = 1.0, MaxNewTokens = 48, BatchSize = 64, MaxItemsPerBenchmark = s.SampledEvalItems, Seed = 7 },
                new DemoPromptFormatter());
            foreach (var e in new[] { _greedy, _sampled })
            {
                p.Add(e);
                e.From(EvaluateStage.ItemsInput, _evalItems).From(EvaluateStage.TokenizerInput, _tokenizer);
                e.AddCheckpoint("reference", _referenceModel);
            }
            var report = p.Add(new ReportStage("report"));
            report.From(ReportStage.GreedyInput, _greedy[EvaluateStage.ResultsOutput]).From(ReportStage.SampledInput, _sampled[EvaluateStage.ResultsOutput])
                .From(ReportStage.ContaminationInput, _decontaminate[Stage.DecisionsOutput]).From(ReportStage.VerifiedInput, _verify[VerifyStage.VerifiedOutput])
                .From(ReportStage.CuratedInput, _filter["records"]);
            _reportGreedy = p.Add(new EvalReportStage("report_greedy", new EvalReportConfig { Title = "Demo: greedy accuracy on held-out problems" }));
            _reportGreedy.From(EvalReportStage.ResultsInput, _greedy[EvaluateStage.ResultsOutput]);
            var reportSampled = p.Add(new EvalReportStage("report_sampled", new EvalReportConfig { Title = "Demo: sampled pass@1 (temperature 1) on held-out problems" }));
            reportSampled.From(EvalReportStage.ResultsInput, _sampled[EvaluateStage.ResultsOutput]);
            _reportGreedy.AddTrainingMetrics("reference", _reference["metrics"]);
        }

        /// <summary>One fine-tune of the reference on D+ with one method and seed, evaluated and reported.</summary>
        void AddFineTune(string method, int seed)
        {
            var train = p.Add(new TrainStage($"train_{method}_s{seed}", new TrainStageConfig
            {
                Trainer = new TrainerConfig
                {
                    Loss = method switch { "iw_sft" => LossKind.IwSftSequence, "iw_sft_token" => LossKind.IwSftToken, _ => LossKind.Sft },
                    Sampling = method == "sft_q" ? SamplingMode.Weighted : SamplingMode.Shuffle,
                    Reference = ReferenceSource.Precomputed,
                    LearningRate = s.FineTuneLearningRate, MaxSteps = s.FineTuneSteps, GlobalBatchSize = s.BatchSize, MicroBatchSize = s.BatchSize,
                    WarmupRatio = 0.05, WeightDecay = 1e-4, MaxSequenceLength = 256, Seed = (ulong)seed,
                },
                LogEvery = 20,
            }));
            train.From("sequences", _sequences).From("base_model", _referenceModel);
            if (method.StartsWith("iw_sft", StringComparison.Ordinal)) train.From("ref_logprobs", _refLogProbs);
            foreach (var e in new[] { _greedy, _sampled }) e.AddCheckpoint($"{method}_s{seed}", train["model"]);
            _reportGreedy.AddTrainingMetrics($"{method}_s{seed}", train["metrics"]);
        }
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
