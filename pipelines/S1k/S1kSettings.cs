using System.Text.Json;
using IwSft.Runtime;
using IwSft.Stages.Curate;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Curate.Select;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;
using IwSft.Gpu.Training;

namespace IwSft.Pipelines.S1k;

/// <summary>Where the judge endpoints are: any OpenAI-compatible chat-completions server (vLLM, SGLang, a hosted API).</summary>
public sealed class S1kJudgeSettings
{
    public string BaseUrl { get; set; } = "http://127.0.0.1:8000";
    public string Model { get; set; } = "Qwen/Qwen2.5-72B-Instruct";
    /// <summary>Name of the environment variable holding the API key (null: no key, e.g. a local vLLM).</summary>
    public string? ApiKeyEnv { get; set; }
    public int MaxConcurrency { get; set; } = 16;
    public JudgeResilienceConfig Resilience { get; set; } = new();
    /// <summary>Judge in process with this checkpoint directory (imported into the store) instead of asking a server; null = the server at <see cref="BaseUrl"/>.</summary>
    public string? Checkpoint { get; set; }
    /// <summary>Constrain replies to the valid answers (vLLM's <c>structured_outputs.choice</c>; in process, constrained decoding).</summary>
    public bool GuidedChoice { get; set; }
}

/// <summary>
/// Everything the user supplies to the s1k pipeline: data paths, endpoints, models, devices, sizes. Defaults are
/// the authors' recipe and conventional locations (<c>{data}</c> = the data root: <c>PipelineBuildOptions.DataRoot</c>,
/// else env <c>IWSFT_DATA</c>, else <c>data</c>). Loaded from the JSON file named by env <c>IWSFT_S1K_SETTINGS</c>
/// (or <c>s1k.settings.json</c> in the working directory when present); keys are snake_case and a file need only
/// name what it changes. Every stage setting can further be overridden per run with <c>--set stage.key=value</c>.
/// </summary>
public sealed class S1kSettings
{
    public const string EnvVar = "IWSFT_S1K_SETTINGS";
    public const string DefaultFile = "s1k.settings.json";
    public const string DataPlaceholder = "{data}";

    /// <summary>Candidate pool: one entry per source file (the file's name is the record's <c>source</c>).</summary>
    public List<IngestSource> Candidates { get; set; } =
    [
        new() { Path = "{data}/s1k/candidates.jsonl", Name = "s1_pool" },
    ];

    /// <summary>Benchmarks for decontamination and evaluation. GPQA-Diamond is user-provided (not redistributed in plain text).</summary>
    public List<IngestSource> Benchmarks { get; set; } =
    [
        new() { Path = "{data}/benchmarks/aime24.jsonl", Name = "aime24", Question = "problem" },
        new() { Path = "{data}/benchmarks/math500.jsonl", Name = "math500", Question = "problem", ItemId = "unique_id" },
        // Options must be shuffled in the file: the evaluator letters them in file order, and the official CSV lists
        // the correct answer first (see docs/s1k.md for the expected layout).
        new() { Path = "{data}/benchmarks/gpqa_diamond.jsonl", Name = "gpqa_diamond", Question = "question", Choices = ["choices"], ItemId = "id" },
    ];

    /// <summary>s1's decontamination: word 8-grams over the question, later sources checked against earlier ones.</summary>
    public DecontaminateConfig Decontaminate { get; set; } = new() { N = 8, Fields = ["question"], ChainSources = true };

    public S1kJudgeSettings Judge { get; set; } = new();

    /// <summary>Difficulty: each model's answer (a column or <c>metadata.key</c> of the candidates) is graded → <c>solved_{name}</c>.</summary>
    public List<ReferenceModelAnswers> ReferenceModels { get; set; } =
    [
        new() { Name = "qwen2_5_7b", AnswerPlaceholder = "metadata.qwen2_5_7b_answer" },
        new() { Name = "qwen2_5_32b", AnswerPlaceholder = "metadata.qwen2_5_32b_answer" },
    ];

    public SelectConfig Select { get; set; } = new() { TargetSize = 1000, UniformUntil = 700 };

    /// <summary>Exports of the curated set (stages <c>export</c>, <c>export_iw_sft</c>): which model's s1K-1.1 columns the trace fills, text's system prompt.</summary>
    public IwSft.Stages.Curate.Export.S1kExportConfig Export { get; set; } = new();

