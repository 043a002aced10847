namespace IwSft.Pipelines.Demo;

/// <summary>The two ways the reference policy's training data solves a problem.</summary>
public enum Behaviour { Careful, Shortcut }

/// <summary>One demonstration of the reference corpus.</summary>
public sealed record Demonstration(Behaviour Behaviour, string Completion, bool Correct);

/// <summary>
/// The behaviour mixture the reference policy is trained on, like the bandit's uniform policy over a
/// reliable and an unreliable arm: with probability <see cref="CarefulWeight"/> a careful worked
/// solution (always right), otherwise a shortcut that writes only "Answer: N", right with probability
/// <see cref="ShortcutCorrectProbability"/> and otherwise off by 1-3.
/// </summary>
public sealed record BehaviourMixture(double CarefulWeight = 0.5, double ShortcutCorrectProbability = 0.3)
{
    /// <summary>Wrong shortcut answers are the true answer plus one of these (never 0, so always wrong).</summary>
    public static readonly int[] WrongOffsets = [-3, -2, -1, 1, 2, 3];

    public void Validate()
    {
        if (CarefulWeight is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(CarefulWeight), CarefulWeight, "must be in [0, 1]");
        if (ShortcutCorrectProbability is < 0 or > 1)
            throw new ArgumentOutOfRangeException(nameof(ShortcutCorrectProbability), ShortcutCorrectProbability, "must be in [0, 1]");
    }

    /// <summary>
    /// The shortcut's answer as a function of two uniform draws in [0, 1): right iff
    /// <paramref name="correctDraw"/> &lt; p (so P(right) = p exactly for a uniform draw), otherwise
    /// the answer plus the offset <paramref name="offsetDraw"/> selects (mirrored to stay ≥ 0).
    /// </summary>
    public int ShortcutAnswer(ArithmeticProblem problem, double correctDraw, double offsetDraw)
    {
        if (correctDraw < ShortcutCorrectProbability) return problem.Answer;
        int offset = WrongOffsets[Math.Min(WrongOffsets.Length - 1, (int)(offsetDraw * WrongOffsets.Length))];
        int wrong = problem.Answer + offset;
        return wrong >= 0 ? wrong : problem.Answer - offset;
    }

    /// <summary>Behaviour for a uniform draw: careful iff <paramref name="behaviourDraw"/> &lt; CarefulWeight.</summary>
    public Behaviour BehaviourFor(double behaviourDraw) => behaviourDraw < CarefulWeight ? Behaviour.Careful : Behaviour.Shortcut;

    public Demonstration Demonstrate(ArithmeticProblem problem, double behaviourDraw, double correctDraw, double offsetDraw)
    {
        if (BehaviourFor(behaviourDraw) == Behaviour.Careful)
            return new Demonstration(Behaviour.Careful, problem.CarefulSolution, true);
        int answer = ShortcutAnswer(problem, correctDraw, offsetDraw);
        return new Demonstration(Behaviour.Shortcut, ArithmeticProblem.AnswerLine(answer), answer == problem.Answer);
    }

    /// <summary>A demonstration drawn with <paramref name="rng"/> (three uniform draws, always consumed).</summary>
    public Demonstration Demonstrate(ArithmeticProblem problem, Random rng)
    {
        double b = rng.NextDouble(), c = rng.NextDouble(), o = rng.NextDouble();
        return Demonstrate(problem, b, c, o);
    }

    /// <summary>
    /// Expected accuracy of a policy that reproduces this mixture exactly:
    /// CarefulWeight + (1 − CarefulWeight) · p. The trained reference only approximates it.
    /// </summary>
    public double ExpectedAccuracy => CarefulWeight + (1 - CarefulWeight) * ShortcutCorrectProbability;
}
