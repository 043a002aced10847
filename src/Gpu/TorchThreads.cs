namespace IwSft.Gpu;

/// <summary>
/// libtorch's intra-op thread count is process state, and it belongs to the host (the <c>iwsft</c> command, a
/// test assembly), set once before any tensor work: never to a stage or a pipeline definition.
/// <para>
/// Why once and first: libtorch's CPU build parallelises with OpenMP, whose thread count is a per-thread
/// setting. <c>set_num_threads</c> sets it for the calling thread and records it for threads that do their
/// first parallel work later; a thread that already did parallel work keeps the count it had. Stages run on
/// pool threads, so a stage that set the count mid-run changed it for some threads and not others, and a
/// reduction split over 1 or 2 threads rounds differently: results then depended on which pool thread ran
/// which step (the control pipeline's policies differed across fresh stores by ~1e-9 in their scores).
/// </para>
/// </summary>
public static class TorchThreads
{
    /// <summary>
    /// What a pipeline run uses: one intra-op thread. The engine runs independent stages side by side, and
    /// one thread each keeps a 2-core machine busy without oversubscribing it (spinning OpenMP threads made a
    /// small-model training step 20× slower there); and one thread makes every reduction's order fixed.
    /// </summary>
    public const int PipelineRun = 1;

    /// <summary>Sets the process's intra-op thread count; call before any tensor work in the process.</summary>
    public static void ConfigureProcess(int intraOpThreads)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(intraOpThreads, 1);
        TorchSharp.torch.set_num_threads(intraOpThreads);
    }
}
