namespace IwSft.Stages.Tests;

/// <summary>
/// Where the real data of <c>/work/shared/data</c> lives for tests: env <c>IWSFT_DATA</c>, else the first
/// <c>shared/data</c> directory found walking up from the test assembly's directory. Null when absent.
/// </summary>
public static class SharedData
{
    public const string EnvVar = "IWSFT_DATA";

    static readonly Lazy<string?> RootLazy = new(Locate);

    public static string? Root => RootLazy.Value;

    public static string SkipReason =>
        $"real data not found: set {EnvVar} or place a shared/data directory (with MANIFEST.md) above {AppContext.BaseDirectory}";

    /// <summary>Full path of a file under the data root (call only from a test that is not skipped).</summary>
    public static string File(string relative) =>
        Path.Combine(Root ?? throw new InvalidOperationException(SkipReason), relative);

    static string? Locate()
    {
        var env = Environment.GetEnvironmentVariable(EnvVar);
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? Path.GetFullPath(env) : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data");
            if (System.IO.File.Exists(Path.Combine(candidate, "MANIFEST.md"))) return candidate;
        }
        return null;
    }
}

/// <summary>A fact that is skipped, with the reason shown, when the shared real data is absent.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (SharedData.Root is null) Skip = SharedData.SkipReason;
    }
}

/// <summary>A theory that is skipped, with the reason shown, when the shared real data is absent.</summary>
public sealed class SharedDataTheoryAttribute : TheoryAttribute
{
    public SharedDataTheoryAttribute()
    {
        if (SharedData.Root is null) Skip = SharedData.SkipReason;
    }
}
