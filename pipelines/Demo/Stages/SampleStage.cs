using System.Text.Json;
using System.Text.Json.Nodes;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Evaluate;

namespace IwSft.Pipelines.Demo.Stages;

public sealed class SampleConfig
{
    /// <summary>Completions drawn per problem (K).</summary>
    public int SamplesPerProblem { get; set; } = 4;
    /// <summary>1 = the reference policy's own distribution, which is what D+ must come from.</summary>
    public double Temperature { get; set; } = 1.0;
    public double TopP { get; set; } = 1.0;
    public int MaxNewTokens { get; set; } = 48;
    /// <summary>Prompts per generator call.</summary>
    public int BatchSize { get; set; } = 64;
    public int Seed { get; set; } = 1;
    /// <summary>Sample only problems with no demonstration (the <c>demonstrations</c> input), so D+ shows how the reference
    /// does on problems it did not learn; false = every problem (the reference's own training problems too).</summary>
    public bool HeldOutOnly { get; set; } = true;
}

/// <summary>
/// Stage kind <c>demo.sample</c>: draws K completions per held-out train problem (one with no row in the reference's
/// <c>demonstrations</c>; <see cref="SampleConfig.HeldOutOnly"/>) from the reference checkpoint through the generation client evaluate uses (<see cref="ICompletionGeneratorFactory"/>:
/// in process, or a server). Each sample has its own seed, derived from the base seed, the prompt and the sample
/// index (evaluate's rule), and is memoised under the model's and tokenizer's content and that seed, so neither the
/// batch size nor K nor the split decides a sample's text. Held out, because a reference sampled on the problems it was
/// trained on recalls their answers: its unreliable arm looks reliable exactly where D+ is built (docs/demo.md). Output rows are unverified <c>demo_completions</c>.
/// </summary>
public sealed class SampleStage(string name, ICompletionGeneratorFactory generators, SampleConfig? config = null) : Stage<SampleConfig>(name, config)
{
    public const string ProblemsInput = "problems";
    public const string ModelInput = "model";
    public const string TokenizerInput = "tokenizer";
    public const string DemonstrationsInput = "demonstrations";
    public const string SamplesOutput = "samples";

    [InKey] readonly ICompletionGeneratorFactory _generators = generators;

    public override string Kind => "demo.sample";
    public override int Version => 2;
    public override bool IsRecordWise => true;
    public override IReadOnlyList<PortSpec> Inputs =>
        [PortSpec.Table(ProblemsInput, "candidates"), PortSpec.Dir(ModelInput), PortSpec.Dir(TokenizerInput), PortSpec.Table(DemonstrationsInput, DemoRows.Schema)];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(SamplesOutput, DemoRows.Schema)];
    public override IReadOnlyList<string> NotInRecordKey => ["batch_size", "samples_per_problem", "held_out_only"];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.SamplesPerProblem < 1) throw new ArgumentException($"stage '{Name}': samples_per_problem must be >= 1, got {Config.SamplesPerProblem}");
        if (Config.BatchSize < 1) throw new ArgumentException($"stage '{Name}': batch_size must be >= 1, got {Config.BatchSize}");
        if (Config.MaxNewTokens < 1) throw new ArgumentException($"stage '{Name}': max_new_tokens must be >= 1, got {Config.MaxNewTokens}");
        var trained = await ReferenceProblemsAsync(ctx);
        string modelDir = ctx.InputDirectory(ModelInput), tokenizerDir = ctx.InputDirectory(TokenizerInput);
        string modelHash = ctx.InputDirectoryHash(ModelInput), tokenizerHash = ctx.InputDirectoryHash(TokenizerInput);
        var settings = new GenerationSettings { MaxNewTokens = Config.MaxNewTokens, Temperature = Config.Temperature, TopP = Config.TopP };
        var loop = new RecordMemoLoop<Ask, GeneratedSample>(this, ctx,
            a => new JsonObject { [ModelInput] = modelHash, [TokenizerInput] = tokenizerHash, ["prompt"] = a.Prompt, ["sample"] = a.Sample, ["seed"] = a.Seed },
            s => JsonSerializer.Serialize(s),
            text => JsonSerializer.Deserialize<GeneratedSample>(text) ?? throw new InvalidDataException($"stage '{Name}': a null sample in the record memo"))
        {
            ChunkSize = Config.BatchSize, Describe = a => $"problem '{a.ProblemId}' sample {a.Sample}",
        };

        ICompletionGenerator? generator = null;   // opened only when a sample is not memoised
        var input = ctx.ReadTable(ProblemsInput);
        var builder = new BatchBuilder(TableSchema.Get(DemoRows.Schema));
        long offset = 0, problems = 0, samples = 0;
        try
        {
            await using var output = ctx.WriteTable(SamplesOutput);
            await foreach (var batch in input.ReadBatchesAsync(ctx.CancellationToken))
            {
                var asks = new List<Ask>();
                for (int r = 0; r < batch.Length; r++)
                {
                    var problem = DemoRows.ParseProblem(batch, r, offset, Name, input.Artifact);
                    var problemId = batch.GetString("id", r)!;
                    if (Config.HeldOutOnly && trained.Contains(problemId)) continue;
                    problems++;
                    string prompt = DemoPrompt.Prompt(problem.Question);
                    for (int k = 0; k < Config.SamplesPerProblem; k++)
                        asks.Add(new Ask(problemId, problem, prompt, k, EvaluateStage.SampleSeed(Config.Seed, prompt, k)));
                }
                var results = await loop.RunAsync(asks, (chunk, ct) =>
                {
                    generator ??= _generators.Open(modelDir, tokenizerDir, ct);
                    return Task.FromResult(generator.Generate(chunk.Select(a => new GenerationRequest(a.Prompt, a.Seed)).ToList(), settings, ct));
                });
                for (int i = 0; i < asks.Count; i++)
                {
                    var text = results[i].Text.TrimEnd();
                    DemoRows.Add(builder, asks[i].ProblemId, asks[i].Problem, asks[i].Sample, DemoRows.BehaviourOf(text), text, "sample", null);
                }
                samples += asks.Count;
                offset += batch.Length;
                if (builder.Count > 0) await output.WriteAsync(builder.Build(), ctx.CancellationToken);
                ctx.ReportProgress(offset, input.RowCount);
            }
        }
        finally { generator?.Dispose(); }
        if (problems == 0 && offset > 0)
            throw new InvalidOperationException($"stage '{Name}': every one of the {offset} problems of '{input.Artifact}' trained the reference, so none is held out " +
                "for sampling; set demonstrate.reference_share below 1, or sample.held_out_only=false to sample the reference's own training problems");
        ctx.SetMetric("problems", problems);
        ctx.SetMetric("samples", samples);
        ctx.Log($"{Name}: {samples} samples of {problems} problems, {loop.Reused} from the record memo, {loop.Computed} generated");
    }

    /// <summary>The problems the reference was trained on: the problem ids of its demonstrations.</summary>
    async Task<HashSet<string>> ReferenceProblemsAsync(IStageContext ctx)
    {
        var ids = new HashSet<string>(StringComparer.Ordinal);
        if (!Config.HeldOutOnly) return ids;
        await foreach (var batch in ctx.ReadTable(DemonstrationsInput).ReadColumnsAsync(["problem_id"], ctx.CancellationToken))
            for (int r = 0; r < batch.Length; r++)
                if (batch.GetString("problem_id", r) is { } id) ids.Add(id);
        return ids;
    }

    sealed record Ask(string ProblemId, ArithmeticProblem Problem, string Prompt, int Sample, long Seed);
}