    /// <summary>The starting model (trained, evaluated, and the source of the tokenizer).</summary>
    public string BaseModel { get; set; } = "models/Qwen2.5-32B-Instruct";
    /// <summary>π_ref for the importance weights; null = the base model (the authors' approximation of the unknown data-generating model).</summary>
    public string? ReferenceModel { get; set; }
    /// <summary>Tokenizer of trace lengths: null = the base model's; "cl100k_base" = the packaged encoding.</summary>
    public string? LengthTokenizer { get; set; }

    /// <summary>Tokens per training sequence (authors: 22,000; s1 used 32,768).</summary>
    public int BlockSize { get; set; } = 22000;

    /// <summary>
    /// iw-SFT with the authors' launch-script recipe (DESIGN.md section 2). A settings file's <c>trainer</c> object is merged
    /// into it (populated), so <c>{"trainer": {"optimiser_state_on_host": false}}</c> changes that key and keeps the recipe.
    /// </summary>
    [System.Text.Json.Serialization.JsonObjectCreationHandling(System.Text.Json.Serialization.JsonObjectCreationHandling.Populate)]
    public TrainerConfig Trainer { get; set; } = AuthorsRecipe();

    /// <summary>Torch device of reference scoring and evaluation, and of training when <see cref="TrainDevices"/> has fewer than two ("cuda:0", "cpu").</summary>
    public string Device { get; set; } = "cuda:0";
    /// <summary>Tensor-parallel devices of training (the degree is their count); default the node's 8 GPUs.</summary>
    public List<string> TrainDevices { get; set; } = Enumerable.Range(0, 8).Select(i => $"cuda:{i}").ToList();
    /// <summary>Tensor-parallel devices of reference scoring and evaluation; fewer than two = <see cref="Device"/> alone.</summary>
    public List<string> InferenceDevices { get; set; } = [];
    /// <summary>Matmul dtype; null = bf16 on CUDA, fp32 on CPU.</summary>
    public string? ComputeDType { get; set; }
    public bool GradientCheckpointing { get; set; } = true;
    /// <summary>Positions per chunk of the log-prob computation (training and reference scoring): the [T, V] logits never exist whole.</summary>
    public int LossChunkTokens { get; set; } = IwSft.Gpu.Models.ChunkedLogProbs.DefaultChunkTokens;
    /// <summary>Durable intermediate checkpoints, so a killed training resumes exactly.</summary>
    public string? CheckpointDirectory { get; set; } = "checkpoints/s1k";
    public int ReferenceBatchSize { get; set; } = 1;
    /// <summary>
    /// Weight dtype of the inference stages (reference log-probs, evaluation): bf16 puts Qwen2.5-32B (61 GiB) on one
    /// 80 GB GPU, fp32 (122 GiB) does not; null = bf16 on CUDA, fp32 on CPU. Training keeps fp32 parameters.
    /// </summary>
    public string? InferenceDType { get; set; }

    /// <summary>
    /// A smoke run's model: when set, the base model (and the judge, unless <see cref="S1kJudgeSettings.Checkpoint"/> names one)
    /// is a seeded random checkpoint with a byte-level tokenizer that the pipeline builds (stage <c>toy_model</c>), instead of
    /// <see cref="BaseModel"/>. Everything that model decides is noise, and the report says so.
    /// </summary>
    public IwSft.Pipelines.S1k.Stages.ToyModelConfig? ToyModel { get; set; }

    /// <summary>Evaluation of the base and trained models on the benchmarks (greedy).</summary>
    public EvaluateConfig Evaluate { get; set; } = new() { MaxNewTokens = 32768, BatchSize = 1 };
    /// <summary>
    /// Evaluate on OpenAI-compatible servers (vLLM: one per checkpoint, each serving the store directory of the base or
    /// trained model) instead of in process; each checkpoint goes to the server whose <c>/v1/models</c> root it is. Null = in process.
    /// </summary>
    public List<IwSft.Stages.OpenAi.OpenAiGenerationConfig>? EvaluateServers { get; set; }
    /// <summary>Score the reference log-probs on this server (vLLM's <c>prompt_logprobs</c>) instead of in process; null = in process.</summary>
    public IwSft.Stages.OpenAi.OpenAiGenerationConfig? ReferenceServer { get; set; }
    public bool EvaluateBaseModel { get; set; } = true;

