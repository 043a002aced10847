using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using Apache.Arrow;
using Apache.Arrow.Types;

namespace IwSft.Pipelines.Demo.Glue;

public sealed class RefLogProbsConfig
{
    public int BatchSize { get; set; } = 64;
}

/// <summary>
/// Stage kind <c>demo_ref_logprobs</c> (demo glue over the model core's <see cref="CompletionScorer"/>): adds
/// <c>ref_log_probs</c> to every sequence: log π_ref(token t | tokens &lt; t) for t = 1..T−1, 0 on prompt
/// positions (they carry no loss), so the trainer's precomputed-reference path can use it.
/// </summary>
public sealed class RefLogProbsStage(string name, RefLogProbsConfig? config = null) : Stage<RefLogProbsConfig>(name, config)
{
    public const string SequencesInput = "sequences";
    public const string ModelInput = "model";
    public const string SequencesOutput = "sequences";
    public override string Kind => "demo_ref_logprobs";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table(SequencesInput, "sequences"), PortSpec.Dir(ModelInput)];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table(SequencesOutput, "sequences")];

    public override async Task RunAsync(IStageContext ctx)
    {
        using var model = Checkpoint.Load(ctx.InputDirectory(ModelInput));
        model.eval();
        var reader = ctx.ReadTable(SequencesInput);
        await using var writer = ctx.WriteTable(SequencesOutput);
        long done = 0;
        double sum = 0; long count = 0;
        await foreach (var batch in reader.ReadBatchesAsync(ctx.CancellationToken))
        {
            var pairs = new List<(int[] Prompt, int[] Completion)>(batch.Length);
            for (int r = 0; r < batch.Length; r++)
            {
                var ids = batch.GetInt32List("input_ids", r)!;
                int cs = batch.GetInt32("completion_start", r)!.Value;
                pairs.Add((ids[..cs], ids[cs..]));
            }
            var scores = CompletionScorer.Score(model, pairs, Config.BatchSize);
            var column = new ListArray.Builder(FloatType.Default);
            var values = (FloatArray.Builder)column.ValueBuilder;
            for (int r = 0; r < batch.Length; r++)
            {
                int prompt = pairs[r].Prompt.Length, total = prompt + pairs[r].Completion.Length;
                column.Append();
                for (int t = 1; t < total; t++) values.Append(t < prompt ? 0f : scores[r][t - prompt]);
                sum += scores[r].Sum(x => (double)x); count += scores[r].Length;
            }
            var field = new Field(Glue.SequenceTable.RefLogProbsColumn, new ListType(new Field("item", FloatType.Default, true)), false);
            var fields = batch.Schema.FieldsList.Where(f => f.Name != field.Name).Append(field).ToList();
            var arrays = batch.Schema.FieldsList.Select((f, i) => (f, i)).Where(x => x.f.Name != field.Name).Select(x => batch.Column(x.i)).Append(column.Build()).ToList();
            await writer.WriteAsync(new RecordBatch(new Schema(fields, null), arrays, batch.Length), ctx.CancellationToken);
            done += batch.Length;
            ctx.ReportProgress(done, reader.RowCount, "sequences");
        }
        ctx.SetMetric("mean_token_logprob", count == 0 ? 0 : sum / count);
    }
}
