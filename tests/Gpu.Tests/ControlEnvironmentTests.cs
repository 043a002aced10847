using IwSft.Gpu.Control;
using IwSft.Control.Environments;

namespace IwSft.Gpu.Tests;

/// <summary>Determinism and physics invariants of the control environments (no TorchSharp involved).</summary>
public class ControlEnvironmentTests
{
    static Episode Play(ControlEnvironmentSpec spec, ulong seed) =>
        Rollouts.Run(spec.Create(), new NoisyExpertPolicy(spec.CreateExpert(), 0.5, 0.5, holdSteps: 3), seed);

    [Theory]
    [InlineData("pointmass")]
    [InlineData("pendulum")]
    public void SameSeedGivesIdenticalTrajectoriesAndOtherSeedsDiffer(string name)
    {
        var spec = ControlEnvironments.Get(name);
        var a = Play(spec, 42);
        var b = Play(spec, 42);
        Assert.Equal(a.Observations, b.Observations);
        Assert.Equal(a.Actions, b.Actions);
        Assert.Equal(a.Rewards, b.Rewards);
        Assert.NotEqual(a.Observations, Play(spec, 43).Observations);
    }

    [Fact]
    public void PendulumRewardIsGymsCostOnTheStateBeforeTheStep()
    {
        var env = new PendulumSwingUp();
        env.SetState(Math.PI / 2, 1.0);
        // τ = 3 · 0.5 = 1.5: −(π²/4 + 0.1·1² + 0.001·1.5²).
        Assert.Equal(-2.5696511002723397, env.Step([0.5f]).Reward, 12);
    }

    [Fact]
    public void PendulumEnergyIsConservedWithoutTorqueOrFriction()
    {
        // Large swings through the bottom (|ω| up to ≈ 6.2 rad/s) for a whole 200-step episode:
        // RK4 with h = 0.025 keeps |E − E₀| below 1e-4 · m g l (the bound stated on PendulumSwingUp).
        foreach (var theta0 in new[] { 0.3, 1.5, 3.0 })
        {
            var env = new PendulumSwingUp();
            env.SetState(theta0, 0.0);
            double e0 = env.Energy, worst = 0;
            for (int t = 0; t < 200; t++)
            {
                env.Step([0f]);
                worst = Math.Max(worst, Math.Abs(env.Energy - e0));
            }
            Assert.True(worst < 1e-4 * 10.0, $"θ₀ = {theta0}: energy drift {worst:E3} exceeds 1e-3");
        }
    }

    [Fact]
    public void PendulumEnergyNeverIncreasesWithFrictionAndNoTorque()
    {
        var env = new PendulumSwingUp(new PendulumParameters { Friction = 0.2 });
        env.SetState(0.2, 1.0);
        double e0 = env.Energy, previous = e0;
        for (int t = 0; t < 400; t++)
        {
            env.Step([0f]);
            // Per-step slack 1e-7: RK4's local error where ω ≈ 0 (turning points) and dissipation vanishes.
            Assert.True(env.Energy <= previous + 1e-7, $"step {t}: energy rose from {previous} to {env.Energy}");
            previous = env.Energy;
        }
        // And it really dissipates: after 20 s the pendulum has lost most of the energy above the bottom (−m g l).
        Assert.True(env.Energy - -10.0 < 0.5 * (e0 - -10.0));
    }

    [Fact]
    public void PointMassStepMatchesTheSemiImplicitEulerByHand()
    {
        var env = new PointMassNavigation();
        env.SetState(-0.5, 0.0, 0.0, 0.0);
        var outcome = env.Step([1f, 0f]);
        // v = 0 + 0.05 · (2 · 1 − 1 · 0) = 0.1; x = −0.5 + 0.05 · 0.1 = −0.495; reward = −|(0.8 + 0.495, 0)|.
        Assert.Equal(0.1, env.Velocity.X, 12);
        Assert.Equal(-0.495, env.Position.X, 12);
        Assert.Equal(-1.295, outcome.Reward, 12);
        Assert.False(outcome.Terminated);
    }

