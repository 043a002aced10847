namespace IwSft.Runtime.Execution;

/// <summary>Checks a pipeline's wiring and orders its stages (ancestors first, then declaration order).</summary>
internal sealed class PipelineGraph
{
    public Pipeline Pipeline { get; }
    public IReadOnlyList<Stage> Order { get; }
    public IReadOnlyDictionary<Stage, IReadOnlyList<Stage>> Parents { get; }
    public IReadOnlyDictionary<Stage, IReadOnlyList<Stage>> Children { get; }

    public PipelineGraph(Pipeline p)
    {
        Pipeline = p;
        var members = new HashSet<Stage>(p.Stages);
        var parents = new Dictionary<Stage, IReadOnlyList<Stage>>();
        var children = p.Stages.ToDictionary(s => s, _ => new List<Stage>());
        foreach (var s in p.Stages)
        {
            foreach (var port in s.Inputs.Where(i => !i.Optional && !s.Bindings.ContainsKey(i.Name)))
                throw new InvalidOperationException($"pipeline '{p.Name}': stage '{s.Name}' input '{port.Name}' is not connected (use .From(\"{port.Name}\", upstream[\"output\"]))");
            foreach (var (input, src) in s.Bindings)
            {
                if (!members.Contains(src.Stage))
                    throw new InvalidOperationException($"pipeline '{p.Name}': stage '{s.Name}' input '{input}' reads from '{src}', but stage '{src.Stage.Name}' is not in the pipeline (Add it first)");
                var inPort = s.Inputs.First(i => i.Name == input);
                var outKind = src.Output == Stage.DecisionsOutput && src.Stage.WritesDecisions
                    ? ArtifactKind.Table : src.Stage.Outputs.First(o => o.Name == src.Output).Kind;
                if (inPort.Kind != outKind)
                    throw new InvalidOperationException($"pipeline '{p.Name}': stage '{s.Name}' input '{input}' is a {inPort.Kind.ToString().ToLowerInvariant()} but '{src}' is a {outKind.ToString().ToLowerInvariant()}");
            }
            var ps = s.Bindings.Values.Select(b => b.Stage).Distinct().ToList();
            parents[s] = ps;
            foreach (var parent in ps) children[parent].Add(s);
        }
        Parents = parents;
        Children = children.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<Stage>)kv.Value);

        // Kahn's algorithm, ties broken by declaration order for a stable, readable order.
        var indeg = p.Stages.ToDictionary(s => s, s => parents[s].Count);
        var order = new List<Stage>();
        var ready = p.Stages.Where(s => indeg[s] == 0).ToList();
        while (ready.Count > 0)
        {
            var s = ready[0];
            ready.RemoveAt(0);
            order.Add(s);
            foreach (var c in Children[s])
                if (--indeg[c] == 0) { ready.Add(c); ready.Sort((a, b) => IndexOf(a).CompareTo(IndexOf(b))); }
        }
        if (order.Count != p.Stages.Count)
            throw new InvalidOperationException($"pipeline '{p.Name}' has a cycle through stages: {string.Join(", ", p.Stages.Except(order).Select(s => s.Name))}");
        Order = order;
    }

    int IndexOf(Stage s) => Pipeline.Stages.ToList().IndexOf(s);

    public HashSet<Stage> AncestorsAndSelf(Stage s)
    {
        var set = new HashSet<Stage>();
        var stack = new Stack<Stage>([s]);
        while (stack.Count > 0)
        {
            var x = stack.Pop();
            if (set.Add(x)) foreach (var parent in Parents[x]) stack.Push(parent);
        }
        return set;
    }
}
