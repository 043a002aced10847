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
    /// s1's ordering: candidates are taken source by source (values of the <c>source</c> column, in order of first
    /// appearance; interleaved sources, as in one pool split by ingest's <c>source_column</c>, cost one read of the
    /// candidates per source); after a source is done, its kept questions join the test pool, so later sources are
    /// also checked against earlier ones. Runs on one thread. Off by default (plain decontamination against benchmarks).
    /// </summary>
    public bool ChainSources { get; set; }
}
