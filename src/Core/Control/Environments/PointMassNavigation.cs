namespace IwSft.Control.Environments;

/// <summary>A circular obstacle.</summary>
public readonly record struct CircleObstacle(double X, double Y, double Radius);

/// <summary>Constants of <see cref="PointMassNavigation"/>.</summary>
public sealed record PointMassParameters
{
    /// <summary>Acceleration per unit of action component.</summary>
    public double MaxAcceleration { get; init; } = 2.0;
    /// <summary>Linear drag c (acceleration −c·v).</summary>
    public double Drag { get; init; } = 1.0;
    public double Dt { get; init; } = 0.05;
    public int MaxSteps { get; init; } = 200;
    /// <summary>Half-width of the square arena [−A, A]².</summary>
    public double ArenaHalfWidth { get; init; } = 1.0;
    public double GoalX { get; init; } = 0.8;
    public double GoalY { get; init; } = 0.0;
    /// <summary>The episode terminates (success) when the mass is this close to the goal.</summary>
    public double GoalRadius { get; init; } = 0.1;
    /// <summary>A column of three posts between the start region and the goal, leaving two gaps
    /// (around y = ±0.375) and two thin slits along the walls.</summary>
    public IReadOnlyList<CircleObstacle> Obstacles { get; init; } =
        [new(0.0, 0.0, 0.25), new(0.0, 0.7, 0.2), new(0.0, -0.7, 0.2)];
    /// <summary>Start region: x ~ U(StartXMin, StartXMax), y ~ U(−StartYHalf, StartYHalf), at rest.</summary>
    public double StartXMin { get; init; } = -0.9;
    public double StartXMax { get; init; } = -0.6;
    public double StartYHalf { get; init; } = 0.9;
}

/// <summary>
/// A point mass navigating to a goal around circular obstacles in a walled square arena.
/// <para>Dynamics (per axis): v̇ = a_max · clip(u, −1, 1) − c v, ṗ = v, integrated by semi-implicit
/// (symplectic) Euler with dt = 0.05: v ← v + dt (a_max u − c v), then p ← p + dt v.</para>
/// <para>Contacts are resolved exactly, so the mass never leaves the arena or enters an obstacle:
/// the move p → p + dt v is swept against every circle; at the first contact (smallest segment
/// parameter t with |p + t·Δ − c| = r) the mass stops on the surface and loses the inward normal
/// component of its velocity (a perfectly inelastic contact). Walls then clamp each coordinate to
/// [−A, A] and zero that velocity component. The obstacles stay at least 0.1 from the walls so the
/// wall clamp cannot push the mass into one.</para>
/// <para>Observation: [x, y, v_x / 2, v_y / 2, g_x − x, g_y − y]. Reward per step: −|p − g| after the
/// move (so a faster path earns more). Terminates when |p − g| &lt; GoalRadius; else truncated at MaxSteps.</para>
/// </summary>
public sealed class PointMassNavigation : IControlEnvironment
{
    public const string EnvironmentName = "pointmass";
    public PointMassParameters Parameters { get; }
    double _x, _y, _vx, _vy;

    public PointMassNavigation(PointMassParameters? parameters = null)
    {
        Parameters = parameters ?? new PointMassParameters();
        foreach (var o in Parameters.Obstacles)
        {
            double a = Parameters.ArenaHalfWidth;
            if (Math.Abs(o.X) + o.Radius > a - 0.1 + 1e-12 || Math.Abs(o.Y) + o.Radius > a - 0.1 + 1e-12)
                throw new ArgumentException($"obstacle at ({o.X}, {o.Y}) r={o.Radius} must stay 0.1 inside the arena walls");
        }
    }

    public string Name => EnvironmentName;
    public int ObservationSize => 6;
    public int ActionSize => 2;
    public int MaxSteps => Parameters.MaxSteps;

    public (double X, double Y) Position => (_x, _y);
    public (double X, double Y) Velocity => (_vx, _vy);

    /// <summary>Sets the state directly (tests); the position must be free.</summary>
    public void SetState(double x, double y, double vx, double vy) { _x = x; _y = y; _vx = vx; _vy = vy; }

