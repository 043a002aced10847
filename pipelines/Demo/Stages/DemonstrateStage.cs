using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Demo.Stages;

public sealed class DemonstrateConfig
{
    /// <summary>Share of careful worked solutions; the rest are shortcuts.</summary>
    public double CarefulWeight { get; set; } = 0.5;
    /// <summary>Probability that a shortcut's bare answer is right.</summary>
    public double ShortcutCorrectProbability { get; set; } = 0.3;
    /// <summary>Demonstrations drawn per problem.</summary>
    public int PerProblem { get; set; } = 1;
    public int Seed { get; set; } = 1;
}

/// <summary>
/// Stage kind <c>demo_demonstrate</c>: the reference policy's training data. For every clean train problem
/// it draws <see cref="DemonstrateConfig.PerProblem"/> demonstrations from the behaviour mixture, each from
/// a random stream seeded by (seed, problem id, index), so a row does not depend on the others.
/// </summary>
public sealed class DemonstrateStage(string name, DemonstrateConfig? config = null) : Stage<DemonstrateConfig>(name, config)
{
    public const string ProblemsInput = "problems";
    public const string DemonstrationsOutput = "demonstrations";
    public override string Kind => "demo.demonstrate";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table(ProblemsInput, "candidates")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(DemonstrationsOutput, DemoRows.Schema)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var mix = new BehaviourMixture(Config.CarefulWeight, Config.ShortcutCorrectProbability);
        mix.Validate();
        if (Config.PerProblem < 1) throw new ArgumentException($"stage '{Name}': per_problem must be >= 1, got {Config.PerProblem}");
        var input = ctx.ReadTable(ProblemsInput);
        var builder = new BatchBuilder(TableSchema.Get(DemoRows.Schema));
        await using var output = ctx.WriteTable(DemonstrationsOutput);
        long offset = 0, careful = 0, total = 0, correct = 0;
        await foreach (var batch in input.ReadBatchesAsync(ctx.CancellationToken))
        {
            for (int r = 0; r < batch.Length; r++)
            {
                var problem = DemoRows.ParseProblem(batch, r, offset, Name, input.Artifact);
                var problemId = batch.GetString("id", r)!;
                for (int k = 0; k < Config.PerProblem; k++)
                {
                    var d = mix.Demonstrate(problem, DemoIds.RecordRandom(Config.Seed, problemId, "demonstrate:" + k));
                    DemoRows.Add(builder, problemId, problem, k, d.Behaviour == Behaviour.Careful ? "careful" : "shortcut", d.Completion, "demonstration", null);
                    total++;
                    if (d.Behaviour == Behaviour.Careful) careful++;
                    if (d.Correct) correct++;
                }
            }
            offset += batch.Length;
            if (builder.Count > 0) await output.WriteAsync(builder.Build(), ctx.CancellationToken);
            ctx.ReportProgress(offset, input.RowCount);
        }
        ctx.SetMetric("demonstrations", total);
        ctx.SetMetric("careful_share", total == 0 ? 0 : (double)careful / total);
        ctx.SetMetric("correct_share", total == 0 ? 0 : (double)correct / total);
    }
}
