using IwSft.Core;
using System.Diagnostics;
using System.Text.Json;
using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Training;

/// <summary>Models beside the policy: q's EMA copy and a live reference, each only when the config needs it.</summary>
public sealed record AuxiliaryModels(ICausalLanguageModel? Ema = null, ICausalLanguageModel? Reference = null);

/// <summary>
/// The training loop: deterministic data order for a seed, gradient accumulation to a global batch,
/// the loss family via <see cref="TrainingObjective"/>, global gradient-norm clipping, the schedule,
/// checkpoints with exact resume. The data position, the sampler and the shuffle are pure functions of
/// (seed, step), so the step counter is the whole RNG/data state.
/// </summary>
public sealed class Trainer : IDisposable
{
    readonly ICausalLanguageModel _model;
    readonly IReadOnlyList<TrainingExample> _data;
    readonly AuxiliaryModels _aux;
    readonly ITensorOptimiser _optimiser;
    readonly List<TorchSharp.Modules.Parameter> _params;
    readonly List<StepMetrics> _history = new();
    int _orderEpoch = -1;
    int[] _order = [];

    public Trainer(ICausalLanguageModel model, IReadOnlyList<TrainingExample> data, TrainerConfig config, AuxiliaryModels? auxiliary = null)
    {
        config.Validate();
        if (data.Count == 0) throw new ArgumentException("no training examples");
        for (int i = 0; i < data.Count; i++) data[i].Validate($"training example {i}");
        _model = model; _data = data; Config = config; _aux = auxiliary ?? new AuxiliaryModels();
        bool iw = config.Loss != LossKind.Sft;
        if (iw && config.Proposal == ProposalPolicy.Ema && _aux.Ema is null)
            throw new ArgumentException("proposal = ema needs an EMA model (a copy of the policy's architecture)");
        if (iw && config.Reference == ReferenceSource.Live && _aux.Reference is null)
            throw new ArgumentException("reference = live needs a reference model");
        if (iw && config.Reference == ReferenceSource.Precomputed && data.FirstOrDefault(d => d.RefLogProbs is null) is { } missing)
            throw new ArgumentException($"reference = precomputed, but sequence '{missing.Id}' has no reference log-probs (run the reference log-prob stage)");
        if (config.Sampling == SamplingMode.Weighted && data.All(d => d.SamplingWeight <= 0))
            throw new ArgumentException("sampling = weighted, but every sampling_weight is 0");

        _params = model.TrainableParameters().ToList();
        _optimiser = config.Optimiser switch
        {
            OptimiserKind.AdamW => new AdamW(_params, config.Beta1, config.Beta2, config.AdamEpsilon, config.WeightDecay,
                                             config.OptimiserStateOnHost, config.OptimiserOffloadChunkElements),
            OptimiserKind.Sgd => new Sgd(_params),
            _ => throw new ArgumentOutOfRangeException(nameof(config)),
        };
        StepsPerEpoch = (data.Count + config.GlobalBatchSize - 1) / config.GlobalBatchSize;
        TotalSteps = config.MaxSteps ?? config.Epochs * StepsPerEpoch;
        Schedule = new LearningRateSchedule(config.LearningRate, TotalSteps, config.WarmupRatio, config.MinLearningRate, config.WarmupSteps);
        if (UsesEma) CopyParameters(_params, _aux.Ema!.TrainableParameters().ToList());
        Fingerprint = ComputeFingerprint(config, data);
    }

    /// <summary>
    /// sha256 of everything that determines the run's trajectory: the configuration (except checkpoint
    /// cadence) and every example's id, tokens, completion start, sampling weight and reference log-probs.
    /// A checkpoint resumes only a run with the same fingerprint.
    /// </summary>
    public string Fingerprint { get; }

