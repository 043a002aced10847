namespace IwSft.Control.Environments;

/// <summary>Physical constants of <see cref="PendulumSwingUp"/>. Defaults follow the classic Gym pendulum
/// (g = 10, m = l = 1, dt = 0.05, 200 steps) without its speed clamp, with |τ| ≤ 3 (Gym's 2 acts
/// on a rod with 3× the angular acceleration per unit torque) and optional viscous friction.</summary>
public sealed record PendulumParameters
{
    public double Gravity { get; init; } = 10.0;
    public double Mass { get; init; } = 1.0;
    public double Length { get; init; } = 1.0;
    /// <summary>Viscous friction coefficient b (torque −b·ω). 0 makes the unforced system conservative.</summary>
    public double Friction { get; init; } = 0.0;
    public double MaxTorque { get; init; } = 3.0;
    /// <summary>Control period.</summary>
    public double Dt { get; init; } = 0.05;
    /// <summary>RK4 sub-steps per control period (torque held constant over the period).</summary>
    public int Substeps { get; init; } = 2;
    public int MaxSteps { get; init; } = 200;
}

/// <summary>
/// Torque-limited pendulum swing-up: a point mass m on a massless rod of length l, angle θ measured
/// from upright (θ = 0 is balanced on top, θ = π hangs down), angular velocity ω.
/// <para>Dynamics: m l² θ̈ = m g l sin θ − b ω + τ, with τ = MaxTorque · clip(a, −1, 1).
/// Since MaxTorque (3) is well below m g l (10), the pendulum cannot be lifted directly: it must be
/// swung up by pumping energy, then balanced.</para>
/// <para>Integrator: classical RK4 on (θ, ω) with <see cref="PendulumParameters.Substeps"/> sub-steps of
/// dt/Substeps per control step (zero-order hold on τ). RK4's local error is O(h⁵); with h = 0.025 the
/// unforced, frictionless energy drifts by less than 1e-4 of m g l over a 200-step episode (the test
/// checks this bound on large swings).</para>
/// <para>Energy: E = ½ m l² ω² + m g l cos θ; E = m g l at rest on top, −m g l at rest at the bottom;
/// dE/dt = τ ω − b ω², so E is conserved when τ = b = 0 and non-increasing when τ = 0, b &gt; 0.</para>
/// <para>Observation: [cos θ, sin θ, ω / 8]. Reward per step (Gym's): −(wrap(θ)² + 0.1 ω² + 0.001 τ²),
/// evaluated on the state before the step and the applied torque; at most 0, about −π² when hanging.
/// Initial state: θ ~ U(−π, π), ω ~ U(−1, 1). No termination; episodes end after MaxSteps.</para>
/// </summary>
public sealed class PendulumSwingUp : IControlEnvironment
{
    public const string EnvironmentName = "pendulum";
    public PendulumParameters Parameters { get; }
    double _theta, _omega;

    public PendulumSwingUp(PendulumParameters? parameters = null)
    {
        Parameters = parameters ?? new PendulumParameters();
        if (Parameters.Substeps < 1) throw new ArgumentOutOfRangeException(nameof(parameters), "Substeps must be ≥ 1");
    }

    public string Name => EnvironmentName;
    public int ObservationSize => 3;
    public int ActionSize => 1;
    public int MaxSteps => Parameters.MaxSteps;

    public double Theta => _theta;
    public double Omega => _omega;

    /// <summary>Sets the state directly (physics tests).</summary>
    public void SetState(double theta, double omega) { _theta = theta; _omega = omega; }

    public double Energy => 0.5 * Parameters.Mass * Parameters.Length * Parameters.Length * _omega * _omega
                            + Parameters.Mass * Parameters.Gravity * Parameters.Length * Math.Cos(_theta);

    public void Reset(ulong seed)
    {
        var rng = new ControlRng(seed);
        _theta = rng.Uniform(-Math.PI, Math.PI);
        _omega = rng.Uniform(-1, 1);
    }