    public void Reset(ulong seed)
    {
        var rng = new ControlRng(seed);
        var p = Parameters;
        // Rejection sampling keeps the start outside every obstacle (the default start region is free anyway).
        do
        {
            _x = rng.Uniform(p.StartXMin, p.StartXMax);
            _y = rng.Uniform(-p.StartYHalf, p.StartYHalf);
        } while (InsideAnyObstacle(_x, _y));
        _vx = _vy = 0;
    }

    bool InsideAnyObstacle(double x, double y)
    {
        foreach (var o in Parameters.Obstacles)
            if ((x - o.X) * (x - o.X) + (y - o.Y) * (y - o.Y) < o.Radius * o.Radius) return true;
        return false;
    }

    public void Observe(Span<float> observation)
    {
        observation[0] = (float)_x;
        observation[1] = (float)_y;
        observation[2] = (float)(_vx / 2);
        observation[3] = (float)(_vy / 2);
        observation[4] = (float)(Parameters.GoalX - _x);
        observation[5] = (float)(Parameters.GoalY - _y);
    }

    public StepOutcome Step(ReadOnlySpan<float> action)
    {
        var p = Parameters;
        double ux = ActionMath.Clip(action[0]), uy = ActionMath.Clip(action[1]);
        _vx += p.Dt * (p.MaxAcceleration * ux - p.Drag * _vx);
        _vy += p.Dt * (p.MaxAcceleration * uy - p.Drag * _vy);
        double dx = p.Dt * _vx, dy = p.Dt * _vy;

        // Swept contact: earliest entry into any circle along the segment.
        double tHit = 1.0;
        int hit = -1;
        for (int i = 0; i < p.Obstacles.Count; i++)
        {
            var o = p.Obstacles[i];
            double fx = _x - o.X, fy = _y - o.Y;
            double a = dx * dx + dy * dy, b = 2 * (fx * dx + fy * dy), c = fx * fx + fy * fy - o.Radius * o.Radius;
            if (a <= 0 || b >= 0) continue;            // not moving, or moving away from the centre
            // Resting on the surface (c ≤ 0 up to rounding) and pushing inward: blocked at once.
            if (c <= 0) { tHit = 0; hit = i; break; }
            double disc = b * b - 4 * a * c;
            if (disc < 0) continue;
            double t = (-b - Math.Sqrt(disc)) / (2 * a);
            if (t >= 0 && t < tHit) { tHit = t; hit = i; }
        }
        if (hit >= 0)
        {
            var o = p.Obstacles[hit];
            double cx = _x + tHit * dx - o.X, cy = _y + tHit * dy - o.Y;
            double norm = Math.Sqrt(cx * cx + cy * cy);
            double nx = cx / norm, ny = cy / norm;
            // Place exactly on the surface (guards the invariant against rounding), drop inward velocity.
            _x = o.X + nx * o.Radius;
            _y = o.Y + ny * o.Radius;
            double vn = _vx * nx + _vy * ny;
            if (vn < 0) { _vx -= vn * nx; _vy -= vn * ny; }
        }
        else { _x += dx; _y += dy; }

        double half = p.ArenaHalfWidth;
        if (_x < -half) { _x = -half; _vx = 0; } else if (_x > half) { _x = half; _vx = 0; }
        if (_y < -half) { _y = -half; _vy = 0; } else if (_y > half) { _y = half; _vy = 0; }

        double gx = p.GoalX - _x, gy = p.GoalY - _y;
        double distance = Math.Sqrt(gx * gx + gy * gy);
        return new StepOutcome(-distance, distance < p.GoalRadius);
    }

    /// <summary>Smallest clearance (distance to surface) from a point to any obstacle; negative inside one.</summary>
    public double Clearance(double x, double y)
    {
        double best = double.PositiveInfinity;
        foreach (var o in Parameters.Obstacles)
            best = Math.Min(best, Math.Sqrt((x - o.X) * (x - o.X) + (y - o.Y) * (y - o.Y)) - o.Radius);
        return best;
    }
}

