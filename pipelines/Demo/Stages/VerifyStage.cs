using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Demo.Stages;

public sealed class VerifyConfig { }

/// <summary>
/// Stage kind <c>demo_verify</c>: grades every completion with <see cref="Verifier"/>: the sparse reward
/// (<c>correct</c>), the steps it verified and the verifier confidence as <c>quality</c>. It keeps every row;
/// the curate filter downstream turns the reward into D+ with one decision per record.
/// </summary>
public sealed class VerifyStage(string name) : Stage<VerifyConfig>(name)
{
    public const string CompletionsInput = "completions";
    public const string VerifiedOutput = "verified";
    public override string Kind => "demo.verify";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table(CompletionsInput, DemoRows.Schema)];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(VerifiedOutput, DemoRows.Schema)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var input = ctx.ReadTable(CompletionsInput);
        var builder = new BatchBuilder(TableSchema.Get(DemoRows.Schema));
        await using var output = ctx.WriteTable(VerifiedOutput);
        long offset = 0, correct = 0;
        var byBehaviour = new Dictionary<string, (long N, long Correct)>();
        await foreach (var batch in input.ReadBatchesAsync(ctx.CancellationToken))
        {
            for (int r = 0; r < batch.Length; r++)
            {
                var problem = DemoRows.ParseProblem(batch, r, offset, Name, input.Artifact);
                var completion = batch.GetString("trace", r) ?? "";
                var verdict = Verifier.Verify(problem, completion);
                string behaviour = batch.GetString("domain", r) ?? DemoRows.BehaviourOf(completion);
                DemoRows.Add(builder, batch.GetString("problem_id", r)!, problem, batch.GetInt32("sample", r) ?? 0, behaviour,
                    completion, batch.GetString("source", r), verdict);
                if (verdict.Correct) correct++;
                var (n, c) = byBehaviour.GetValueOrDefault(behaviour);
                byBehaviour[behaviour] = (n + 1, c + (verdict.Correct ? 1 : 0));
            }
            offset += batch.Length;
            if (builder.Count > 0) await output.WriteAsync(builder.Build(), ctx.CancellationToken);
            ctx.ReportProgress(offset, input.RowCount);
        }
        ctx.SetMetric("completions", offset);
        ctx.SetMetric("correct", correct);
        foreach (var (behaviour, (n, c)) in byBehaviour)
        {
            ctx.SetMetric($"{behaviour}_share", offset == 0 ? 0 : (double)n / offset);
            ctx.SetMetric($"{behaviour}_accuracy", n == 0 ? 0 : (double)c / n);
        }
    }
}