    /// <summary>
    /// <c>run s1k --quick</c>: the whole recipe offline on CPU in minutes, on the real shared candidates (the first 160
    /// GSM8K train problems, whose worked solution serves as trace and attempt, and all 982 AIME 1983–2024 problems,
    /// which have no trace and are dropped by the missing-features filter after decontamination and judging) and the
    /// real AIME24 and MATH500 files, with a toy model (<see cref="ToyModel"/>) as base model, reference and in-process
    /// judge (guided choice, so every reply is a valid label). No reference models' answers exist for these sources,
    /// so the difficulty filter has nothing to drop.
    /// </summary>
    public static S1kSettings Quick() => new()
    {
        Candidates =
        [
            new() { Path = "{data}/candidates/gsm8k_train.jsonl", Name = "gsm8k", Question = "question", Solution = "answer", Trace = "answer", Attempt = "answer", Limit = 160 },
            new() { Path = "{data}/candidates/aime_1983_2024.csv", Name = "AIME_1983_2024", Question = "problem", Solution = "answer", Trace = "", Attempt = "answer" },
        ],
        Benchmarks =
        [
            new() { Path = "{data}/benchmarks/aime24.jsonl", Name = "aime24", Question = "problem" },
            new() { Path = "{data}/benchmarks/math500.jsonl", Name = "math500", Question = "problem", ItemId = "unique_id" },
        ],
        Judge = new S1kJudgeSettings { Model = "toy", GuidedChoice = true, MaxConcurrency = 1 },
        ReferenceModels = [],
        Select = new() { TargetSize = 24, UniformUntil = 16, Seed = 3 },
        ToyModel = new(),
        BlockSize = 1024,
        Trainer = QuickRecipe(),
        Device = "cpu",
        TrainDevices = ["cpu"],
        GradientCheckpointing = false,
        CheckpointDirectory = null,
        ReferenceBatchSize = 4,
        Evaluate = new EvaluateConfig { MaxNewTokens = 16, BatchSize = 8, MaxItemsPerBenchmark = 4 },
    };

    static TrainerConfig QuickRecipe()
    {
        var t = AuthorsRecipe();
        t.Epochs = 1; t.GlobalBatchSize = 4; t.MicroBatchSize = 2; t.MaxSequenceLength = 1024; t.CheckpointEvery = 0; t.OptimiserStateOnHost = false;
        return t;
    }

    public static TrainerConfig AuthorsRecipe() => new()
    {
        Loss = LossKind.IwSftSequence, Proposal = ProposalPolicy.Current, Reference = ReferenceSource.Precomputed,
        WeightTemperature = 1.0, WeightClipMin = 0.0, WeightClipMax = 16.0,
        LearningRate = 1e-5, MinLearningRate = 0.0, WarmupRatio = 0.05, Epochs = 5, WeightDecay = 1e-4, Beta1 = 0.9, Beta2 = 0.95,
        GlobalBatchSize = 8, MicroBatchSize = 1, MaxSequenceLength = 22000, CheckpointEvery = 25, KeepCheckpoints = 2,
        // Placement, not a hyperparameter (bit-identical either way): fp32 weights + gradients + AdamW moments of
        // Qwen2.5-32B are 16 B × 32.8B = 525 GB, more than 8×80 GB leaves beside activations; the moments go to host RAM.
        OptimiserStateOnHost = true,
    };

    public static readonly JsonSerializerOptions JsonOptions = new(Stage<object>.ConfigJsonOptions) { WriteIndented = true };

    /// <summary>The settings file named by <see cref="EnvVar"/>, else <see cref="DefaultFile"/> if present, else the defaults.</summary>
    public static S1kSettings Load()
    {
        var path = Environment.GetEnvironmentVariable(EnvVar);
        if (!string.IsNullOrEmpty(path))
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"s1k settings: {EnvVar}={path} does not exist");
            return FromFile(path);
        }
        return File.Exists(DefaultFile) ? FromFile(DefaultFile) : new S1kSettings();
    }

    public static S1kSettings FromFile(string path)
    {
        try { return JsonSerializer.Deserialize<S1kSettings>(File.ReadAllText(path), JsonOptions) ?? throw new InvalidDataException($"{path}: empty settings"); }
        catch (JsonException e) { throw new InvalidDataException($"s1k settings {path}: {e.Message}", e); }
    }

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Replaces <c>{data}</c> in a path.</summary>
    public static string Expand(string path, string dataRoot) => path.Replace(DataPlaceholder, dataRoot);
}