    public void Observe(Span<float> observation)
    {
        observation[0] = (float)Math.Cos(_theta);
        observation[1] = (float)Math.Sin(_theta);
        observation[2] = (float)(_omega / 8.0);
    }

    public StepOutcome Step(ReadOnlySpan<float> action)
    {
        double torque = Parameters.MaxTorque * ActionMath.Clip(action[0]);
        double wrapped = ActionMath.WrapAngle(_theta);
        double reward = -(wrapped * wrapped + 0.1 * _omega * _omega + 0.001 * torque * torque);

        var p = Parameters;
        double inertia = p.Mass * p.Length * p.Length;
        double gravityTerm = p.Mass * p.Gravity * p.Length / inertia, friction = p.Friction / inertia, drive = torque / inertia;
        double h = p.Dt / p.Substeps;
        for (int s = 0; s < p.Substeps; s++)
        {
            // RK4 on θ' = ω, ω' = (g/l) sin θ − (b/ml²) ω + τ/(ml²).
            double th = _theta, om = _omega;
            double k1t = om, k1o = gravityTerm * Math.Sin(th) - friction * om + drive;
            double k2t = om + 0.5 * h * k1o, k2o = gravityTerm * Math.Sin(th + 0.5 * h * k1t) - friction * k2t + drive;
            double k3t = om + 0.5 * h * k2o, k3o = gravityTerm * Math.Sin(th + 0.5 * h * k2t) - friction * k3t + drive;
            double k4t = om + h * k3o, k4o = gravityTerm * Math.Sin(th + h * k3t) - friction * k4t + drive;
            _theta = th + h / 6 * (k1t + 2 * k2t + 2 * k3t + k4t);
            _omega = om + h / 6 * (k1o + 2 * k2o + 2 * k3o + k4o);
        }
        return new StepOutcome(reward, false);
    }
}

/// <summary>
/// The pendulum's expert: energy shaping to swing up, linear state feedback to balance.
/// <para>Swing-up: τ = clip(k_E (E_top − E) ω, ±τ_max): since dE/dt = τ ω (no friction), this pumps energy
/// in while E &lt; E_top and brakes when above, steering the pendulum onto the homoclinic orbit that
/// ends upright.</para>
/// <para>Balance (|wrap θ| &lt; <see cref="CaptureAngle"/>): pole placement on the linearisation
/// m l² θ̈ = m g l θ + τ with both closed-loop poles at −p: τ = −m l² [(g/l + p²) θ + 2 p ω].</para>
/// Works from the observation alone (θ = atan2(sin, cos), ω = 8 · obs[2]).
/// </summary>
public sealed class PendulumExpert(PendulumParameters? parameters = null) : IControlPolicy
{
    readonly PendulumParameters _p = parameters ?? new PendulumParameters();
    public double EnergyGain { get; init; } = 0.5;
    public double Pole { get; init; } = 4.0;
    public double CaptureAngle { get; init; } = 0.8;
    /// <summary>Energy aimed at, as a multiple of m g l: slightly above the top so a swing never stalls short of it.</summary>
    public double EnergyTarget { get; init; } = 1.05;

    public void Act(ReadOnlySpan<float> observation, Span<float> action, ref ControlRng rng)
    {
        double theta = Math.Atan2(observation[1], observation[0]), omega = 8.0 * observation[2];
        double inertia = _p.Mass * _p.Length * _p.Length;
        double torque;
        if (Math.Abs(theta) < CaptureAngle)
            torque = -inertia * ((_p.Gravity / _p.Length + Pole * Pole) * theta + 2 * Pole * omega);
        else
        {
            double energy = 0.5 * inertia * omega * omega + _p.Mass * _p.Gravity * _p.Length * Math.Cos(theta);
            double top = EnergyTarget * _p.Mass * _p.Gravity * _p.Length;
            torque = EnergyGain * (top - energy) * omega;
            // Stuck at the bottom at rest (ω = 0): kick to start the swing.
            if (Math.Abs(omega) < 1e-3) torque = _p.MaxTorque;
        }
        action[0] = (float)ActionMath.Clip(torque / _p.MaxTorque);
    }
}
