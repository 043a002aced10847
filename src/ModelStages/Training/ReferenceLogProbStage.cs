using System.Text.Json.Nodes;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Training;

public sealed class ReferenceLogProbConfig
{
    /// <summary>Sequences per forward pass.</summary>
    public int BatchSize { get; set; } = 8;
    /// <summary>Records scored between memo writes (a crash loses at most one chunk).</summary>
    public int ChunkSize { get; set; } = 64;
    /// <summary>Torch device, e.g. "cpu" or "cuda:0".</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>
    /// Tensor parallelism, as in the train stage: two or more devices shard the reference model with
    /// <see cref="TensorParallel.Apply"/> (loaded in host memory and sharded out; <see cref="Device"/> is ignored).
    /// </summary>
    public List<string> Devices { get; set; } = [];
    /// <summary>Matmul dtype (null: the checkpoint's); "bfloat16" on GPU as in the authors' runs.</summary>
    public string? ComputeDType { get; set; }
    /// <summary>dtype the weights are loaded in: "float32" (default), or "bfloat16" to fit a 32B model on one 80 GB GPU.</summary>
    public string ParamDType { get; set; } = "float32";
}

/// <summary>
/// Scores every curated sequence's completion under the reference model once and stores per-token
/// log-probs. Record-wise: a record's key holds the reference checkpoint's content hash, the sequence's hash
/// (token ids and completion start) and the dtypes the model is loaded and run in — not the batch size, chunk
/// size or device(s) — so when the curated set grows only new records are scored, a rerun after lowering the
/// batch size or moving to another GPU scores nothing, and a different reference model never reuses another's
/// values (the lm-eval-harness #2715 failure).
/// </summary>
public sealed class ReferenceLogProbStage(string name = "ref_logprobs", ReferenceLogProbConfig? config = null)
    : Stage<ReferenceLogProbConfig>(name, config)
{
    public override string Kind => "ref-logprobs";
    public override int Version => 1;
    public override bool IsRecordWise => true;
    public override IReadOnlyList<PortSpec> Inputs { get; } =
        [PortSpec.Table("sequences", "sequences"), PortSpec.Dir("reference_model")];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table("ref_logprobs", "ref_logprobs")];

    /// <summary>Throughput and placement: the values scored do not depend on them (beyond float rounding, as between two GPUs).</summary>
    public override IReadOnlyList<string> NotInRecordKey => ["batch_size", "chunk_size", "device", "devices"];

    Transformer Load(string dir)
    {
        bool tensorParallel = Config.Devices.Count > 1;
        var model = Checkpoint.Load(dir, new ModelOptions(tensorParallel ? "cpu" : Config.Device, Config.ParamDType, Config.ComputeDType));
        if (tensorParallel) TensorParallel.Apply(model, Config.Devices);
        return model;
    }

    public override async Task RunAsync(IStageContext context)
    {
        if (Config.BatchSize <= 0 || Config.ChunkSize <= 0) throw new ArgumentException($"stage '{Name}': batch_size and chunk_size must be positive");
        var sequences = await TrainingData.ReadSequencesAsync(context, "sequences");
        var modelDir = context.InputDirectory("reference_model");
        var modelHash = context.InputDirectoryHash("reference_model"); // the store's content address: no second read of the weights
        context.Log($"reference model {modelHash[..16]}…, {sequences.Count} sequences");

        var hashes = sequences.Select(s => TrainingData.SequenceHash(s.InputIds, s.CompletionStart)).ToArray();
        var loop = new RecordMemoLoop<int, float[]>(this, context,
            i => new JsonObject { ["reference_model"] = modelHash, ["sequence"] = hashes[i] },
            TrainingData.EncodeFloats, TrainingData.DecodeFloats)
        {
            ChunkSize = Config.ChunkSize, ProgressUnit = "tokens", ProgressWeight = i => sequences[i].InputIds.Length,
        };
        Transformer? model = null;
        float[][] values;
        try
        {
            values = await loop.RunAsync(Enumerable.Range(0, sequences.Count).ToList(), (chunk, ct) =>
            {
                model ??= Load(modelDir);
                var pairs = chunk.Select(i => (sequences[i].InputIds[..sequences[i].CompletionStart], sequences[i].InputIds[sequences[i].CompletionStart..])).ToList();
                return Task.FromResult<IReadOnlyList<float[]>>(CompletionScorer.Score(model, pairs, Config.BatchSize));
            }, "sequences");
        }
        finally { model?.Dispose(); }

        await using var writer = context.WriteTable("ref_logprobs");
        var builder = new BatchBuilder(TableSchema.Get("ref_logprobs"));
        for (int i = 0; i < sequences.Count; i++)
        {
            builder.Set("id", sequences[i].Id).Set("ref_logprobs", values[i]).Set("ref_logprob_sum", values[i].Sum(x => (double)x))
                   .Set("completion_tokens", values[i].Length).Set("sequence_hash", hashes[i]).Set("ref_model_hash", modelHash);
            builder.EndRow();
            if (builder.Count >= context.Execution.BatchRows) await writer.WriteAsync(builder.Build(), context.CancellationToken);
        }
        if (builder.Count > 0) await writer.WriteAsync(builder.Build(), context.CancellationToken);
    }
}
