namespace IwSft.Stages.Tests;

/// <summary>
/// Finds /work/shared/data-style benchmark files: $IWSFT_DATA, else the first `shared/data` directory
/// found walking up from the test assembly (the repo sits beside `shared/`).
/// </summary>
public static class EvalSharedData
{
    public static readonly string? Root = Find();

    static string? Find()
    {
        var env = Environment.GetEnvironmentVariable("IWSFT_DATA");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? env : null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "shared", "data");
            if (Directory.Exists(candidate)) return candidate;
        }
        return null;
    }

    public static string PathOf(string relative) => System.IO.Path.Combine(Root ?? throw new InvalidOperationException("no shared data"), relative);
}

/// <summary>A fact that is skipped, with the reason shown, when the shared benchmark files it reads are absent.</summary>
public sealed class EvalSharedDataFactAttribute : FactAttribute
{
    public EvalSharedDataFactAttribute(params string[] files)
    {
        if (EvalSharedData.Root is null)
            Skip = "shared data not found: set IWSFT_DATA or place the repository beside a 'shared/data' directory";
        else if (files.FirstOrDefault(f => !File.Exists(Path.Combine(EvalSharedData.Root, f))) is { } missing)
            Skip = $"shared data file '{missing}' not found under {EvalSharedData.Root}";
    }
}
