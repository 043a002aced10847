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
    /// <summary>Share of the problems (by a hash of their id, <see cref="DemoIds.TrainsReference"/>) that train the reference;
    /// the sample stage draws D+ from the rest. 1 = every problem.</summary>
    public double ReferenceShare { get; set; } = 1.0;
    /// <summary>
    /// Worked drills per reference problem: a fresh random word problem asked with <see cref="DrillInstruction"/> in front,
    /// always answered with its worked steps. They teach the reference the careful arm's arithmetic without deciding its
    /// arm choice on a bare question — as an LLM can reason when told to, yet does not always on its own; 0 = none.
    /// </summary>
    public int DrillsPerProblem { get; set; }

    /// <summary>What a drill's question starts with.</summary>
    public const string DrillInstruction = "Show each step. ";
}

/// <summary>
/// Stage kind <c>demo_demonstrate</c>: the reference policy's training data. For every clean train problem of the
/// reference's share (<see cref="DemonstrateConfig.ReferenceShare"/>) it draws <see cref="DemonstrateConfig.PerProblem"/> demonstrations from the behaviour mixture, each from
/// a random stream seeded by (seed, problem id, index), so a row does not depend on the others, and
/// <see cref="DemonstrateConfig.DrillsPerProblem"/> worked drills (behaviour <c>drill</c>).
/// </summary>
public sealed class DemonstrateStage(string name, DemonstrateConfig? config = null) : Stage<DemonstrateConfig>(name, config)
{
    public const string ProblemsInput = "problems";
    public const string DemonstrationsOutput = "demonstrations";
    public override string Kind => "demo.demonstrate";
    public override int Version => 2;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table(ProblemsInput, "candidates")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(DemonstrationsOutput, DemoRows.Schema)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var mix = new BehaviourMixture(Config.CarefulWeight, Config.ShortcutCorrectProbability);
        mix.Validate();
        DemoIds.CheckReferenceShare(Name, Config.ReferenceShare);
        if (Config.PerProblem < 1) throw new ArgumentException($"stage '{Name}': per_problem must be >= 1, got {Config.PerProblem}");
        if (Config.DrillsPerProblem < 0) throw new ArgumentException($"stage '{Name}': drills_per_problem must be >= 0, got {Config.DrillsPerProblem}");
        var input = ctx.ReadTable(ProblemsInput);
        // A drill must not be one of the task's problems (above all not a held-out one the reference is then sampled on).
        var taskQuestions = new HashSet<string>(StringComparer.Ordinal);
        if (Config.DrillsPerProblem > 0)
            await foreach (var batch in input.ReadColumnsAsync(["question"], ctx.CancellationToken))
                for (int r = 0; r < batch.Length; r++)
                    if (batch.GetString("question", r) is { } q) taskQuestions.Add(q);
        var builder = new BatchBuilder(TableSchema.Get(DemoRows.Schema));
        await using var output = ctx.WriteTable(DemonstrationsOutput);
        long offset = 0, careful = 0, total = 0, correct = 0, problems = 0, drills = 0;
        await foreach (var batch in input.ReadBatchesAsync(ctx.CancellationToken))
        {
            for (int r = 0; r < batch.Length; r++)
            {
                var problem = DemoRows.ParseProblem(batch, r, offset, Name, input.Artifact);
                var problemId = batch.GetString("id", r)!;
                if (!DemoIds.TrainsReference(problemId, Config.ReferenceShare)) continue;
                problems++;
                for (int k = 0; k < Config.PerProblem; k++)
                {
                    var d = mix.Demonstrate(problem, DemoIds.RecordRandom(Config.Seed, problemId, "demonstrate:" + k));
                    DemoRows.Add(builder, problemId, problem, k, d.Behaviour == Behaviour.Careful ? "careful" : "shortcut", d.Completion, "demonstration", null);
                    total++;
                    if (d.Behaviour == Behaviour.Careful) careful++;
                    if (d.Correct) correct++;
                }
                for (int k = 0; k < Config.DrillsPerProblem; k++)
                {
                    var rng = DemoIds.RecordRandom(Config.Seed, problemId, "drill:" + k);
                    var drill = ArithmeticTask.Sample(rng, DemoSplit.Train);
                    while (taskQuestions.Contains(drill.Question)) drill = ArithmeticTask.Sample(rng, DemoSplit.Train);
                    DemoRows.Add(builder, problemId, drill, Config.PerProblem + k, "drill", drill.CarefulSolution, "drill", null, DemonstrateConfig.DrillInstruction + drill.Question);
                    drills++;
                }
            }
            offset += batch.Length;
            if (builder.Count > 0) await output.WriteAsync(builder.Build(), ctx.CancellationToken);
            ctx.ReportProgress(offset, input.RowCount);
        }
        ctx.SetMetric("problems", problems);
        ctx.SetMetric("demonstrations", total);
        ctx.SetMetric("drills", drills);
        ctx.SetMetric("careful_share", total == 0 ? 0 : (double)careful / total);
        ctx.SetMetric("correct_share", total == 0 ? 0 : (double)correct / total);
    }
}
