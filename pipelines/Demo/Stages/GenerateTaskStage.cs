using IwSft.Runtime;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>Sizes and seeds of the generated arithmetic task.</summary>
public sealed class GenerateTaskConfig
{
    public int TrainProblems { get; set; } = 600;
    public int EvalProblems { get; set; } = 200;
    public int TrainSeed { get; set; } = 1;
    public int EvalSeed { get; set; } = 2;
    /// <summary>Eval problems copied into the train file (the decontamination test only; 0 in the demo).</summary>
    public int PlantEvalInTrain { get; set; }
}

/// <summary>
/// Stage kind <c>demo.generate-task</c>: writes the generated task as the JSONL files the pipeline ingests,
/// exactly as a user's own data would arrive (<c>train.jsonl</c>, <c>eval.jsonl</c>; see <see cref="DemoData"/>).
/// Generating data in a stage keeps the pipeline definition pure: building it writes nothing, and the files
/// live in the store under this stage's key like any other artifact.
/// </summary>
public sealed class GenerateTaskStage(string name, GenerateTaskConfig? config = null) : Stage<GenerateTaskConfig>(name, config)
{
    public const string TaskOutput = "task";
    public override string Kind => "demo.generate-task";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir(TaskOutput)];

    public override Task RunAsync(IStageContext ctx)
    {
        var c = Config;
        var counts = DemoData.Write(ctx.OutputDirectory(TaskOutput), c.TrainProblems, c.EvalProblems, c.TrainSeed, c.EvalSeed, c.PlantEvalInTrain);
        ctx.SetMetric("train_problems", counts.Train);
        ctx.SetMetric("eval_problems", counts.Eval);
        return Task.CompletedTask;
    }
}
