namespace IwSft.Control.Environments;

/// <summary>
/// A continuous-state, continuous-action episodic task. Actions are vectors in [−1, 1]^ActionSize
/// (out-of-range components are clipped by the environment). Deterministic: the same seed passed to
/// <see cref="Reset"/> followed by the same actions gives the same observations and rewards, bit for bit.
/// Instances are not thread-safe; create one per rollout worker.
/// </summary>
public interface IControlEnvironment
{
    string Name { get; }
    int ObservationSize { get; }
    int ActionSize { get; }
    /// <summary>Episodes are truncated after this many steps.</summary>
    int MaxSteps { get; }

    /// <summary>Starts an episode from an initial state drawn with <paramref name="seed"/>.</summary>
    void Reset(ulong seed);

    /// <summary>Writes the current observation into <paramref name="observation"/> (length ObservationSize).</summary>
    void Observe(Span<float> observation);

    /// <summary>Advances one control step; returns the reward and whether the episode terminated (a
    /// goal reached). Truncation at <see cref="MaxSteps"/> is the caller's (see <see cref="Rollouts"/>).</summary>
    StepOutcome Step(ReadOnlySpan<float> action);
}

public readonly record struct StepOutcome(double Reward, bool Terminated);

/// <summary>Chooses actions from observations. Scripted policies keep their noise in <paramref name="rng"/>.</summary>
public interface IControlPolicy
{
    void Act(ReadOnlySpan<float> observation, Span<float> action, ref ControlRng rng);
}

/// <summary>Uniform random actions in [−1, 1]: the 0 of the normalised score.</summary>
public sealed class UniformRandomPolicy : IControlPolicy
{
    public static readonly UniformRandomPolicy Instance = new();
    public void Act(ReadOnlySpan<float> observation, Span<float> action, ref ControlRng rng)
    {
        for (int i = 0; i < action.Length; i++) action[i] = (float)rng.Uniform(-1, 1);
    }
}

static class ActionMath
{
    public static double Clip(double x, double low = -1, double high = 1) => x < low ? low : x > high ? high : x;

    /// <summary>Angle wrapped to (−π, π].</summary>
    public static double WrapAngle(double a)
    {
        a = Math.IEEERemainder(a, 2 * Math.PI);
        return a <= -Math.PI ? a + 2 * Math.PI : a;
    }
}
