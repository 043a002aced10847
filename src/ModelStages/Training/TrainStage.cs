using System.Diagnostics;
using System.Text.Json;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Training;

public sealed class TrainStageConfig
{
    /// <summary>
    /// Loss, optimiser, schedule, batch, seed, checkpoint cadence (authors' defaults), and where AdamW's state lives:
    /// <c>optimiser_state_on_host</c> keeps the moments in host memory (off by default; needed for a 32B model on 8×80 GB).
    /// </summary>
    public TrainerConfig Trainer { get; set; } = new();
    /// <summary>Torch device, e.g. "cpu" or "cuda:0".</summary>
    public string Device { get; set; } = "cpu";
    /// <summary>
    /// Tensor parallelism: two or more devices (e.g. cuda:0 … cuda:7) shard the policy with
    /// <see cref="TensorParallel.Apply"/> (one process; attention, MLP, embedding and lm_head sharded, layer l's
    /// residual stream on device l mod n, <see cref="GradientCheckpointing"/> as on one device);
    /// the checkpoint is loaded in host memory and sharded out, and <see cref="Device"/> is ignored. Supports q = current policy with
    /// precomputed reference log-probs (the s1k recipe).
    /// </summary>
    public List<string> Devices { get; set; } = [];
    /// <summary>Matmul dtype with fp32 master weights; null = "bfloat16" on CUDA (the authors' bf16), float32 on CPU.</summary>
    public string? ComputeDType { get; set; }
    /// <summary>Recompute each layer in the backward pass (the authors train with it on).</summary>
    public bool GradientCheckpointing { get; set; }
    /// <summary>
    /// Positions per chunk when the loss computes log-probs (<see cref="ChunkedLogProbs"/>): only one chunk's logits
    /// [chunk, V / devices] per device exist at a time. Default 2048; 0 = all positions at once.
    /// </summary>
    public int LossChunkTokens { get; set; } = ChunkedLogProbs.DefaultChunkTokens;
    /// <summary>
    /// A durable directory for intermediate checkpoints (in a subdirectory per run fingerprint). When set, a
    /// rerun of the same run resumes exactly from its newest checkpoint (after a crash, a kill or a
    /// non-finite stop). When null, checkpoints go to the run's scratch space and do not survive the run.
    /// </summary>
    public string? CheckpointDirectory { get; set; }
    /// <summary>dtype of the saved model (null: the base checkpoint's).</summary>
    public string? SaveDType { get; set; }
    /// <summary>Log a progress line every N steps.</summary>
    public int LogEvery { get; set; } = 10;
}

