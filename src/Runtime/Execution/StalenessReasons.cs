using System.Text.Json.Nodes;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>Explains a cache miss by comparing the current key parts with the stage's last lock entry.</summary>
internal static class StalenessReasons
{
    public static string Describe(Stage s, StageKey key, LockEntry? previous)
    {
        if (previous == null) return "never run";
        if (previous.Key == key.Key) return "cache entry missing";
        var reasons = OwnChanges(s, previous).ToList();
        var changedInputs = key.Inputs.Where(kv => previous.Inputs.GetValueOrDefault(kv.Key)?.Hash != kv.Value.Hash).Select(kv => kv.Key)
            .Concat(previous.Inputs.Keys.Where(k => !key.Inputs.ContainsKey(k))).Distinct().ToList();
        if (changedInputs.Count > 0) reasons.Add($"input changed: {string.Join(", ", changedInputs)}");
        var changedExternals = key.Externals.Where(kv => previous.Externals.GetValueOrDefault(kv.Key) != kv.Value).Select(kv => kv.Key)
            .Concat(previous.Externals.Keys.Where(k => !key.Externals.ContainsKey(k))).Distinct().ToList();
        if (changedExternals.Count > 0) reasons.Add($"external file changed: {string.Join(", ", changedExternals)}");
        return reasons.Count > 0 ? string.Join("; ", reasons) : "cache key changed";
    }

    /// <summary>Changes that belong to the stage itself: code version and configuration keys.</summary>
    public static IEnumerable<string> OwnChanges(Stage s, LockEntry previous)
    {
        if (previous.Kind != s.Kind) yield return $"stage kind changed: {previous.Kind} -> {s.Kind}";
        if (previous.Version != s.Version) yield return $"code version changed: v{previous.Version} -> v{s.Version}";
        var identity = StageIdentity.Of(s);
        if (previous.Code != identity.Code)
            yield return $"code changed: {Short(previous.Code)} -> {Short(identity.Code)}";
        var behaviour = ChangedKeys(previous.Behaviour, identity.Behaviour, "").ToList();
        if (behaviour.Count > 0) yield return $"injected behaviour changed: {string.Join(", ", behaviour)}";
        var now = JsonNode.Parse(Hashing.Canonical(s.ConfigJson()));
        var keys = ChangedKeys(previous.Config, now, "").ToList();
        if (keys.Count > 0) yield return $"config changed: {string.Join(", ", keys)}";
    }

    static string Short(string? code) => code is null ? "(none recorded)" : code[..Math.Min(12, code.Length)];

    static IEnumerable<string> ChangedKeys(JsonNode? a, JsonNode? b, string prefix)
    {
        if (a is JsonObject oa && b is JsonObject ob)
        {
            foreach (var k in oa.Select(kv => kv.Key).Union(ob.Select(kv => kv.Key)).Order(StringComparer.Ordinal))
                foreach (var c in ChangedKeys(oa[k], ob[k], prefix.Length == 0 ? k : $"{prefix}.{k}")) yield return c;
        }
        else if (Hashing.Canonical(a) != Hashing.Canonical(b)) yield return prefix.Length == 0 ? "(whole configuration)" : prefix;
    }
}
