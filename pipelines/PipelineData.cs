namespace IwSft.Pipelines;

/// <summary>Where pipelines find the shared benchmark and candidate files by default.</summary>
public static class PipelineData
{
    /// <summary>Env <c>IWSFT_DATA</c>, else <c>../shared/data</c> when it exists (a checkout beside the shared data), else <c>data</c>; absolute.</summary>
    public static string Root()
    {
        if (Environment.GetEnvironmentVariable("IWSFT_DATA") is { Length: > 0 } env) return Path.GetFullPath(env);
        var shared = Path.GetFullPath(Path.Combine("..", "shared", "data"));
        return Directory.Exists(shared) ? shared : Path.GetFullPath("data");
    }
}
