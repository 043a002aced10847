namespace IwSft.Control.Environments;

/// <summary>An environment kind: how to make instances and its project-computed expert.</summary>
public sealed record ControlEnvironmentSpec(
    string Name,
    string Description,
    Func<IControlEnvironment> Create,
    Func<IControlPolicy> CreateExpert);

/// <summary>The environments of the control reproduction, by name.</summary>
public static class ControlEnvironments
{
    public static ControlEnvironmentSpec Pendulum { get; } = new(
        PendulumSwingUp.EnvironmentName,
        "torque-limited pendulum swing-up and balance (RK4, dt 0.05, 200 steps)",
        () => new PendulumSwingUp(), () => new PendulumExpert());

    public static ControlEnvironmentSpec PointMass { get; } = new(
        PointMassNavigation.EnvironmentName,
        "point mass reaching a goal around three posts in a walled arena (semi-implicit Euler, dt 0.05, ≤ 200 steps)",
        () => new PointMassNavigation(), () => new PointMassExpert());

    public static IReadOnlyList<ControlEnvironmentSpec> All { get; } = [PointMass, Pendulum];

    public static ControlEnvironmentSpec Get(string name) =>
        All.FirstOrDefault(e => e.Name == name)
        ?? throw new KeyNotFoundException($"unknown control environment '{name}'; available: {string.Join(", ", All.Select(e => e.Name))}");
}
