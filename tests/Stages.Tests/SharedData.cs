namespace IwSft.Stages.Tests;

/// <summary>
/// Where the real data of <c>shared/data</c> lives for tests: env <c>IWSFT_DATA</c>, else the first
/// <c>shared/data</c> directory (with MANIFEST.md) found walking up from the test assembly's directory.
/// <para>
/// A test that needs it never passes without it. On a developer's machine without the data it is skipped, with
/// the path it looked for. In CI (<c>CI=true</c>) it is never skipped: it runs, and fails naming the missing file
/// (<see cref="File"/>), so a CI without the data cannot be green having run none of these tests. An
/// <c>IWSFT_DATA</c> that names a missing folder is a mistake, not an absence: those tests fail there too.
/// </para>
/// </summary>
public static class SharedData
{
    public const string EnvVar = "IWSFT_DATA";

    static readonly Lazy<string?> RootLazy = new(Locate);

    /// <summary>The data root when present, else null.</summary>
    public static string? Root => RootLazy.Value;

    /// <summary>CI=true (or 1/yes): a CI run, where a missing data file is a failure, never a skip.</summary>
    public static bool InCi => Environment.GetEnvironmentVariable("CI")?.Trim().ToLowerInvariant() is "true" or "1" or "yes";

    /// <summary>IWSFT_DATA, when set: then it must exist.</summary>
    static string? Configured => Environment.GetEnvironmentVariable(EnvVar) is { Length: > 0 } env ? Path.GetFullPath(env) : null;

    /// <summary>Where the data should be: IWSFT_DATA, else the repository's <c>../shared/data</c> (what .ci/run checks).</summary>
    public static string ExpectedRoot => Root ?? Configured ?? RepositorySharedData() ?? Path.Combine(AppContext.BaseDirectory, "shared", "data");

    /// <summary>Why a test that needs the data does not run here (null: it runs).</summary>
    public static string? SkipReason =>
        Root is not null || InCi || Configured is not null ? null
            : $"real data not found: set {EnvVar} or place a shared/data directory (with MANIFEST.md) above {AppContext.BaseDirectory} (looked for {ExpectedRoot}); with CI=true this test fails instead";

    /// <summary>Full path of a file or directory under the data root; throws, naming the missing path, when it is absent.</summary>
    public static string File(string relative)
    {
        var path = Path.GetFullPath(Path.Combine(ExpectedRoot, relative));
        if (System.IO.File.Exists(path) || Directory.Exists(path)) return path;
        throw new FileNotFoundException(
            $"shared data missing: {path} ({(Configured is not null ? $"{EnvVar}={Configured}" : "no " + EnvVar + "; looked for shared/data above the test binaries")})", path);
    }

    /// <summary>The data root, after checking that each of <paramref name="relatives"/> is there (naming the first that is not).</summary>
    public static string RootWith(params string[] relatives)
    {
        foreach (var r in relatives.Prepend("MANIFEST.md")) File(r);
        return Root!;
    }

    static string? Locate()
    {
        if (Configured is { } env) return Directory.Exists(env) ? env : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "data");
            if (System.IO.File.Exists(Path.Combine(candidate, "MANIFEST.md"))) return candidate;
        }
        return null;
    }

    /// <summary>../shared/data beside the repository holding the test binaries.</summary>
    static string? RepositorySharedData() =>
        TestRepository.Find() is { } root && Directory.GetParent(root) is { } parent ? Path.Combine(parent.FullName, "shared", "data") : null;
}

/// <summary>A fact that needs the shared real data: skipped (path shown) where it is absent, except in CI, where it fails.</summary>
public sealed class SharedDataFactAttribute : FactAttribute
{
    public SharedDataFactAttribute()
    {
        if (SharedData.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>A theory that needs the shared real data: skipped (path shown) where it is absent, except in CI, where it fails.</summary>
public sealed class SharedDataTheoryAttribute : TheoryAttribute
{
    public SharedDataTheoryAttribute()
    {
        if (SharedData.SkipReason is { } reason) Skip = reason;
    }
}

/// <summary>The repository holding the test binaries: the nearest directory above them with IwSft.sln.</summary>
public static class TestRepository
{
    public static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "IwSft.sln"))) return dir.FullName;
        return null;
    }

    public static string Root => Find() ?? throw new DirectoryNotFoundException("repository root (IwSft.sln) not found above " + AppContext.BaseDirectory);
}