/// <summary>
/// The point mass's expert: a visibility-graph waypoint planner and a velocity-tracking controller.
/// <para>Planner: if the straight segment to the goal keeps <see cref="Margin"/> clearance from every
/// obstacle, aim at the goal; otherwise aim at the visible waypoint w minimising |p − w| + |w − g|, where
/// the waypoints are the gap centres between neighbouring obstacles (computed from the layout).</para>
/// <para>Controller: desired velocity v* = s · (target − p)/|target − p| with speed s = min(v_max, k_d |target − p|)
/// toward the goal (full speed through waypoints), and u = clip((c v* + k_v (v* − v)) / a_max), i.e. drag
/// compensation plus proportional velocity tracking.</para>
/// </summary>
public sealed class PointMassExpert : IControlPolicy
{
    readonly PointMassParameters _p;
    readonly (double X, double Y)[] _waypoints;
    public double Margin { get; init; } = 0.04;
    public double MaxSpeed { get; init; } = 1.6;
    public double VelocityGain { get; init; } = 8.0;
    public double ApproachGain { get; init; } = 4.0;

    public PointMassExpert(PointMassParameters? parameters = null)
    {
        _p = parameters ?? new PointMassParameters();
        var probe = new PointMassNavigation(_p);
        _waypoints = GapCentres(_p).Where(w => probe.Clearance(w.Item1, w.Item2) >= Margin).ToArray();
    }

    /// <summary>Midpoints of the free gaps between each pair of obstacles (and obstacle–wall gaps wide
    /// enough to pass with the margin), along the line joining their centres.</summary>
    static IEnumerable<(double, double)> GapCentres(PointMassParameters p)
    {
        var obs = p.Obstacles;
        for (int i = 0; i < obs.Count; i++)
            for (int j = i + 1; j < obs.Count; j++)
            {
                double dx = obs[j].X - obs[i].X, dy = obs[j].Y - obs[i].Y, d = Math.Sqrt(dx * dx + dy * dy);
                double gap = d - obs[i].Radius - obs[j].Radius;
                if (gap <= 0) continue;
                double t = (obs[i].Radius + gap / 2) / d;
                yield return (obs[i].X + t * dx, obs[i].Y + t * dy);
            }
    }

    bool SegmentClear(double x0, double y0, double x1, double y1)
    {
        double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
        foreach (var o in _p.Obstacles)
        {
            double t = len2 > 0 ? Math.Clamp(((o.X - x0) * dx + (o.Y - y0) * dy) / len2, 0, 1) : 0;
            double cx = x0 + t * dx - o.X, cy = y0 + t * dy - o.Y;
            if (cx * cx + cy * cy < (o.Radius + Margin) * (o.Radius + Margin)) return false;
        }
        return true;
    }

    public void Act(ReadOnlySpan<float> observation, Span<float> action, ref ControlRng rng)
    {
        double x = observation[0], y = observation[1], vx = 2.0 * observation[2], vy = 2.0 * observation[3];
        double gx = x + observation[4], gy = y + observation[5];
        double tx = gx, ty = gy;
        bool toGoal = SegmentClear(x, y, gx, gy);
        if (!toGoal)
        {
            double best = double.PositiveInfinity;
            foreach (var (wx, wy) in _waypoints)
            {
                if (!SegmentClear(x, y, wx, wy)) continue;
                double cost = Math.Sqrt((wx - x) * (wx - x) + (wy - y) * (wy - y)) + Math.Sqrt((gx - wx) * (gx - wx) + (gy - wy) * (gy - wy));
                if (cost < best) { best = cost; tx = wx; ty = wy; }
            }
        }
        double ex = tx - x, ey = ty - y, dist = Math.Sqrt(ex * ex + ey * ey);
        double speed = toGoal ? Math.Min(MaxSpeed, ApproachGain * dist) : MaxSpeed;
        double wantX = dist > 1e-9 ? speed * ex / dist : 0, wantY = dist > 1e-9 ? speed * ey / dist : 0;
        action[0] = (float)ActionMath.Clip((_p.Drag * wantX + VelocityGain * (wantX - vx)) / _p.MaxAcceleration);
        action[1] = (float)ActionMath.Clip((_p.Drag * wantY + VelocityGain * (wantY - vy)) / _p.MaxAcceleration);
    }
}
