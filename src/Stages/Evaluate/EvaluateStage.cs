using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Evaluate;

/// <summary>
/// The evaluate stage kind: generates n samples per benchmark item from each checkpoint, grades them
/// and writes one results row per checkpoint × item × sample.
///
/// Checkpoints are directory inputs named <c>checkpoint_LABEL</c> (<see cref="AddCheckpoint"/>) or
/// external model directories (<see cref="AddExternalCheckpoint"/>). Every generated sample is memoised
/// (<see cref="RecordMemoLoop{TIn, TOut}"/>) under a key of the checkpoint's and tokenizer's content hashes,
/// the item's content, the prompt, the sample index and its seed, and the generation settings (max new
/// tokens, temperature, top-p, base seed) — nothing else (<see cref="NotInRecordKey"/>): a rerun over five
/// checkpoints of which one is new generates only for the new one and never opens the model of a checkpoint
/// whose samples are all memoised; raising samples_per_item or max_items_per_benchmark generates only the
/// new samples or items; changing the batch size generates nothing. Grading is not memoised (it is cheap),
/// so grader fixes apply to memoised generations.
/// </summary>
// Debug build (dotnet run's default): output batches are now also cut by bytes (ExecutionOptions.BatchFull); the
// samples, records and grading are the same, so a store's memoised generations stay valid.
[CodeIdentityAlias("a90c50aa9cf60d779918e40dbcfccd043b47431b10daf1e6a0700372934d0d11", "bf3e761b9ea33fef6c030e65ab6801ad242f8255b507202f07ff82e3d6f6d82d",
    "result batches cut by bytes as well as rows; generators gained guided choice, stop tokens and min_tokens (unset here) and report finish reasons; budget forcing added, off (and out of the key) unless budget_forcing is set; same samples and grading")]
// With the openai backend injected (a server generates): the requests are the same unless budget forcing or guided
// choice is set, and the replies are read the same way (now also their finish reason).
[CodeIdentityAlias("e92eb96e88f916652687fbb2dea415adf09076b7a78c758e7a276ccfa0c59962", "83305a984ad34d605c885e567d497f0079a80058e9fe19a13642ae7a7d1fcc0d",
    "openai backend: generation contract gained guided choice, stop tokens, min_tokens and finish reasons, budget forcing added; same requests and samples when unset")]
public sealed partial class EvaluateStage : Stage<EvaluateConfig>
{
    public const string ItemsInput = "items";
    public const string TokenizerInput = "tokenizer";
    public const string ResultsOutput = "results";
    public const string CheckpointPortPrefix = "checkpoint_";

    [InKey] readonly ICompletionGeneratorFactory _generators;
    [InKey] readonly IPromptFormatter? _formatter;
    [NotInKey("port names: the checkpoints bound to them are key inputs")] readonly List<string> _checkpointPorts = new();
    [NotInKey("external checkpoint paths: their content hashes are in the key")] readonly SortedDictionary<string, string> _external = new(StringComparer.Ordinal);

    /// <param name="generators">Opens a generator for a checkpoint directory (the TorchSharp model core in real runs).</param>
    /// <param name="formatter">Prompt text per item; default <see cref="PromptFormatter"/> with the configured style.</param>
    public EvaluateStage(string name, ICompletionGeneratorFactory generators, EvaluateConfig? config = null, IPromptFormatter? formatter = null)
        : base(name, config)
    {
        _generators = generators;
        _formatter = formatter;
    }

    public override string Kind => "evaluate";
    // Bump when generation requests or result rows change meaning.
    public override int Version => 1;
    public override bool IsRecordWise => true;

