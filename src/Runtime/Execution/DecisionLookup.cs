using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>Every decision about one record in a pipeline's latest materialised decisions tables, in DAG order (<c>iwsft why</c>).</summary>
internal static class DecisionLookup
{
    public static async Task<WhyReport> FindAsync(ArtifactStore store, Pipeline p, string recordId, CancellationToken ct)
    {
        var graph = new PipelineGraph(p);
        using var storeLock = store.LockShared(ct);
        var pipelineLock = store.ReadLock(p.Name);
        var decisions = new List<RecordDecision>();
        var missing = new List<string>();
        foreach (var s in graph.Order.Where(s => s.WritesDecisions))
        {
            var a = pipelineLock.Stages.GetValueOrDefault(s.Name)?.Outputs.GetValueOrDefault(Stage.DecisionsOutput);
            if (a == null || store.Verify(a) != ArtifactHealth.Ok) { missing.Add(s.Name); continue; }
            var reader = store.OpenTable(a, $"{s.Name}.{Stage.DecisionsOutput}");
            await foreach (var batch in reader.ReadBatchesAsync(ct))
            {
                var ids = (Apache.Arrow.StringArray)batch.Column(0);
                for (int i = 0; i < batch.Length; i++)
                {
                    if (ids.GetString(i) != recordId) continue;
                    decisions.Add(new RecordDecision(s.Name, ((Apache.Arrow.BooleanArray)batch.Column(2)).GetValue(i) ?? false,
                        ((Apache.Arrow.StringArray)batch.Column(3)).GetString(i), ((Apache.Arrow.StringArray)batch.Column(4)).GetString(i)));
                }
            }
        }
        return new WhyReport(p.Name, recordId, decisions, missing);
    }
}
