using System.Globalization;
using System.Text;
using System.Text.Json;
using IwSft.Gpu.Control;
using IwSft.Control.Environments;
using IwSft.Gpu.Models;
using IwSft.Runtime;

namespace IwSft.Pipelines.Control;

/// <summary>Every constant of one control training stage; defaults are DESIGN.md §2's.</summary>
public sealed class ControlTrainConfig
{
    public string Environment { get; set; } = PointMassNavigation.EnvironmentName;
    /// <summary>bc, bc_top, sft, sft_q or iw_sft_q.</summary>
    public string Method { get; set; } = "bc";
    /// <summary>Training seeds 0 … Seeds − 1 (one policy each).</summary>
    public int Seeds { get; set; } = 3;
    public int[] HiddenSizes { get; set; } = [256, 256, 256];
    public int BcSteps { get; set; } = 10_000;
    public double BcLearningRate { get; set; } = 1e-3;
    /// <summary>"episodes" (the authors': BcBatchSize / FineTuneBatchSize whole episodes per batch, padded and
    /// masked) or "chunks" (the old batching: that many transitions as chunks of ChunkLength steps).</summary>
    public string Batching { get; set; } = "episodes";
    public int BcBatchSize { get; set; } = 128;
    public int FineTuneSteps { get; set; } = 2_000;
    public double FineTuneLearningRate { get; set; } = 4e-5;
    public int FineTuneBatchSize { get; set; } = 256;
    public int FineTuneWarmupSteps { get; set; } = 300;
    /// <summary>Consecutive steps per trajectory chunk (the τ of log p(τ)/len(τ)); only with Batching "chunks".</summary>
    public int ChunkLength { get; set; } = 16;
    public double TopPercentile { get; set; } = 90;
    public double[] StratifyPercentiles { get; set; } = [90, 95, 98];
    /// <summary>Keep returns strictly above each percentile cut-off (the authors' &gt;); false: at or above.</summary>
    public bool StrictThreshold { get; set; } = true;
    public double EmaDecay { get; set; } = 0.9;
    public double Temperature { get; set; } = 10;
    public double MaxWeight { get; set; } = 1000;
    public bool NormaliseWeights { get; set; } = true;
    /// <summary>Learning curve: score every this many updates (0 = none) on CurveEpisodes curve-seed episodes.</summary>
    public int CurveEvery { get; set; } = 0;
    public int CurveEpisodes { get; set; } = 10;

    public ControlBatching ParseBatching() => Batching switch
    {
        "episodes" => ControlBatching.Episodes,
        "chunks" => ControlBatching.Chunks,
        _ => throw new ArgumentException($"unknown control batching '{Batching}'; valid: episodes, chunks"),
    };

    public ControlRecipe ToRecipe() => new()
    {
        HiddenSizes = HiddenSizes,
        BehaviourCloning = new ControlTrainingSettings
        {
            Steps = BcSteps, LearningRate = BcLearningRate, BatchSize = BcBatchSize, Batching = ParseBatching(), ChunkLength = ChunkLength,
        },
        FineTune = new ControlTrainingSettings
        {
            Steps = FineTuneSteps, LearningRate = FineTuneLearningRate, BatchSize = FineTuneBatchSize, Batching = ParseBatching(), ChunkLength = ChunkLength,
            WarmupSteps = FineTuneWarmupSteps, Cosine = true,
        },
        TopPercentile = TopPercentile,
        StratifyPercentiles = StratifyPercentiles,
        StrictThreshold = StrictThreshold,
        Weighting = new ImportanceWeighting { EmaDecay = EmaDecay, Temperature = Temperature, MaxWeight = MaxWeight, NormaliseOverBatch = NormaliseWeights },
    };
}