    public override IReadOnlyList<PortSpec> Inputs =>
        [PortSpec.Table(ItemsInput, "benchmark_items"), PortSpec.Dir(TokenizerInput, optional: true), .. _checkpointPorts.Select(p => PortSpec.Dir(p))];

    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(ResultsOutput, "eval_results")];

    public override IEnumerable<string> ExternalInputs => _external.Values;

    /// <summary>Evaluates the checkpoint directory produced upstream (e.g. a train stage's model output) under <paramref name="label"/>.</summary>
    public EvaluateStage AddCheckpoint(string label, OutputRef source)
    {
        string port = CheckpointPortPrefix + CheckLabel(label);
        _checkpointPorts.Add(port);
        From(port, source);
        return this;
    }

    /// <summary>Evaluates a model directory outside the store (a base model, a checkpoint trained elsewhere).</summary>
    public EvaluateStage AddExternalCheckpoint(string label, string directory)
    {
        CheckLabel(label);
        _external[label] = Path.GetFullPath(directory);
        return this;
    }

    string CheckLabel(string label)
    {
        if (!LabelRegex().IsMatch(label))
            throw new ArgumentException($"stage '{Name}': checkpoint label '{label}' must match {LabelRegex()}");
        if (_checkpointPorts.Contains(CheckpointPortPrefix + label) || _external.ContainsKey(label))
            throw new ArgumentException($"stage '{Name}': checkpoint label '{label}' is used twice");
        return label;
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]*$")] private static partial Regex LabelRegex();

    /// <summary>The checkpoint's generator, under s1's budget forcing when configured (its auto budget counts tokens with the same tokenizer).</summary>
    ICompletionGenerator Open(string checkpointDir, string? tokenizerDir, CancellationToken ct)
    {
        var generator = _generators.Open(checkpointDir, tokenizerDir, ct);
        if (Config.BudgetForcing is not { } forcing) return generator;
        var tokenizer = new Lazy<IwSft.Text.HfTokenizer>(() => IwSft.Text.HfTokenizer.Load(tokenizerDir ?? checkpointDir));
        return new BudgetForcingGenerator(generator, forcing, text => tokenizer.Value.EncodeToIds(text).Count);
    }

    public override async Task RunAsync(IStageContext ctx)
    {
        var ct = ctx.CancellationToken;
        Config.Validate(Name);
        // Content hashes come from the engine (store addresses, or the external inputs' hashes in the cache
        // key), so a 60 GB checkpoint is read once per run, not once more here.
        var checkpoints = _checkpointPorts.Select(p => (Label: p[CheckpointPortPrefix.Length..], Dir: ctx.InputDirectory(p), Hash: ctx.InputDirectoryHash(p)))
            .Concat(_external.Select(kv => (Label: kv.Key, Dir: kv.Value, Hash: ctx.ExternalInputHash(kv.Value))))
            .OrderBy(c => c.Label, StringComparer.Ordinal).ToList();
        if (checkpoints.Count == 0) throw new InvalidOperationException($"stage '{Name}' (evaluate) has no checkpoints: call AddCheckpoint or AddExternalCheckpoint");
        if (Config.Temperature == 0 && Config.SamplesPerItem > 1)
            ctx.Log($"warning: greedy decoding (temperature 0) with {Config.SamplesPerItem} samples per item gives identical samples");

        string? tokenizerDir = ctx.HasInput(TokenizerInput) ? ctx.InputDirectory(TokenizerInput) : null;
        // The tokenizer shapes generation, so its content joins the checkpoint's in the memo key.
        string tokenizerHash = tokenizerDir is null ? "own" : ctx.InputDirectoryHash(TokenizerInput);
        var items = await EvalItemReader.ReadAsync(ctx.ReadTable(ItemsInput), Name, ct);
        items = SelectItems(items);
        var formatter = _formatter ?? new PromptFormatter(Config.PromptStyle);
        var prompts = items.Select(formatter.Format).ToList();
        var grader = new Grader(new GraderOptions { RelativeTolerance = Config.RelativeTolerance, LastNumberFallback = Config.LastNumberFallback });
        var settings = Config.Generation;

        var schema = TableSchema.Get("eval_results");
        await using var writer = ctx.WriteTable(ResultsOutput);
        var rows = new BatchBuilder(schema);
        long total = (long)checkpoints.Count * items.Count * Config.SamplesPerItem;
        var itemIdentities = items.Select(ItemIdentity).ToArray();
        long Seed(SampleRef r) => SampleSeed(Config.Seed, prompts[r.Item], r.Sample);
        // What decides a sample besides the generation settings (MemoIdentity): the model, the tokenizer, the item,
        // the prompt and the sample index (and the seed derived from them). Not the batch size, the number of
        // samples or items asked for, the benchmark subset or the grading options.
        var loop = new RecordMemoLoop<SampleRef, GeneratedSample>(this, ctx,
            r => new JsonObject
            {
                ["checkpoint"] = r.CheckpointHash, ["tokenizer"] = tokenizerHash, ["item"] = itemIdentities[r.Item].DeepClone(),
                ["prompt"] = prompts[r.Item], ["sample"] = r.Sample, ["seed"] = Seed(r),
            },
            sample => JsonSerializer.Serialize(sample),
            text => JsonSerializer.Deserialize<GeneratedSample>(text) ?? throw new InvalidDataException($"stage '{Name}': a null sample in the record memo"))
        {
            ChunkSize = Config.BatchSize, ProgressUnit = "samples", ProgressTotal = total,
        };
        ctx.ReportProgress(0, total, "samples");

        foreach (var (label, dir, checkpointHash) in checkpoints)
        {
            var refs = new List<SampleRef>(items.Count * Config.SamplesPerItem);
            for (int i = 0; i < items.Count; i++)
                for (int s = 0; s < Config.SamplesPerItem; s++) refs.Add(new SampleRef(checkpointHash, i, s));
            ICompletionGenerator? generator = null;   // opened only when a sample of this checkpoint is not memoised
            GeneratedSample[] generated;
            try
            {
                generated = await loop.RunAsync(refs, (chunk, ct) =>
                {
                    generator ??= Open(dir, tokenizerDir, ct);
                    var outputs = generator.Generate(chunk.Select(r => new GenerationRequest(prompts[r.Item], Seed(r))).ToList(), settings, ct);
                    if (outputs.Count != chunk.Count)
                        throw new InvalidOperationException($"stage '{Name}': generator returned {outputs.Count} samples for {chunk.Count} requests");
                    return Task.FromResult(outputs);
                }, $"checkpoint '{label}' ({checkpointHash[..12]}) samples");
            }
            finally { generator?.Dispose(); }
            var samples = new GeneratedSample[items.Count, Config.SamplesPerItem];
            for (int j = 0; j < refs.Count; j++) samples[refs[j].Item, refs[j].Sample] = generated[j];

            for (int i = 0; i < items.Count; i++)
            {
                var item = items[i];
                int correct = 0;
                string gold = item.IsMultipleChoice ? Grader.GoldLetter(item.Answer, item.Choices!).ToString() : Grader.GoldMathAnswer(item.Answer);
                for (int s = 0; s < Config.SamplesPerItem; s++)
                {
                    var sample = samples[i, s]!;
                    var grade = grader.Grade(sample.Text, item.Answer, item.Choices);
                    if (grade.Correct) correct++;
                    rows.Set("checkpoint", label).Set("checkpoint_hash", checkpointHash).Set("benchmark", item.Benchmark)
                        .Set("item_id", item.ItemId).Set("sample", s).Set("response", sample.Text).Set("extracted", grade.Extracted)
                        .Set("extraction", SourceName(grade.Source)).Set("gold", gold).Set("correct", grade.Correct).Set("tokens", sample.Tokens)
                        .EndRow();
                    if (ctx.Execution.BatchFull(rows.Count, rows.Bytes)) await writer.WriteAsync(rows.Build(), ct);
                }
            }
            foreach (var bench in items.GroupBy(it => it.Benchmark))
                ctx.Log($"checkpoint '{label}' graded on {bench.Key}: {bench.Count()} items");
        }
        if (rows.Count > 0) await writer.WriteAsync(rows.Build(), ct);
    }

    /// <summary>Evaluate's throughput knobs, which records are asked for, and grading (cheap, never memoised).</summary>
    public override IReadOnlyList<string> NotInRecordKey =>
    [
        "batch_size", "samples_per_item", "benchmarks", "max_items_per_benchmark",
        // the prompt's text is in every record key, so the style needs no place of its own
        "prompt_style",
        "last_number_fallback", "relative_tolerance",
    ];

    readonly record struct SampleRef(string CheckpointHash, int Item, int Sample);

    /// <summary>The item's content the prompt is built from (not its id or gold answer: grading is not memoised).</summary>
    static JsonObject ItemIdentity(EvalItem item) => new()
    {
        ["question"] = item.Question,
        ["choices"] = item.Choices is null ? null : new JsonArray(item.Choices.Select(c => (JsonNode?)c).ToArray()),
    };

    List<EvalItem> SelectItems(List<EvalItem> items)
    {
        IEnumerable<EvalItem> q = items;
        if (Config.Benchmarks.Count > 0)
        {
            var missing = Config.Benchmarks.Except(items.Select(i => i.Benchmark)).ToList();
            if (missing.Count > 0)
                throw new ArgumentException($"stage '{Name}' (evaluate): benchmarks {string.Join(", ", missing)} are not in the items table; present: {string.Join(", ", items.Select(i => i.Benchmark).Distinct())}");
            q = q.Where(i => Config.Benchmarks.Contains(i.Benchmark));
        }
        if (Config.MaxItemsPerBenchmark > 0)
            q = q.GroupBy(i => i.Benchmark).SelectMany(g => g.Take(Config.MaxItemsPerBenchmark));
        return q.ToList();
    }

    public static string SourceName(AnswerSource s) => JsonNamingPolicy.SnakeCaseLower.ConvertName(s.ToString());

    /// <summary>A sample's seed depends only on the base seed, the prompt and the sample index.</summary>
    public static long SampleSeed(int baseSeed, string prompt, int sample)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes($"{baseSeed}\0{sample}\0{prompt}"));
        return BitConverter.ToInt64(h, 0) & long.MaxValue;
    }

}
