namespace IwSft.Pipelines.Demo;

/// <summary>Sizes of the demo. <see cref="Full"/> is `iwsft run demo`; <see cref="Quick"/> is `--quick` and the end-to-end test.</summary>
public sealed record DemoSettings
{
    /// <summary>Generated train problems: <see cref="ReferenceShare"/> of them train the reference, the rest are sampled for D+.</summary>
    public int TrainProblems { get; init; } = 1200;
    public int EvalProblems { get; init; } = 200;
    public int TrainSeed { get; init; } = 1;
    public int EvalSeed { get; init; } = 2;
    /// <summary>
    /// Share of the clean train problems (by a hash of their id) whose demonstrations train the reference; the reference is
    /// sampled for D+ only on the others, so D+ shows its held-out reliability, not recalled answers (docs/demo.md).
    /// </summary>
    public double ReferenceShare { get; init; } = 0.5;
    /// <summary>Behaviour-mixture demonstrations per train problem (the reference's training data).</summary>
    public int DemonstrationsPerProblem { get; init; } = 3;
    /// <summary>Arithmetic drills per reference problem (the reference's arithmetic, independent of its arm choice; DemonstrateConfig.DrillsPerProblem).</summary>
    public int DrillsPerProblem { get; init; } = 3;
    /// <summary>
    /// The gap regime (docs/demo.md, "Where the theory predicts a gap"): one demonstration in twenty careful, so the careful
    /// arm is rare (α_ref ≈ 0.05) but, taught by the drills, reliable on held-out problems (≈ 87 % right against the bare
    /// answer's ≈ 6 %). D+ is then about half lucky shortcut answers (s⁺ below ½): SFT stays on the shortcut under greedy
    /// decoding, token-level iw-SFT crosses to the careful arm — the bandit's prediction, checked by the report's mean field.
    /// </summary>
    public double CarefulWeight { get; init; } = 0.05;
    public double ShortcutCorrectProbability { get; init; } = 0.3;
    public int HiddenSize { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int ReferenceSteps { get; init; } = 1500;
    public double ReferenceLearningRate { get; init; } = 5e-3;
    /// <summary>Reference samples per train problem (K).</summary>
    public int SamplesPerProblem { get; init; } = 4;
    public int FineTuneSteps { get; init; } = 60;
    public double FineTuneLearningRate { get; init; } = 5e-4;
    public int BatchSize { get; init; } = 32;
    /// <summary>Fine-tuning seeds (data order, SFT(Q)'s draws): five, so the paired iw-SFT − SFT interval has 4 degrees of freedom.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [1, 2, 3, 4, 5];
    /// <summary>Items evaluated with sampling (temperature 1, one sample each); greedy uses all eval problems.</summary>
    public int SampledEvalItems { get; init; } = 100;
    /// <summary>Eval problems copied into the train file (decontamination test only).</summary>
    public int PlantEvalInTrain { get; init; }

    public static DemoSettings Full { get; } = new();

    public static DemoSettings Quick { get; } = new()
    {
        // The balanced mixture: the quick run checks the mechanics, not the regime; a 100-step reference answers few problems
        // right, and half of its demonstrations careful keeps some right answers in its D+.
        TrainProblems = 120, EvalProblems = 30, CarefulWeight = 0.5, DemonstrationsPerProblem = 2, DrillsPerProblem = 2, HiddenSize = 32, Layers = 1,
        ReferenceSteps = 100, ReferenceLearningRate = 1e-2, SamplesPerProblem = 2, FineTuneSteps = 4, BatchSize = 16, SampledEvalItems = 10, Seeds = [1, 2],
    };
}