    /// <summary>Drives the mass straight at an obstacle, and at walls, at full force.</summary>
    sealed class PushTowards(double x, double y) : IControlPolicy
    {
        public void Act(ReadOnlySpan<float> o, Span<float> a, ref ControlRng rng)
        {
            a[0] = (float)Math.Clamp(10 * (x - o[0]), -1, 1);
            a[1] = (float)Math.Clamp(10 * (y - o[1]), -1, 1);
        }
    }

    [Fact]
    public void PointMassStaysInTheArenaAndNeverEntersAnObstacle()
    {
        var parameters = new PointMassParameters { MaxSteps = 400 };
        var policies = new IControlPolicy[]
        {
            UniformRandomPolicy.Instance, new PushTowards(0, 0), new PushTowards(0, 0.7), new PushTowards(0.0, -0.7),
            new PushTowards(5, 5), new PushTowards(-5, 0.3), new NoisyExpertPolicy(new PointMassExpert(parameters), 0.7, 0.8, 5),
        };
        int contacts = 0;
        foreach (var policy in policies)
            for (ulong seed = 0; seed < 20; seed++)
            {
                var env = new PointMassNavigation(parameters);
                env.Reset(seed);
                var rng = new ControlRng(seed);
                var obs = new float[6];
                var act = new float[2];
                for (int t = 0; t < parameters.MaxSteps; t++)
                {
                    env.Observe(obs);
                    policy.Act(obs, act, ref rng);
                    env.Step(act);
                    var (x, y) = env.Position;
                    Assert.InRange(x, -1.0, 1.0);
                    Assert.InRange(y, -1.0, 1.0);
                    double clearance = env.Clearance(x, y);
                    Assert.True(clearance >= -1e-12, $"inside an obstacle at ({x}, {y}), clearance {clearance}");
                    if (clearance < 1e-9) contacts++;
                }
            }
        Assert.True(contacts > 100, $"the pushing policies should touch obstacles; contacts = {contacts}");
    }

    [Theory]
    [InlineData("pointmass")]
    [InlineData("pendulum")]
    public void ExpertIsFarBetterThanRandom(string name)
    {
        var reference = ScoreReference.For(ControlEnvironments.Get(name));
        Assert.Equal(0.0, reference.Normalise(reference.RandomReturn), 12);
        Assert.Equal(100.0, reference.Normalise(reference.ExpertReturn), 12);
        // Returns are negative costs; the expert's is a fraction of the random policy's.
        Assert.True(reference.ExpertReturn > 0.3 * reference.RandomReturn, $"{name}: expert {reference.ExpertReturn}, random {reference.RandomReturn}");
    }

    [Theory]
    [InlineData("pointmass")]
    [InlineData("pendulum")]
    public void ReplayDatasetSpansPoorToGood(string name)
    {
        var spec = ControlEnvironments.Get(name);
        var reference = ScoreReference.For(spec);
        var data = ControlDatasetGenerator.Generate(spec, new ReplayDatasetSettings { Episodes = 150 });
        var scores = data.Select(e => reference.Normalise(e.Episode.Return)).ToArray();
        // Straddles the references: the earliest (near-random) episodes score at or below the random policy's
        // mean, the latest (near-expert) ones reach the expert's level.
        Assert.True(scores.Min() < 0, $"{name}: lowest normalised return {scores.Min():F1} should be below the random policy's 0");
        Assert.True(scores.Max() > 90, $"{name}: highest normalised return {scores.Max():F1} should reach the expert's 100");
        // The learner improves: the last fifth is better on average than the first fifth.
        int fifth = scores.Length / 5;
        Assert.True(scores[^fifth..].Average() > scores[..fifth].Average() + 30);
    }
}
