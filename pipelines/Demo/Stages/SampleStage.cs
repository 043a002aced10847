using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Text;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

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
}

/// <summary>
/// Stage kind <c>demo_sample</c>: draws K completions per problem from the reference checkpoint with the
/// KV-cache generator (model core), seeded per batch so a rerun reproduces the same samples. Output rows
/// are unverified <c>demo_completions</c> (behaviour read off the text).
/// </summary>
public sealed class SampleStage(string name, SampleConfig? config = null) : Stage<SampleConfig>(name, config)
{
    public const string ProblemsInput = "problems";
    public const string ModelInput = "model";
    public const string TokenizerInput = "tokenizer";
    public const string SamplesOutput = "samples";
    public override string Kind => "demo.sample";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs =>
        [PortSpec.Table(ProblemsInput, "candidates"), PortSpec.Dir(ModelInput), PortSpec.Dir(TokenizerInput)];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(SamplesOutput, DemoRows.Schema)];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.SamplesPerProblem < 1) throw new ArgumentException($"stage '{Name}': samples_per_problem must be >= 1");
        if (Config.BatchSize < 1) throw new ArgumentException($"stage '{Name}': batch_size must be >= 1");
        var tokenizer = HfTokenizer.Load(ctx.InputDirectory(TokenizerInput));
        using var model = Checkpoint.Load(ctx.InputDirectory(ModelInput));
        model.eval();
        int stop = tokenizer.TokenId(CharTokenizerDirectory.ImEnd);
        int pad = tokenizer.PadId ?? stop;

        var input = ctx.ReadTable(ProblemsInput);
        var requests = new List<(string ProblemId, ArithmeticProblem Problem, int Sample)>();
        long offset = 0;
        await foreach (var batch in input.ReadBatchesAsync(ctx.CancellationToken))
        {
            for (int r = 0; r < batch.Length; r++)
            {
                var problem = DemoRows.ParseProblem(batch, r, offset, Name, input.Artifact);
                for (int k = 0; k < Config.SamplesPerProblem; k++) requests.Add((batch.GetString("id", r)!, problem, k));
            }
            offset += batch.Length;
        }

        await using var output = ctx.WriteTable(SamplesOutput);
        var builder = new BatchBuilder(TableSchema.Get(DemoRows.Schema));
        for (int start = 0, call = 0; start < requests.Count; start += Config.BatchSize, call++)
        {
            ctx.CancellationToken.ThrowIfCancellationRequested();
            var chunk = requests.Skip(start).Take(Config.BatchSize).ToList();
            var prompts = chunk.Select(q => tokenizer.EncodeToIds(DemoPrompt.Prompt(q.Problem.Question)).ToArray()).ToList();
            var options = new GenerationOptions(Config.MaxNewTokens, Config.Temperature, Config.TopP,
                Seed: Config.Seed * 1_000_003L + call, StopTokens: [stop], PadId: pad);
            var results = TokenGenerator.Generate(model, prompts, options);
            for (int i = 0; i < chunk.Count; i++)
            {
                var text = tokenizer.Decode(results[i].Tokens.Where(t => t != stop), skipSpecial: true).TrimEnd();
                DemoRows.Add(builder, chunk[i].ProblemId, chunk[i].Problem, chunk[i].Sample, DemoRows.BehaviourOf(text), text, "sample", null);
            }
            await output.WriteAsync(builder.Build(), ctx.CancellationToken);
            ctx.ReportProgress(start + chunk.Count, requests.Count, "samples");
        }
        ctx.SetMetric("samples", requests.Count);
    }
}
