using IwSft.Control.Environments;
using IwSft.Gpu.Models;
using IwSft.Gpu.Training;

namespace IwSft.Gpu.Control;

/// <summary>The columns of the paper's control table.</summary>
public enum ControlMethod { Bc, BcTop, Sft, SftQ, IwSftQ }

/// <summary>Every constant of the control recipe (defaults: DESIGN.md §2, the authors' values).</summary>
public sealed record ControlRecipe
{
    public int[] HiddenSizes { get; init; } = [256, 256, 256];
    public ControlTrainingSettings BehaviourCloning { get; init; } = ControlTrainingSettings.BehaviourCloning;
    public ControlTrainingSettings FineTune { get; init; } = ControlTrainingSettings.FineTune;
    /// <summary>BC(10%) and SFT keep trajectories with return above this percentile.</summary>
    public double TopPercentile { get; init; } = 90;
    /// <summary>Keep returns strictly above the cut-off (the authors' <c>&gt;</c>); false keeps ties (≥).</summary>
    public bool StrictThreshold { get; init; } = true;
    /// <summary>SFT(Q) and iw-SFT(Q): the selections above these percentiles, concatenated.</summary>
    public double[] StratifyPercentiles { get; init; } = [90, 95, 98];
    public ImportanceWeighting Weighting { get; init; } = new();

    public static string Label(ControlMethod m) => m switch
    {
        ControlMethod.Bc => "BC",
        ControlMethod.BcTop => "BC(10%)",
        ControlMethod.Sft => "SFT",
        ControlMethod.SftQ => "SFT(Q)",
        ControlMethod.IwSftQ => "iw-SFT(Q)",
        _ => throw new ArgumentOutOfRangeException(nameof(m)),
    };

    /// <summary>The machine name used in stage names and tables ("bc", "bc_top", "sft", "sft_q", "iw_sft_q").</summary>
    public static string Key(ControlMethod m) => m switch
    {
        ControlMethod.Bc => "bc",
        ControlMethod.BcTop => "bc_top",
        ControlMethod.Sft => "sft",
        ControlMethod.SftQ => "sft_q",
        ControlMethod.IwSftQ => "iw_sft_q",
        _ => throw new ArgumentOutOfRangeException(nameof(m)),
    };

    public static ControlMethod ParseKey(string key)
    {
        foreach (var m in Enum.GetValues<ControlMethod>()) if (Key(m) == key) return m;
        throw new ArgumentException($"unknown control method '{key}'; valid: {string.Join(", ", Enum.GetValues<ControlMethod>().Select(Key))}");
    }

    /// <summary>Whether the method starts from π_ref (fine-tunes) rather than from scratch.</summary>
    public static bool FineTunesReference(ControlMethod m) => m is ControlMethod.Sft or ControlMethod.SftQ or ControlMethod.IwSftQ;
}

/// <summary>Result of training one method on one seed.</summary>
public sealed record MethodRun(ControlMethod Method, int Seed, GaussianMlpPolicy Policy, List<TrainingStep> Log, List<CurvePoint> Curve);

/// <summary>The five methods as functions of (dataset, π_ref, recipe, seed).</summary>
public static class ControlMethods
{
    /// <summary>Episodes a method trains on (indices into the dataset, with repeats for SFT(Q)).</summary>
    public static IReadOnlyList<int> Selection(ControlMethod method, IReadOnlyList<double> returns, ControlRecipe recipe) => method switch
    {
        ControlMethod.Bc => Enumerable.Range(0, returns.Count).ToArray(),
        ControlMethod.BcTop or ControlMethod.Sft => Samplers.PercentileStratifiedConcatenation(returns, [recipe.TopPercentile], recipe.StrictThreshold),
        ControlMethod.SftQ or ControlMethod.IwSftQ => Samplers.PercentileStratifiedConcatenation(returns, recipe.StratifyPercentiles, recipe.StrictThreshold),
        _ => throw new ArgumentOutOfRangeException(nameof(method)),
    };

    /// <summary>
    /// Trains one method. BC and BC(10%) start from a fresh policy (initialised from the seed) with the BC
    /// settings; the others copy <paramref name="reference"/> (π_ref = BC on all data, same seed) and fine-tune.
    /// The curve is the mean normalised score on <paramref name="curveEpisodes"/> curve-seed episodes, every
    /// <paramref name="curveEvery"/> updates (0 = no curve).
    /// </summary>
    public static MethodRun Train(ControlMethod method, ControlEnvironmentSpec spec, IReadOnlyList<Episode> dataset,
                                  GaussianMlpPolicy? reference, ControlRecipe recipe, int seed,
                                  int curveEvery = 0, int curveEpisodes = 10, CancellationToken cancellationToken = default)
    {
        var returns = dataset.Select(e => e.Return).ToArray();
        var episodes = Selection(method, returns, recipe).Select(i => dataset[i]).ToArray();
        bool fineTune = ControlRecipe.FineTunesReference(method);
        if (fineTune && reference is null) throw new ArgumentException($"{ControlRecipe.Label(method)} fine-tunes π_ref, which was not given");

        // The fresh policy's weights come from its own generator, seeded from (seed, method): never libtorch's
        // process-wide RNG, which concurrently running stages would share.
        var policy = fineTune ? reference!.Clone()
            : new GaussianMlpPolicy(dataset[0].ObservationSize, dataset[0].ActionSize, recipe.HiddenSizes, seed: (long)(ControlRng.Derive(seed, (int)method, 0x1417) >> 1));
        var settings = fineTune ? recipe.FineTune : recipe.BehaviourCloning;
        var curve = new List<CurvePoint>();
        var log = ControlTrainer.Train(policy, episodes, settings, ControlRng.Derive(seed, (int)method),
            weighting: method == ControlMethod.IwSftQ ? recipe.Weighting : null,
            reference: method == ControlMethod.IwSftQ ? reference : null,
            checkpointEvery: curveEvery,
            onCheckpoint: curveEvery > 0 ? (step, p) =>
            {
                curve.Add(new CurvePoint(step, PolicyEvaluator.MeanNormalisedScore(p, spec, curveEpisodes, PolicyEvaluator.CurveSeed)));
                p.train();
            } : null,
            cancellationToken: cancellationToken);
        return new MethodRun(method, seed, policy, log, curve);
    }
}
