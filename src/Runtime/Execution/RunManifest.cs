using System.Text.Json.Nodes;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Execution;

/// <summary>Writes the per-run JSON manifest: options, and per stage key, status, inputs, outputs, rows, timing, metrics, decisions.</summary>
internal static class RunManifest
{
    public static void Write(RunResult r, DateTime startedUtc, RunOptions options, Pipeline p)
    {
        var stages = new JsonObject();
        foreach (var (name, s) in r.Stages)
        {
            var stage = p.Get(name);
            stages[name] = new JsonObject
            {
                ["kind"] = stage.Kind,
                ["version"] = stage.Version,
                ["code"] = s.Code,
                ["code_alias"] = s.CodeAliasReason,
                ["status"] = s.Status.ToString().ToLowerInvariant(),
                ["reason"] = s.Reason,
                ["key"] = s.Key,
                ["config"] = JsonNode.Parse(Hashing.Canonical(stage.ConfigJson())),
                ["inputs"] = new JsonObject(s.Inputs.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject { ["source"] = kv.Value.Source, ["hash"] = kv.Value.Hash }))),
                ["outputs"] = new JsonObject(s.Outputs.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject
                {
                    ["hash"] = kv.Value.Hash, ["kind"] = kv.Value.Kind.ToString().ToLowerInvariant(), ["bytes"] = kv.Value.Bytes, ["rows"] = kv.Value.Rows,
                }))),
                ["duration_ms"] = Math.Round(s.Duration.TotalMilliseconds, 1),
                ["started_utc"] = s.StartedUtc,
                ["finished_utc"] = s.FinishedUtc,
                ["metrics"] = new JsonObject(s.Metrics.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                ["decisions"] = s.Decisions is null ? null : new JsonObject
                {
                    ["kept"] = s.Decisions.Kept, ["dropped"] = s.Decisions.Dropped,
                    ["by_reason"] = new JsonObject(s.Decisions.ByReason.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                },
                ["error"] = s.Error,
            };
        }
        var doc = new JsonObject
        {
            ["pipeline"] = r.Pipeline,
            ["run_id"] = r.RunId,
            ["started_utc"] = startedUtc,
            ["duration_ms"] = Math.Round(r.Duration.TotalMilliseconds, 1),
            ["succeeded"] = r.Succeeded,
            ["options"] = new JsonObject
            {
                ["force"] = new JsonArray(options.Force.Select(f => (JsonNode?)f).ToArray()),
                ["until"] = options.Until,
                ["overrides"] = new JsonArray(options.Overrides.Select(f => (JsonNode?)f).ToArray()),
                ["verify_hashes"] = options.VerifyHashes,
            },
            ["stages"] = stages,
        };
        AtomicFile.WriteAllText(r.ManifestPath, doc.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
    }
}
