namespace IwSft.Stages.Decontaminate;

/// <summary>Configuration of a <see cref="DecontaminateStage"/>. Defaults are s1's.</summary>
public sealed class DecontaminateConfig
{
    /// <summary>Word n-gram size (s1: 8).</summary>
    public int N { get; set; } = 8;

    /// <summary>Candidate columns checked, in order; the first one with a shared n-gram is reported (s1: question only).</summary>
    public List<string> Fields { get; set; } = ["question"];

    /// <summary>Names of the benchmark inputs (each a <c>benchmark_items</c> table); all are pooled.</summary>
    public List<string> BenchmarkInputs { get; set; } = ["benchmarks"];

    /// <summary>
    /// s1's ordering: candidates are taken source by source (contiguous runs of the <c>source</c> column, in
    /// input order); after a source is done, its kept questions join the test pool, so later sources are also
    /// checked against earlier ones. Runs on one thread. Off by default (plain decontamination against benchmarks).
    /// </summary>
    public bool ChainSources { get; set; }
}
