using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>
/// What a run would do, without running: whether each stage would be reused or recomputed, and why. Reads only
/// the lock file, cache entries and the stat() of artifacts (plus external files whose size or mtime changed).
/// </summary>
internal static class PipelineStatus
{
    public static StatusReport Of(ArtifactStore store, RunOptions options, Pipeline p)
    {
        ConfigOverrides.Apply(p, options.Overrides);
        var graph = new PipelineGraph(p);
        using var storeLock = store.LockShared();
        var files = new FileHashMemo(store.FileHashCachePath, trustStamps: !options.VerifyHashes);
        var pipelineLock = store.ReadLock(p.Name);
        var outputs = new Dictionary<Stage, IReadOnlyDictionary<string, ArtifactRef>>();
        var entries = new List<StageStatusEntry>();
        foreach (var s in graph.Order)
        {
            var previous = pipelineLock.Stages.GetValueOrDefault(s.Name);
            var staleParents = graph.Parents[s].Where(x => !outputs.ContainsKey(x)).Select(x => x.Name).ToList();
            if (staleParents.Count > 0)
            {
                var reasons = new List<string> { $"upstream stale: {string.Join(", ", staleParents)}" };
                if (previous == null) reasons.Add("never run");
                else reasons.AddRange(StalenessReasons.OwnChanges(s, previous));
                entries.Add(new StageStatusEntry(s.Name, StageState.Stale, reasons, null));
                continue;
            }
            StageKey key;
            try { key = StageKey.Compute(s, BoundInputs.Of(s, x => outputs.GetValueOrDefault(x)), files); }
            catch (FileNotFoundException e)
            {
                entries.Add(new StageStatusEntry(s.Name, StageState.Stale, [e.Message], null));
                continue;
            }
            var entry = store.TryGetCacheEntry(key.Key);
            string problem = "";
            if (entry != null && CachedOutputs.Healthy(store, entry, options.VerifyHashes, out problem))
            {
                outputs[s] = entry.Outputs;
                entries.Add(new StageStatusEntry(s.Name, StageState.UpToDate, [], key.Key));
            }
            else
                entries.Add(new StageStatusEntry(s.Name, StageState.Stale, [entry != null ? problem : StalenessReasons.Describe(s, key, previous)], key.Key));
        }
        if (!store.IsReadOnly) files.Save(); // a read-only reader re-hashes changed external files each time instead
        return new StatusReport(p.Name, entries);
    }
}
