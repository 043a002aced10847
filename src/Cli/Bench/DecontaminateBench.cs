using IwSft.Stages.Decontaminate;

namespace IwSft.Cli.Bench;

/// <summary>
/// <c>iwsft bench decontaminate</c>: see <see cref="DecontaminateBenchmark"/>. Needs the real data
/// (env IWSFT_DATA, or a shared/data directory above the working or program directory).
/// </summary>
public static class DecontaminateBench
{
    public static async Task<BenchReport> RunAsync(BenchContext ctx)
    {
        var root = BenchCatalog.DataRoot() ?? throw new InvalidOperationException(
            "bench decontaminate needs the real data: set IWSFT_DATA or run from a checkout with ../shared/data");
        int size = ctx.Quick ? 12_000 : 59_000;
        var r = await DecontaminateBenchmark.RunAsync(root, size, threads: Environment.ProcessorCount, ctx.CancellationToken, repeats: ctx.Quick ? 1 : 10);
        ctx.Log.WriteLine(r.Report());
        if (!r.Identical) throw new InvalidOperationException("fast and plain decontamination disagree: the benchmark's results are not identical");
        var report = new BenchReport()
            .Add("candidates", r.Candidates).Add("question_mb", r.Bytes / 1e6).Add("benchmark_items", r.TestItems)
            .Add("contaminated", r.Contaminated).Add("threads", r.Threads)
            .Add("candidates_per_s", r.CandidatesPerSecond).Add("mb_per_s", r.MegabytesPerSecond)
            .Add("reference_candidates_per_s", r.ReferenceCandidatesPerSecond)
            .Add("speedup_vs_plain", r.Speedup).Add("speedup_vs_plain_1_thread", r.SingleThreadSpeedup)
            .Add("speedup_vs_plain_including_index_build", r.EndToEndSpeedup)
            .Add("cpu_work_ratio_vs_plain", r.CpuWorkRatio);
        report.Notes.Add("plain = ReferenceDecontaminator (s1's algorithm with n-gram strings and hash sets, one thread); results compared id by id");
        report.Notes.Add("wall times (checks and index builds) are the best of 10 runs each, both sides alike; cpu_work_ratio = process CPU time of the plain check / of the 1-thread fast check, steadier on a shared machine");
        return report;
    }
}
