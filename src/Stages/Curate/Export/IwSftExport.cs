using System.Text.Json.Serialization;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Curate.Export;

/// <summary>
/// A row of the training set the authors' trainer reads with <c>--ref_log_probs_in_input</c> (emmyqin/iw_sft,
/// <c>main.py</c>: <c>CustomDataCollator.__call__</c>; <c>bounding_trainers.py</c>: <c>BoundingTrainer.compute_loss</c> and
/// <c>IwSFTLoss.__call__</c>): the s1K-1.1 columns and <c>text</c>, plus the tokenised sequence and the reference
/// log-probs aligned to the trainer's shifted labels. With T = len(input_ids) and s = the first completion position:
/// <list type="bullet">
/// <item><c>input_ids</c>, <c>inputs_ref</c>: the T token ids; <c>attention_mask</c>, <c>attn_mask</c>: T ones;</item>
/// <item><c>labels_ref</c>: T labels, -100 before s (the collator masks up to the end of <c>&lt;|im_start|&gt;assistant\n</c>), the ids from s on;</item>
/// <item><c>ref_log_probs</c>: T-1 floats; position j is log π_ref(input_ids[j+1] | input_ids[..j]), the value the loss sets
/// against the model's log-prob of the label at shifted position j; positions j &lt; s-1 (masked labels) are 0.</item>
/// </list>
/// See <c>schemas/iw_sft_export.schema.json</c>.
/// </summary>
public sealed class IwSftExportRow : S1kExportRow
{
    [JsonPropertyName("input_ids")] public List<int>? InputIds { get; set; }
    [JsonPropertyName("attention_mask")] public List<int>? AttentionMask { get; set; }
    [JsonPropertyName("ref_log_probs")] public List<float>? RefLogProbs { get; set; }
    [JsonPropertyName("inputs_ref")] public List<int>? InputsRef { get; set; }
    [JsonPropertyName("attn_mask")] public List<int>? AttnMask { get; set; }
    [JsonPropertyName("labels_ref")] public List<int>? LabelsRef { get; set; }
}

/// <summary>
/// Stage kind <c>export-iw-sft</c>: joins the curated records, their sequences and reference log-probs by id and writes
/// <see cref="IwSftExportRow"/>s (sequence order) to <c>dataset/{file_name}</c>. A sequence without reference log-probs,
/// or whose log-prob count differs from its completion tokens, is an error naming the id.
/// </summary>
public sealed class IwSftExportStage(string name, S1kExportConfig? config = null) : Stage<S1kExportConfig>(name, config)
{
    public const string RecordsInput = "records", SequencesInput = "sequences", RefLogProbsInput = "ref_logprobs";
    public const string DatasetOutput = "dataset";
    /// <summary>The label of a position without loss (PyTorch's and the collator's ignore index).</summary>
    public const int IgnoreIndex = -100;
    public override string Kind => "export-iw-sft";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } =
        [PortSpec.Table(RecordsInput, "candidates"), PortSpec.Table(SequencesInput, "sequences"), PortSpec.Table(RefLogProbsInput, "ref_logprobs")];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Dir(DatasetOutput)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var builder = new S1kRowBuilder(Config, Name);
        var records = new Dictionary<string, IwSftExportRow>(StringComparer.Ordinal);
        await foreach (var batch in ctx.ReadTable(RecordsInput).ReadBatchesAsync(ctx.CancellationToken))
            for (int r = 0; r < batch.Length; r++) records[batch.GetString("id", r)!] = builder.Build<IwSftExportRow>(batch, r);
        var refs = new Dictionary<string, float[]>(StringComparer.Ordinal);
        await foreach (var batch in ctx.ReadTable(RefLogProbsInput).ReadBatchesAsync(ctx.CancellationToken))
            for (int r = 0; r < batch.Length; r++) refs[batch.GetString("id", r)!] = batch.GetFloatList("ref_logprobs", r)!;

        var rows = new List<IwSftExportRow>();
        await foreach (var batch in ctx.ReadTable(SequencesInput).ReadBatchesAsync(ctx.CancellationToken))
            for (int r = 0; r < batch.Length; r++)
            {
                string id = batch.GetString("id", r)!;
                if (!records.TryGetValue(id, out var row)) throw new InvalidDataException($"stage '{Name}': sequence {id} has no curated record in '{RecordsInput}'");
                if (!refs.TryGetValue(id, out var logProbs)) throw new InvalidDataException($"stage '{Name}': sequence {id} has no reference log-probs in '{RefLogProbsInput}'");
                var ids = batch.GetInt32List("input_ids", r)!;
                int start = batch.GetInt32("completion_start", r)!.Value;
                Align(row, ids, start, logProbs, id);
                rows.Add(row);
            }
        var path = Path.Combine(ctx.OutputDirectory(DatasetOutput), Config.FileName);
        await ExportFiles.WriteAsync(rows, path, ctx.CancellationToken);
        ctx.SetMetric("rows", rows.Count);
        ctx.Log($"{Name}: {rows.Count} rows with reference log-probs (iw_sft --ref_log_probs_in_input layout) → {path}");
    }

    /// <summary>Fills the token columns of <paramref name="row"/>; <paramref name="completionLogProbs"/>[k] is the log-prob of token start + k.</summary>
    public void Align(IwSftExportRow row, int[] ids, int start, float[] completionLogProbs, string id)
    {
        int t = ids.Length;
        if (start < 1 || start > t) throw new InvalidDataException($"stage '{Name}': sequence {id}: completion_start {start} outside 1..{t}");
        if (completionLogProbs.Length != t - start)
            throw new InvalidDataException($"stage '{Name}': sequence {id}: {completionLogProbs.Length} reference log-probs for {t - start} completion tokens");
        var shifted = new float[t - 1];
        for (int k = 0; k < completionLogProbs.Length; k++) shifted[start + k - 1] = completionLogProbs[k];
        var ones = Enumerable.Repeat(1, t).ToList();
        row.InputIds = [.. ids];
        row.InputsRef = [.. ids];
        row.AttentionMask = ones;
        row.AttnMask = [.. ones];
        row.LabelsRef = ids.Select((x, i) => i < start ? IgnoreIndex : x).ToList();
        row.RefLogProbs = [.. shifted];
    }
}
