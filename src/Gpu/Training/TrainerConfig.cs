namespace IwSft.Gpu.Training;

/// <summary>Which objective the trainer optimises.</summary>
public enum LossKind
{
    /// <summary>Completion-only NLL, every loss token weight 1.</summary>
    Sft,
    /// <summary>iw-SFT, one clipped weight per sequence from the mean completion-token log-ratio (the authors' best).</summary>
    IwSftSequence,
    /// <summary>iw-SFT, one clipped weight per token.</summary>
    IwSftToken,
}

/// <summary>Which distribution plays q in the weight q/π_ref.</summary>
public enum ProposalPolicy
{
    /// <summary>The policy being trained, gradients stopped (the authors' LLM code).</summary>
    Current,
    /// <summary>An EMA copy of the policy (the authors' control code).</summary>
    Ema,
}

/// <summary>Where π_ref's log-probs come from.</summary>
public enum ReferenceSource
{
    /// <summary>A per-token column computed once by the reference log-prob stage.</summary>
    Precomputed,
    /// <summary>A frozen reference model run every step (one extra forward).</summary>
    Live,
}

/// <summary>How each epoch's examples are drawn.</summary>
public enum SamplingMode
{
    /// <summary>Every example once per epoch, in a seeded random order.</summary>
    Shuffle,
    /// <summary>SFT(Q): N draws with replacement proportional to the sampling weight.</summary>
    Weighted,
}

public enum OptimiserKind { AdamW, Sgd }

/// <summary>
/// Every knob of the trainer. Defaults are the authors' LLM recipe (open-thoughts/s1 launch script and
/// the iw-SFT loss): lr 1e-5, cosine to 0 after 5% warmup, AdamW betas (0.9, 0.95), weight decay 1e-4,
/// 5 epochs, global batch 8, micro-batch 1, sequence-level weights with temperature 1 and clip [0, 16],
/// token-level clip [1 − 0.8, 1 + 0.8].
/// </summary>
public sealed class TrainerConfig
{
    public LossKind Loss { get; set; } = LossKind.Sft;
    public ProposalPolicy Proposal { get; set; } = ProposalPolicy.Current;
    public ReferenceSource Reference { get; set; } = ReferenceSource.Precomputed;
    public SamplingMode Sampling { get; set; } = SamplingMode.Shuffle;

    /// <summary>Sequence level: w = clamp(exp(temperature · mean diff), min, max).</summary>
    public double WeightTemperature { get; set; } = 1.0;
    public double WeightClipMin { get; set; } = 0.0;
    public double WeightClipMax { get; set; } = 16.0;
    /// <summary>Token level: w_t = clamp(exp(diff_t), 1 − ε, 1 + ε).</summary>
    public double TokenClipEpsilon { get; set; } = 0.8;
    /// <summary>EMA decay of q when <see cref="Proposal"/> is Ema (control recipe: 0.9).</summary>
    public double EmaDecay { get; set; } = 0.9;

    public OptimiserKind Optimiser { get; set; } = OptimiserKind.AdamW;
    public double LearningRate { get; set; } = 1e-5;
    public double MinLearningRate { get; set; } = 0.0;
    public double WarmupRatio { get; set; } = 0.05;
    /// <summary>Overrides <see cref="WarmupRatio"/> when set (control: 300 steps).</summary>
    public int? WarmupSteps { get; set; }
    public double Beta1 { get; set; } = 0.9;
    public double Beta2 { get; set; } = 0.95;
    public double AdamEpsilon { get; set; } = 1e-8;
    public double WeightDecay { get; set; } = 1e-4;
    /// <summary>
    /// Keep AdamW's moments (and any fp32 master weights) in host memory, streamed through each parameter's device in
    /// chunks during the optimiser step (ZeRO-Offload's placement). Halves the GPU bytes per fp32 parameter (16 → 8:
    /// weights + gradients) at the cost of moving 16 bytes per parameter over PCIe every step; the trajectory is
    /// bit-identical, so a run may be resumed with it switched either way. Off by default: turn it on when parameters,
    /// gradients and moments do not fit on the devices (Qwen2.5-32B on 8×H100 80GB).
    /// </summary>
    public bool OptimiserStateOnHost { get; set; }
    /// <summary>Elements of one parameter whose state is on the device at once when <see cref="OptimiserStateOnHost"/> (default 64 Mi).</summary>
    public long OptimiserOffloadChunkElements { get; set; } = AdamW.DefaultOffloadChunkElements;
    /// <summary>Global gradient-norm clip; 0 or less disables it. HF Trainer default 1.0.</summary>
    public double MaxGradNorm { get; set; } = 1.0;

    public int Epochs { get; set; } = 5;
    /// <summary>Overrides the epoch-derived step count when set.</summary>
    public int? MaxSteps { get; set; }
    /// <summary>Sequences per optimiser step (across all micro-batches).</summary>
    public int GlobalBatchSize { get; set; } = 8;
    /// <summary>Sequences per forward/backward; the global batch is accumulated over micro-batches.</summary>
    public int MicroBatchSize { get; set; } = 1;
    /// <summary>Sequences longer than this are truncated (the authors' block size 22,000).</summary>
    public int MaxSequenceLength { get; set; } = 22_000;

    public ulong Seed { get; set; } = 42;
    /// <summary>Checkpoint every N optimiser steps (and always at the end); 0 = only at the end.</summary>
    public int CheckpointEvery { get; set; } = 0;
    /// <summary>Checkpoints kept on disk (oldest removed first); 0 keeps all.</summary>
    public int KeepCheckpoints { get; set; } = 2;

    public void Validate()
    {
        static void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"trainer config: {message}"); }
        Check(LearningRate > 0 && double.IsFinite(LearningRate), $"learning_rate must be positive, got {LearningRate}");
        Check(MinLearningRate >= 0 && MinLearningRate <= LearningRate, $"min_learning_rate must be in [0, learning_rate], got {MinLearningRate}");
        Check(WarmupRatio is >= 0 and <= 1, $"warmup_ratio must be in [0, 1], got {WarmupRatio}");
        Check(GlobalBatchSize > 0, $"global_batch_size must be positive, got {GlobalBatchSize}");
        Check(MicroBatchSize > 0 && MicroBatchSize <= GlobalBatchSize, $"micro_batch_size must be in [1, global_batch_size], got {MicroBatchSize}");
        Check(Epochs > 0 || MaxSteps > 0, "set epochs or max_steps");
        Check(MaxSequenceLength >= 2, $"max_sequence_length must be at least 2, got {MaxSequenceLength}");
        Check(WeightClipMin >= 0 && WeightClipMax >= WeightClipMin, $"weight clip must satisfy 0 <= min <= max, got [{WeightClipMin}, {WeightClipMax}]");
        Check(TokenClipEpsilon is >= 0 and <= 1, $"token_clip_epsilon must be in [0, 1], got {TokenClipEpsilon}");
        Check(EmaDecay is >= 0 and <= 1, $"ema_decay must be in [0, 1], got {EmaDecay}");
        Check(CheckpointEvery >= 0 && KeepCheckpoints >= 0, "checkpoint_every and keep_checkpoints must be >= 0");
        Check(OptimiserOffloadChunkElements > 0, $"optimiser_offload_chunk_elements must be positive, got {OptimiserOffloadChunkElements}");
        Check(!OptimiserStateOnHost || Optimiser == OptimiserKind.AdamW, $"optimiser_state_on_host needs optimiser = adam_w ({Optimiser} keeps no state)");
    }
}
