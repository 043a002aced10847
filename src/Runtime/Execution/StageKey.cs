using System.Text.Json.Nodes;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>
/// A stage's cache key and the parts it was computed from, as recorded in the lock file (DVC-style): name,
/// kind, version, code identity, injected behaviour, canonical configuration, the content hashes of its bound
/// inputs and of its external files.
/// </summary>
internal sealed record StageKey(string Key, JsonNode Config, SortedDictionary<string, InputLock> Inputs, SortedDictionary<string, string> Externals,
    StageIdentity Identity)
{
    public static StageKey Compute(Stage s, BoundInputs bound, FileHashMemo files)
    {
        var config = JsonNode.Parse(Hashing.Canonical(s.ConfigJson()))!;
        var identity = StageIdentity.Of(s);
        var inputs = new SortedDictionary<string, InputLock>(StringComparer.Ordinal);
        foreach (var (name, a) in bound.Artifacts) inputs[name] = new InputLock(bound.Sources[name], a.Hash);
        var externals = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var path in s.ExternalInputs) externals[path] = files.Hash(path);
        var keyDoc = new JsonObject
        {
            ["stage"] = s.Name,
            ["kind"] = s.Kind,
            ["version"] = s.Version,
            ["code"] = identity.Code,
            ["behaviour"] = identity.Behaviour.DeepClone(),
            ["config"] = config.DeepClone(),
            ["inputs"] = new JsonObject(inputs.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value.Hash))),
            ["externals"] = new JsonObject(externals.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        };
        return new StageKey(Hashing.Sha256Hex(Hashing.Canonical(keyDoc)), config, inputs, externals, identity);
    }

    /// <summary>The lock file's entry for the stage after it ran or was reused with these outputs.</summary>
    public LockEntry ToLockEntry(Stage s, IReadOnlyDictionary<string, ArtifactRef> outputs) => new()
    {
        Key = Key, Kind = s.Kind, Version = s.Version, Code = Identity.Code, Behaviour = Identity.Behaviour.DeepClone(),
        Config = Config, Inputs = Inputs, Externals = Externals,
        Outputs = new SortedDictionary<string, ArtifactRef>(outputs.ToDictionary(), StringComparer.Ordinal), UpdatedUtc = DateTime.UtcNow,
    };
}

/// <summary>A stage's bound inputs whose upstream produced the output (an optional input may be absent), and where each came from.</summary>
internal sealed record BoundInputs(Dictionary<string, ArtifactRef> Artifacts, Dictionary<string, string> Sources)
{
    public static BoundInputs Of(Stage s, Func<Stage, IReadOnlyDictionary<string, ArtifactRef>?> outputsOf)
    {
        var artifacts = new Dictionary<string, ArtifactRef>(StringComparer.Ordinal);
        var sources = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (input, src) in s.Bindings)
        {
            var outs = outputsOf(src.Stage);
            if (outs != null && outs.TryGetValue(src.Output, out var a)) { artifacts[input] = a; sources[input] = src.ToString(); }
            else if (!s.Inputs.First(i => i.Name == input).Optional)
                throw new InvalidOperationException($"stage '{s.Name}' input '{input}': upstream '{src}' produced no artifact");
        }
        return new BoundInputs(artifacts, sources);
    }
}

/// <summary>Whether a cache entry's outputs are all still in the store, as recorded (or re-hashed with <c>verify</c>).</summary>
internal static class CachedOutputs
{
    public static bool Healthy(ArtifactStore store, CacheEntry entry, bool verifyHashes, out string problem)
    {
        foreach (var (name, a) in entry.Outputs)
        {
            var h = store.Verify(a, verifyHashes);
            if (h != ArtifactHealth.Ok) { problem = $"artifact {name} {h.ToString().ToLowerInvariant()}"; return false; }
        }
        problem = "";
        return true;
    }
}