/// <summary>
/// Trains one method of the control table for every seed. Input "episodes" (control_episodes) and, for the
/// fine-tuning methods (sft, sft_q, iw_sft_q), "reference": the directory written by the bc instance of this
/// kind (π_ref, one policy per seed; seed k fine-tunes π_ref of seed k). Output directory "policies":
/// policy_seed{k}.pt (+ .pt.json architecture), training_log.csv (per step: seed, step, loss, lr, weight
/// max, effective sample size, max weight share, mean log q − log π_ref per step, trajectories and real steps in
/// the batch) and curve.json (learning-curve points and the weight diagnostics averaged over each curve interval).
/// </summary>
public sealed class ControlTrainStage(string name, ControlTrainConfig? config = null) : Stage<ControlTrainConfig>(name, config)
{
    public const string EpisodesInput = "episodes", ReferenceInput = "reference", PoliciesOutput = "policies";
    public override string Kind => "control.train";
    public override int Version => 2;
    public override IReadOnlyList<PortSpec> Inputs =>
        [PortSpec.Table(EpisodesInput, ControlEpisodeTable.SchemaName), PortSpec.Dir(ReferenceInput, optional: true)];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir(PoliciesOutput)];

    public static string PolicyFile(int seed) => $"policy_seed{seed}.pt";
    public const string CurveFile = "curve.json", LogFile = "training_log.csv";

    public override async Task RunAsync(IStageContext context)
    {
        var method = ControlRecipe.ParseKey(Config.Method);
        if (Config.Seeds < 1) throw new ArgumentException($"stage '{Name}': seeds must be ≥ 1");
        var spec = ControlEnvironments.Get(Config.Environment);
        var recipe = Config.ToRecipe();
        bool needsReference = ControlRecipe.FineTunesReference(method);
        if (needsReference && !context.HasInput(ReferenceInput))
            throw new InvalidOperationException($"stage '{Name}': method {Config.Method} fine-tunes π_ref; bind input '{ReferenceInput}' to the bc stage's policies");

        var dataset = await ControlEpisodeTable.ReadAsync(context.ReadTable(EpisodesInput), Name, spec.Name, context.CancellationToken);
        string output = context.OutputDirectory(PoliciesOutput);
        var curve = new List<object>();
        var log = new StringBuilder("seed,step,loss,learning_rate,weight_max,weight_ess,max_share,mean_log_ratio,trajectories,steps\n");
        var diagnostics = new List<object>();
        for (int seed = 0; seed < Config.Seeds; seed++)
        {
            GaussianMlpPolicy? reference = null;
            if (needsReference)
            {
                var path = Path.Combine(context.InputDirectory(ReferenceInput), PolicyFile(seed));
                if (!File.Exists(path)) throw new FileNotFoundException($"stage '{Name}': reference policy for seed {seed} missing: {path}");
                reference = GaussianMlpPolicy.LoadFrom(path);
            }
            var run = ControlMethods.Train(method, spec, dataset, reference, recipe, seed, Config.CurveEvery, Config.CurveEpisodes, context.CancellationToken);
            run.Policy.SaveTo(Path.Combine(output, PolicyFile(seed)));
            foreach (var s in run.Log)
                log.Append(CultureInfo.InvariantCulture, $"{seed},{s.Step},{s.Loss:R},{s.LearningRate:R},{s.WeightMax:R},{s.WeightEss:R},{s.MaxShare:R},{s.MeanLogRatio:R},{s.Trajectories},{s.Steps}\n");
            int every = Config.CurveEvery > 0 ? Config.CurveEvery : Math.Max(1, run.Log.Count / 20);
            // Weight diagnostics only where there are weights (iw-SFT(Q)); uniform weights have ESS = B, share 1/B.
            for (int start = 0; method == ControlMethod.IwSftQ && start < run.Log.Count; start += every)
            {
                var window = run.Log.Skip(start).Take(every).ToList();
                diagnostics.Add(new
                {
                    seed, step = window[^1].Step, batch = window.Average(x => x.Trajectories),
                    ess_mean = window.Average(x => x.WeightEss), ess_min = window.Min(x => x.WeightEss),
                    max_share_mean = window.Average(x => x.MaxShare), max_share_max = window.Max(x => x.MaxShare),
                    log_ratio_mean = window.Average(x => x.MeanLogRatio),
                });
            }
            foreach (var p in run.Curve) curve.Add(new { seed, step = p.Step, normalised_score = p.NormalisedScore });
            context.SetMetric($"final_loss_seed{seed}", run.Log.Count > 0 ? run.Log[^1].Loss : double.NaN);
            context.ReportProgress(seed + 1, Config.Seeds, "seeds");
            context.Log($"{spec.Name} {ControlRecipe.Label(method)} seed {seed}: {run.Log.Count} updates, final loss {(run.Log.Count > 0 ? run.Log[^1].Loss : double.NaN):F4}");
            run.Policy.Dispose();
            reference?.Dispose();
        }
        await File.WriteAllTextAsync(Path.Combine(output, LogFile), log.ToString(), context.CancellationToken);
        await File.WriteAllTextAsync(Path.Combine(output, CurveFile), JsonSerializer.Serialize(new
        {
            environment = spec.Name, method = ControlRecipe.Key(method), fine_tune = needsReference, batching = Config.Batching, points = curve,
            diagnostics,
        }), context.CancellationToken);
    }
}