/// <summary>
/// Trains the base model on the curated sequences with SFT, SFT(Q) or iw-SFT, writes the final
/// checkpoint (config.json + safetensors, tokenizer files carried over), a per-step metrics table
/// and training-curve plots. Reference log-probs come from the `ref_logprobs` input (precomputed) or a
/// live `reference_model`.
/// </summary>
public sealed class TrainStage(string name = "train", TrainStageConfig? config = null) : Stage<TrainStageConfig>(name, config)
{
    public override string Kind => "train";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } =
    [
        PortSpec.Table("sequences", "sequences"),
        PortSpec.Dir("base_model"),
        PortSpec.Table("ref_logprobs", "ref_logprobs", optional: true),
        PortSpec.Dir("reference_model", optional: true),
    ];
    public override IReadOnlyList<PortSpec> Outputs { get; } =
        [PortSpec.Dir("model"), PortSpec.Table("metrics", "train_metrics"), PortSpec.Dir("report")];

    public override async Task RunAsync(IStageContext context)
    {
        var tc = Config.Trainer;
        tc.Validate();
        if (IsTensorParallel && UsesImportanceWeights && (tc.Proposal == ProposalPolicy.Ema || tc.Reference == ReferenceSource.Live))
            throw new ArgumentException($"stage '{Name}': devices (tensor parallelism) supports proposal = current with precomputed reference log-probs only");
        var sequences = await TrainingData.ReadSequencesAsync(context, "sequences");
        if (sequences.Count == 0) throw new InvalidDataException($"stage '{Name}': the sequences input is empty");
        var examples = await BuildExamplesAsync(context, sequences, UsesImportanceWeights && tc.Reference == ReferenceSource.Precomputed);

        var baseDir = context.InputDirectory("base_model");
        var options = ModelOptionsForDevice();
        using var models = LoadModels(context, baseDir, options);
        using var trainer = new Trainer(models.Policy, examples, tc, new AuxiliaryModels(models.Ema, models.Reference));
        var saveDType = Config.SaveDType;
        trainer.ExportModel = (m, dir) => Checkpoint.Save(models.Policy, dir, saveDType);
        var checkpoints = ResumeFromCheckpoints(context, trainer);
        var offloaded = trainer.Optimiser is AdamW { StateOnHost: true } adam ? adam : null;
        LogPlan(context, trainer, examples.Count, options, offloaded);

        int startStep = trainer.Step;
        TrainWithProgress(context, trainer, checkpoints);
        await WriteOutputsAsync(context, trainer, models.Policy, baseDir, examples.Count);
        context.SetMetric("steps_run", trainer.Step - startStep);   // < steps when this run resumed an interrupted one
        if (offloaded is not null) context.SetMetric("optimiser_chunks_streamed", offloaded.ChunksStreamed);
    }

    bool UsesImportanceWeights => Config.Trainer.Loss != LossKind.Sft;
    bool IsTensorParallel => Config.Devices.Count > 1;

    ModelOptions ModelOptionsForDevice()
    {
        bool cuda = (IsTensorParallel ? Config.Devices[0] : Config.Device).StartsWith("cuda", StringComparison.OrdinalIgnoreCase);
        // Sharded runs load the full model in host memory once and copy each shard to its device.
        return new ModelOptions(IsTensorParallel ? "cpu" : Config.Device, "float32", Config.ComputeDType ?? (cuda ? "bfloat16" : null),
                                Config.GradientCheckpointing, Config.LossChunkTokens);
    }

    /// <summary>The policy (sharded when tensor parallel), the EMA proposal and the live reference, as the configuration needs them.</summary>
    sealed record TrainingModels(Transformer Policy, Transformer? Ema, Transformer? Reference) : IDisposable
    {
        public void Dispose()
        {
            Reference?.Dispose();
            Ema?.Dispose();
            Policy.Dispose();
        }
    }

    TrainingModels LoadModels(IStageContext context, string baseDir, ModelOptions options)
    {
        var tc = Config.Trainer;
        var policy = Checkpoint.Load(baseDir, options);
        Transformer? ema = null;
        try
        {
            if (IsTensorParallel) TensorParallel.Apply(policy, Config.Devices);
            ema = UsesImportanceWeights && tc.Proposal == ProposalPolicy.Ema ? Checkpoint.Load(baseDir, options) : null;
            Transformer? reference = null;
            if (UsesImportanceWeights && tc.Reference == ReferenceSource.Live)
            {
                if (!context.HasInput("reference_model"))
                    throw new ArgumentException($"stage '{Name}': trainer.reference = live needs the 'reference_model' input bound");
                reference = Checkpoint.Load(context.InputDirectory("reference_model"), options with { GradientCheckpointing = false });
            }
            return new TrainingModels(policy, ema, reference);
        }
        catch
        {
            ema?.Dispose();
            policy.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The run's checkpoint directory, one per (trainer fingerprint, base model): a rerun of the same run resumes
    /// from its newest checkpoint, a changed configuration, data set or base model starts afresh instead of
    /// continuing someone else's state, and <c>--force</c> discards it.
    /// </summary>
    string ResumeFromCheckpoints(IStageContext context, Trainer trainer)
    {
        var runKey = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(
            System.Text.Encoding.UTF8.GetBytes(trainer.Fingerprint + ":" + context.InputDirectoryHash("base_model") +
                                               (IsTensorParallel ? ":tp" + Config.Devices.Count : ""))))[..16];
        var checkpoints = Path.Combine(Config.CheckpointDirectory ?? Path.Combine(context.ScratchDirectory, "checkpoints"), runKey);
        if (context.Forced && Directory.Exists(checkpoints))
        {
            // --force means from scratch: a resume is only for an interrupted run of the same key.
            context.Log($"forced: discarding the resumable checkpoints in {checkpoints}, training from step 0");
            Directory.Delete(checkpoints, recursive: true);
        }
        if (Trainer.LatestCheckpoint(checkpoints) is { } latest)
        {
            trainer.LoadCheckpoint(latest);
            context.Log($"resumed from {latest} at step {trainer.Step} of {trainer.TotalSteps}");
        }
        return checkpoints;
    }

    void LogPlan(IStageContext context, Trainer trainer, int sequences, ModelOptions options, AdamW? offloaded)
    {
        var tc = Config.Trainer;
        if (offloaded is not null)
            context.Log($"optimiser state on host{(offloaded.PinnedState ? " (pinned)" : "")}: " +
                        $"{offloaded.StateTensors().Sum(t => t.numel() * 4) / (1 << 20)} MiB, streamed in chunks of at most {offloaded.OffloadChunkElements} elements");
        context.Log($"{tc.Loss} on {sequences} sequences: {trainer.TotalSteps} steps ({trainer.StepsPerEpoch}/epoch), " +
                    $"global batch {tc.GlobalBatchSize}, micro-batch {tc.MicroBatchSize}, lr {tc.LearningRate}, " +
                    (IsTensorParallel ? $"tensor parallel over {string.Join(", ", Config.Devices)}" : $"device {Config.Device}") +
                    $", gradient checkpointing {(options.GradientCheckpointing ? "on" : "off")}, loss chunk {options.LossChunkTokens} tokens");
    }

    /// <summary>Runs the remaining steps, reporting progress every step and a log line every <c>log_every</c> steps.</summary>
    void TrainWithProgress(IStageContext context, Trainer trainer, string checkpoints)
    {
        var clock = Stopwatch.StartNew();
        int startStep = trainer.Step;
        trainer.Run(checkpoints, m =>
        {
            context.ReportProgress(m.Step, trainer.TotalSteps, "steps");
            if (m.Step % Math.Max(1, Config.LogEvery) == 0 || m.Step == trainer.TotalSteps)
            {
                double perStep = clock.Elapsed.TotalSeconds / Math.Max(1, m.Step - startStep);
                var eta = TimeSpan.FromSeconds(perStep * (trainer.TotalSteps - m.Step));
                context.Log($"step {m.Step}/{trainer.TotalSteps} loss {m.Loss:F4} lr {m.LearningRate:E2} grad {m.GradNorm:F3} " +
                            $"w {m.WeightMean:F3} [{m.WeightMin:F3}, {m.WeightMax:F3}] ess {m.WeightEss:F1} {m.TokensPerSecond:F0} tok/s ETA {eta:hh\\:mm\\:ss}");
            }
        }, cancellationToken: context.CancellationToken);
    }

    /// <summary>The final model (tokenizer files carried over), the per-step metrics table, the curves and a summary.</summary>
    async Task WriteOutputsAsync(IStageContext context, Trainer trainer, Transformer policy, string baseDir, int sequences)
    {
        var tc = Config.Trainer;
        // Saved in scratch and moved in file by file: the engine owns the output directory itself.
        var modelDir = context.OutputDirectory("model");
        var staged = Path.Combine(context.ScratchDirectory, "final-model");
        Checkpoint.Save(policy, staged, Config.SaveDType);
        foreach (var file in Directory.GetFiles(staged)) File.Move(file, Path.Combine(modelDir, Path.GetFileName(file)), overwrite: true);
        CopyTokenizerFiles(baseDir, modelDir);
        await WriteMetricsAsync(context, trainer.History);
        var reportDir = context.OutputDirectory("report");
        TrainingCurve.Save(trainer.History, reportDir, $"{Name}: {tc.Loss}");
        var final = trainer.History[^1];
        File.WriteAllText(Path.Combine(reportDir, "summary.json"), JsonSerializer.Serialize(new
        {
            loss = tc.Loss.ToString(), steps = trainer.Step, sequences, final_loss = final.Loss,
            config = tc,
        }, new JsonSerializerOptions { WriteIndented = true, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } }));
        context.SetMetric("final_loss", final.Loss);
        context.SetMetric("steps", trainer.Step);
        // Throughput is a fact about this run, so it goes to the run manifest, never into an artifact: the same
        // key must always produce the same bytes.
        context.SetMetric("tokens_per_s", trainer.History.Average(h => h.TokensPerSecond));
    }

    async Task<List<TrainingExample>> BuildExamplesAsync(IStageContext context, List<TrainingData.SequenceRow> sequences, bool needReference)
    {
        if (!needReference)
            return sequences.Select(s => new TrainingExample(s.Id, s.InputIds, s.CompletionStart, null, s.SamplingWeight)).ToList();
        if (!context.HasInput("ref_logprobs"))
            throw new ArgumentException($"stage '{Name}': iw-SFT with precomputed reference log-probs needs the 'ref_logprobs' input bound");
        var reference = await TrainingData.ReadReferenceAsync(context, "ref_logprobs");
        var modelHashes = reference.Values.Select(v => v.ModelHash).Distinct().ToList();
        if (modelHashes.Count > 1)
            throw new InvalidDataException($"stage '{Name}': ref_logprobs mixes {modelHashes.Count} reference models ({string.Join(", ", modelHashes.Select(h => h[..12]))})");
        var list = new List<TrainingExample>(sequences.Count);
        foreach (var s in sequences)
        {
            if (!reference.TryGetValue(s.Id, out var r))
                throw new InvalidDataException($"stage '{Name}', input ref_logprobs: no row for sequence id '{s.Id}' (rerun the reference log-prob stage on these sequences)");
            if (r.SequenceHash != TrainingData.SequenceHash(s.InputIds, s.CompletionStart))
                throw new InvalidDataException($"stage '{Name}', input ref_logprobs, id '{s.Id}', column sequence_hash: the log-probs were computed for different tokens than the sequence now has");
            list.Add(new TrainingExample(s.Id, s.InputIds, s.CompletionStart, r.LogProbs, s.SamplingWeight));
        }
        context.Log($"joined reference log-probs of model {modelHashes.FirstOrDefault()?[..16]}…");
        return list;
    }

    static void CopyTokenizerFiles(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from))
        {
            var name = Path.GetFileName(file);
            if (name == Checkpoint.ConfigFile || name == Checkpoint.IndexFile || name.EndsWith(".safetensors")) continue;
            File.Copy(file, Path.Combine(to, name), overwrite: true);
        }
    }

    static async Task WriteMetricsAsync(IStageContext context, IReadOnlyList<StepMetrics> history)
    {
        await using var writer = context.WriteTable("metrics");
        var builder = new BatchBuilder(TableSchema.Get("train_metrics"));
        foreach (var m in history)
        {
            builder.Set("step", m.Step).Set("epoch", m.Epoch).Set("loss", m.Loss).Set("lr", m.LearningRate).Set("grad_norm", m.GradNorm)
                   .Set("w_mean", m.WeightMean).Set("w_min", m.WeightMin).Set("w_max", m.WeightMax).Set("w_ess", m.WeightEss)
                   .Set("tokens", m.Tokens).Set("loss_tokens", m.LossTokens);
            builder.EndRow();
        }
        await writer.WriteAsync(builder.Build(), context.CancellationToken);
    }
}
