namespace IwSft.Stages.Curate.Select;

/// <summary>Configuration of the s1 1K selection (defaults: the s1 recipe).</summary>
public sealed class SelectConfig
{
    /// <summary>Final size of the selection (s1: 1000).</summary>
    public int TargetSize { get; set; } = 1000;

    /// <summary>
    /// While fewer than this many records are selected in total (benchmark ones included), domains are drawn
    /// uniformly over the domains with records left; afterwards weighted by the benchmark domain mix (s1: 700).
    /// </summary>
    public int UniformUntil { get; set; } = 700;

    public ulong Seed { get; set; } = 42;

    /// <summary>Rules that put a record in the benchmark-related seed set; a record matching any is taken first.</summary>
    public List<BenchmarkRule> BenchmarkRules { get; set; } =
    [
        new() { Name = "gpqa_aime_correct", SourcePattern = "(?i)(gpqa|aime)", RequireTrueColumn = "attempt_correct" },
        new() { Name = "math_long_trace", SourcePattern = "(?i)^(.*/)?(open)?(ai)?math$", MinTraceLengthExclusive = 5600 },
    ];

    public string DomainColumn { get; set; } = "domain";

    /// <summary>Trace length used to rank questions inside a domain (longest = rank 0) and by the MATH rule.</summary>
    public string TraceLengthColumn { get; set; } = "trace_tokens";
}

/// <summary>Source regex plus optional conditions; all given conditions must hold.</summary>
public sealed class BenchmarkRule
{
    public string Name { get; set; } = "benchmark";
    public string SourcePattern { get; set; } = "";
    /// <summary>A bool column that must be true (e.g. the grading judge's verdict on the attempt).</summary>
    public string? RequireTrueColumn { get; set; }
    /// <summary>The trace length must be strictly greater than this.</summary>
    public long? MinTraceLengthExclusive { get; set; }
}
