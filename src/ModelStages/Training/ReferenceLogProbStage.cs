using System.Text.Json.Nodes;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.OpenAi;

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
    /// <summary>Score on an OpenAI-compatible server with <c>prompt_logprobs</c> (vLLM, iwsft serve) instead of in process;
    /// the server must serve the reference model (its <c>/v1/models</c> root, or <c>model</c> named).</summary>
    public OpenAiGenerationConfig? Server { get; set; }
}

/// <summary>
/// Scores every curated sequence's completion under the reference model once and stores per-token
/// log-probs. Record-wise: a record's key holds the reference checkpoint's content hash, the sequence's hash
/// (token ids and completion start) and the dtypes the model is loaded and run in — not the batch size, chunk
/// size or device(s) — so when the curated set grows only new records are scored, a rerun after lowering the
/// batch size or moving to another GPU scores nothing, and a different reference model never reuses another's
/// values (the lm-eval-harness #2715 failure).
/// </summary>
// Debug build (dotnet run's default): reading the sequences one stored batch at a time, and the choice of scorer
// (in process, or a server, which the records' settings tell apart), score the same sequences with the same model
// and scorer in process, so a store's memoised reference log-probs stay valid.
[CodeIdentityAlias("1affb24e2b36677c81c7235b2d1148a0171c6cbc51a42ad399fa703152766d1e", "152d557e3804b2c6fa5fc22577ebc315d5a46b36ac9200c68c6af597a81d133a",
    "sequences streamed one stored batch at a time, scorer chosen per config, batches cut by bytes too, the server connection gained a guided-choice helper and a not-served exception (same message) scoring does not depend on; same records, model and in-process scorer")]
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
    /// The server's address, concurrency, key and retries are placement too; that it is a server (and the model named) is
    /// not. No server (in process) leaves the records' settings as they were before the option existed.
    public override IReadOnlyList<string> NotInRecordKey => Config.Server is null
        ? ["batch_size", "chunk_size", "device", "devices", "server"]
        : ["batch_size", "chunk_size", "device", "devices", "server.base_url", "server.max_concurrency", "server.api_key_env", "server.resilience"];

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
        var modelDir = context.InputDirectory("reference_model");
        var modelHash = context.InputDirectoryHash("reference_model"); // the store's content address: no second read of the weights
        long total = context.ReadTable("sequences").RowCount;
        context.Log($"reference model {modelHash[..16]}…, {total} sequences");

        var loop = new RecordMemoLoop<HashedSequence, float[]>(this, context,
            s => new JsonObject { ["reference_model"] = modelHash, ["sequence"] = s.Hash },
            TrainingData.EncodeFloats, TrainingData.DecodeFloats)
        {
            ChunkSize = Config.ChunkSize, ProgressUnit = "sequences", ProgressTotal = total,
        };
        Func<IReadOnlyList<(int[] Prompt, int[] Completion)>, CancellationToken, Task<float[][]>> score;
        Transformer? model = null;
        OpenAiConnection? server = null;
        if (Config.Server is { } serverConfig)
        {
            server = new OpenAiConnection(serverConfig);
            var scorer = new OpenAiPromptScorer(server, server.ResolveModel(modelDir, context.CancellationToken));
            score = scorer.ScoreAsync;
        }
        else score = (pairs, _) => Task.FromResult(CompletionScorer.Score(model ??= Load(modelDir), pairs, Config.BatchSize));
        try
        {
            // One stored batch of sequences at a time: memory holds a batch, not the table.
            await using var writer = context.WriteTable("ref_logprobs");
            await foreach (var rows in TrainingData.ReadSequenceBatchesAsync(context, "sequences"))
            {
                var sequences = rows.Select(r => new HashedSequence(r, TrainingData.SequenceHash(r.InputIds, r.CompletionStart))).ToList();
                var values = await loop.RunAsync(sequences, async (chunk, ct) =>
                {
                    var pairs = chunk.Select(s => (s.Row.InputIds[..s.Row.CompletionStart], s.Row.InputIds[s.Row.CompletionStart..])).ToList();
                    return (IReadOnlyList<float[]>)await score(pairs, ct);
                }, "sequences");
                await WriteAsync(context, writer, sequences, values, modelHash);
            }
        }
        finally
        {
            model?.Dispose();
            server?.Dispose();
        }
    }

    sealed record HashedSequence(TrainingData.SequenceRow Row, string Hash);

    static async Task WriteAsync(IStageContext context, ITableWriter writer, List<HashedSequence> sequences, float[][] values, string modelHash)
    {
        var builder = new BatchBuilder(TableSchema.Get("ref_logprobs"));
        for (int i = 0; i < sequences.Count; i++)
        {
            builder.Set("id", sequences[i].Row.Id).Set("ref_logprobs", values[i]).Set("ref_logprob_sum", values[i].Sum(x => (double)x))
                   .Set("completion_tokens", values[i].Length).Set("sequence_hash", sequences[i].Hash).Set("ref_model_hash", modelHash);
            builder.EndRow();
            if (context.Execution.BatchFull(builder.Count, builder.Bytes)) await writer.WriteAsync(builder.Build(), context.CancellationToken);
        }
        if (builder.Count > 0) await writer.WriteAsync(builder.Build(), context.CancellationToken);
    }
}