    static string ComputeFingerprint(TrainerConfig config, IReadOnlyList<TrainingExample> data)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var json = JsonSerializer.SerializeToNode(config)!.AsObject();
        json.Remove(nameof(TrainerConfig.CheckpointEvery));
        json.Remove(nameof(TrainerConfig.KeepCheckpoints));
        // Where the optimiser state lives does not change a single bit of the trajectory: a run that ran out of device
        // memory can be resumed with the state moved to the host.
        json.Remove(nameof(TrainerConfig.OptimiserStateOnHost));
        json.Remove(nameof(TrainerConfig.OptimiserOffloadChunkElements));
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(json.ToJsonString()));
        foreach (var e in data)
        {
            hash.AppendData(System.Text.Encoding.UTF8.GetBytes(e.Id + "\0"));
            hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.InputIds.AsSpan()));
            hash.AppendData(BitConverter.GetBytes(e.CompletionStart));
            hash.AppendData(BitConverter.GetBytes(e.SamplingWeight));
            if (e.RefLogProbs is not null) hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(e.RefLogProbs.AsSpan()));
            hash.AppendData([e.RefLogProbs is null ? (byte)0 : (byte)1]);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    public TrainerConfig Config { get; }
    /// <summary>The optimiser built from the configuration (its placement and counters are observable).</summary>
    public ITensorOptimiser Optimiser => _optimiser;
    public LearningRateSchedule Schedule { get; }
    public int StepsPerEpoch { get; }
    public int TotalSteps { get; }
    /// <summary>Optimiser steps completed.</summary>
    public int Step { get; private set; }
    public IReadOnlyList<StepMetrics> History => _history;
    bool UsesEma => Config.Loss != LossKind.Sft && Config.Proposal == ProposalPolicy.Ema;

    /// <summary>Dataset indices of the global batch for 0-based step <paramref name="step"/>.</summary>
    public int[] BatchIndices(int step)
    {
        int epoch = step / StepsPerEpoch, k = step % StepsPerEpoch;
        if (epoch != _orderEpoch)
        {
            var random = DeterministicRandom.ForStream(Config.Seed, (ulong)epoch);
            _order = Config.Sampling == SamplingMode.Weighted
                ? Samplers.WeightedWithReplacement(_data.Select(d => d.SamplingWeight).ToArray(), _data.Count, random)
                : random.Permutation(_data.Count);
            _orderEpoch = epoch;
        }
        int start = k * Config.GlobalBatchSize, end = Math.Min(_data.Count, start + Config.GlobalBatchSize);
        return _order[start..end];
    }

    /// <summary>One optimiser step. Throws <see cref="NonFiniteTrainingException"/> (without updating) on NaN/inf.</summary>
    public StepMetrics TrainStep()
    {
        if (Step >= TotalSteps) throw new InvalidOperationException($"training is complete ({TotalSteps} steps)");
        var clock = Stopwatch.StartNew();
        var examples = BatchIndices(Step).Select(i => _data[i]).ToList();
        long lossTokens = examples.Sum(e => (long)Math.Max(0, Math.Min(e.InputIds.Length, Config.MaxSequenceLength) - e.CompletionStart));
        bool precomputed = Config.Loss != LossKind.Sft && Config.Reference == ReferenceSource.Precomputed;
        var proposal = UsesEma ? _aux.Ema : null;
        var reference = Config.Loss != LossKind.Sft && Config.Reference == ReferenceSource.Live ? _aux.Reference : null;

        _optimiser.ZeroGrad();
        double loss = 0;
        long tokens = 0;
        var weightParts = new List<Tensor>();
        try
        {
            foreach (var chunk in examples.Chunk(Config.MicroBatchSize))
            {
                using var scope = NewDisposeScope();
                using var batch = MicroBatch.Build(chunk, Config.MaxSequenceLength, _model.Device, precomputed);
                var result = TrainingObjective.Compute(_model, batch, Config, lossTokens, proposal, reference);
                result.Loss.backward();
                loss += result.Loss.item<float>();
                tokens += batch.Tokens;
                weightParts.Add(result.Weights.masked_select(result.WeightMask).to(ScalarType.Float64).cpu().MoveToOuterDisposeScope());
            }
            var stats = WeightStats.Of(cat(weightParts));
            double gradNorm = GradientNorm();
            double lr = Schedule.At(Step);
            if (!double.IsFinite(loss) || !double.IsFinite(gradNorm))
                throw new NonFiniteTrainingException(
                    $"step {Step + 1}: non-finite {(double.IsFinite(loss) ? "gradient norm" : "loss")} (loss {loss}, grad norm {gradNorm}) " +
                    $"on sequences {string.Join(", ", examples.Select(e => e.Id))}; no update was applied");
            if (Config.MaxGradNorm > 0 && gradNorm > Config.MaxGradNorm) ScaleGradients(Config.MaxGradNorm / (gradNorm + 1e-6));
            _optimiser.Step(lr);
            if (UsesEma) Losses.EmaUpdate(_aux.Ema!.TrainableParameters(), _params, Config.EmaDecay);
            Step++;
            double seconds = clock.Elapsed.TotalSeconds;
            var m = new StepMetrics(Step, (double)Step / StepsPerEpoch, loss, lr, gradNorm, stats.Mean, stats.Min, stats.Max,
                                    stats.EffectiveSampleSize, tokens, lossTokens, tokens / Math.Max(seconds, 1e-9), seconds);
            _history.Add(m);
            return m;
        }
        finally
        {
            foreach (var t in weightParts) t.Dispose();
        }
    }

    /// <summary>
    /// Trains to <see cref="TotalSteps"/> (or <paramref name="stopAfterStep"/>), checkpointing every
    /// <see cref="TrainerConfig.CheckpointEvery"/> steps and at the end into <paramref name="checkpointRoot"/>.
    /// On a non-finite step the exception names the last good checkpoint, which is left untouched.
    /// </summary>
    public void Run(string? checkpointRoot, Action<StepMetrics>? onStep = null, int? stopAfterStep = null, CancellationToken cancellationToken = default)
    {
        int stop = Math.Min(TotalSteps, stopAfterStep ?? TotalSteps);
        string? lastGood = checkpointRoot is null ? null : LatestCheckpoint(checkpointRoot);
        while (Step < stop)
        {
            cancellationToken.ThrowIfCancellationRequested();
            StepMetrics m;
            try { m = TrainStep(); }
            catch (NonFiniteTrainingException e)
            {
                throw new NonFiniteTrainingException($"{e.Message}. Training stopped; last good checkpoint: {lastGood ?? "(none yet)"}");
            }
            onStep?.Invoke(m);
            bool due = Config.CheckpointEvery > 0 && Step % Config.CheckpointEvery == 0;
            if (checkpointRoot is not null && (due || Step == stop))
            {
                lastGood = SaveCheckpoint(checkpointRoot);
                PruneCheckpoints(checkpointRoot, lastGood);
            }
        }
    }

    double GradientNorm()
    {
        using var scope = NewDisposeScope();
        double sumSq = 0;
        foreach (var p in _params)
        {
            var g = p.grad;
            if (g is null) continue;
            sumSq += g.to(ScalarType.Float64).pow(2).sum().item<double>();
        }
        return Math.Sqrt(sumSq);
    }

    void ScaleGradients(double factor)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        foreach (var p in _params) p.grad?.mul_(factor);
    }

    static void CopyParameters(IReadOnlyList<TorchSharp.Modules.Parameter> from, IReadOnlyList<TorchSharp.Modules.Parameter> to)
    {
        if (from.Count != to.Count) throw new ArgumentException($"EMA model has {to.Count} parameters, the policy {from.Count}");
        using var _ = no_grad();
        for (int i = 0; i < from.Count; i++)
        {
            if (!from[i].shape.SequenceEqual(to[i].shape)) throw new ArgumentException($"EMA parameter {i} differs in shape from the policy's");
            to[i].copy_(from[i]);
        }
    }

    // ---- checkpoints ----

    public const string StateFile = "trainer_state.bin";
    public const string StateJson = "trainer_state.json";
    public const string ModelDirectory = "model";

    /// <summary>Writes the model-core checkpoint of the policy (config.json + safetensors) into a directory; set by the caller.</summary>
    public Action<ICausalLanguageModel, string>? ExportModel { get; set; }

    public static string CheckpointName(int step) => $"checkpoint-{step:D7}";

    /// <summary>The newest complete checkpoint under <paramref name="root"/>, or null.</summary>
    public static string? LatestCheckpoint(string root) =>
        !Directory.Exists(root) ? null
            : Directory.GetDirectories(root, "checkpoint-*").Where(d => File.Exists(Path.Combine(d, StateJson))).Order(StringComparer.Ordinal).LastOrDefault();

    sealed record StateSummary(int Step, long OptimiserSteps, int TotalSteps, ulong Seed, int Examples, string Loss, string Fingerprint, List<StepMetrics> History);

    /// <summary>Saves policy, optimiser, EMA, step and metrics history atomically (temp dir + rename).</summary>
    public string SaveCheckpoint(string root)
    {
        Directory.CreateDirectory(root);
        var final = Path.Combine(root, CheckpointName(Step));
        var temp = final + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        Directory.CreateDirectory(temp);
        using (var stream = File.Create(Path.Combine(temp, StateFile)))
        using (var writer = new BinaryWriter(stream))
        {
            TensorFile.Write(writer, _params);
            TensorFile.Write(writer, _optimiser.StateTensors());
            TensorFile.Write(writer, UsesEma ? _aux.Ema!.TrainableParameters().ToList() : []);
        }
        if (ExportModel is not null)
        {
            var modelDir = Path.Combine(temp, ModelDirectory);
            Directory.CreateDirectory(modelDir);
            ExportModel(_model, modelDir);
        }
        // The JSON marker is written last: a checkpoint without it is incomplete and never resumed from.
        var summary = new StateSummary(Step, _optimiser.StepCount, TotalSteps, Config.Seed, _data.Count, Config.Loss.ToString(), Fingerprint, _history);
        File.WriteAllText(Path.Combine(temp, StateJson), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        if (Directory.Exists(final)) Directory.Delete(final, recursive: true);
        Directory.Move(temp, final);
        return final;
    }

    /// <summary>Restores everything <see cref="SaveCheckpoint"/> wrote; the next step continues exactly.</summary>
    public void LoadCheckpoint(string checkpoint)
    {
        var jsonPath = Path.Combine(checkpoint, StateJson);
        if (!File.Exists(jsonPath)) throw new FileNotFoundException($"{checkpoint} is not a complete trainer checkpoint (no {StateJson})", jsonPath);
        var summary = JsonSerializer.Deserialize<StateSummary>(File.ReadAllText(jsonPath))
                      ?? throw new InvalidDataException($"{jsonPath}: empty trainer state");
        if (summary.Fingerprint != Fingerprint)
            throw new InvalidDataException(
                $"{checkpoint}: saved by a different run (seed {summary.Seed}, {summary.Examples} examples, {summary.TotalSteps} steps, " +
                $"fingerprint {summary.Fingerprint[..12]}); this run has seed {Config.Seed}, {_data.Count} examples, {TotalSteps} steps, " +
                $"fingerprint {Fingerprint[..12]} — a different configuration or data set, so resuming would not be exact");
        using (var stream = File.OpenRead(Path.Combine(checkpoint, StateFile)))
        using (var reader = new BinaryReader(stream))
        {
            TensorFile.ReadInto(reader, _params, $"{checkpoint}/{StateFile} (parameters)");
            TensorFile.ReadInto(reader, _optimiser.StateTensors(), $"{checkpoint}/{StateFile} (optimiser)");
            TensorFile.ReadInto(reader, UsesEma ? _aux.Ema!.TrainableParameters().ToList() : [], $"{checkpoint}/{StateFile} (EMA)");
        }
        _optimiser.LoadState(summary.OptimiserSteps, _optimiser.StateTensors());
        Step = summary.Step;
        _history.Clear();
        _history.AddRange(summary.History);
    }

    void PruneCheckpoints(string root, string keep)
    {
        if (Config.KeepCheckpoints <= 0) return;
        var all = Directory.GetDirectories(root, "checkpoint-*").Where(d => !d.Contains(".tmp-")).Order(StringComparer.Ordinal).ToList();
        foreach (var old in all.Take(Math.Max(0, all.Count - Config.KeepCheckpoints)))
            if (old != keep) Directory.Delete(old, recursive: true);
    }

    public void Dispose() => _optimiser.Dispose();
}
