using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Runtime;

/// <summary>Applies <c>stage.key=value</c> overrides (the CLI's <c>--set</c>) to a pipeline's stage configurations.</summary>
public static class ConfigOverrides
{
    /// <summary>
    /// Applies each override in order. The value is parsed as JSON when it is valid JSON (numbers, true/false,
    /// arrays, quoted strings), otherwise taken as a plain string. Unknown stages or keys, and values the
    /// configuration type rejects, raise an <see cref="ArgumentException"/> naming the valid choices.
    /// </summary>
    public static void Apply(Pipeline pipeline, IEnumerable<string> overrides)
    {
        foreach (var o in overrides) Apply(pipeline, o);
    }

    public static void Apply(Pipeline pipeline, string assignment)
    {
        int eq = assignment.IndexOf('=');
        int dot = assignment.IndexOf('.');
        if (eq < 0 || dot < 0 || dot > eq)
            throw new ArgumentException($"override '{assignment}' is not of the form <stage>.<key>=<value>");
        var stageName = assignment[..dot];
        var path = assignment[(dot + 1)..eq].Split('.');
        var raw = assignment[(eq + 1)..];
        var stage = pipeline.Stages.FirstOrDefault(s => s.Name == stageName)
            ?? throw new ArgumentException($"--set {assignment}: pipeline '{pipeline.Name}' has no stage '{stageName}'; stages: {string.Join(", ", pipeline.Stages.Select(s => s.Name))}");
        var config = stage.ConfigJson().DeepClone();
        JsonNode node = config;
        for (int i = 0; i < path.Length; i++)
        {
            if (node is not JsonObject obj)
                throw new ArgumentException($"--set {assignment}: '{string.Join('.', path[..i])}' of stage '{stageName}' is not an object");
            if (!obj.ContainsKey(path[i]))
                throw new ArgumentException($"--set {assignment}: stage '{stageName}' ({stage.Kind}) has no configuration key '{string.Join('.', path[..(i + 1)])}'; valid keys: {string.Join(", ", obj.Select(kv => kv.Key).Order(StringComparer.Ordinal))}");
            if (i == path.Length - 1) obj[path[i]] = ParseValue(raw);
            else node = obj[path[i]] ?? throw new ArgumentException($"--set {assignment}: '{path[i]}' is null in stage '{stageName}'; set it as a whole");
        }
        try { stage.LoadConfigJson(config); }
        catch (Exception e) when (e is JsonException or InvalidOperationException or NotSupportedException or FormatException)
        {
            throw new ArgumentException($"--set {assignment}: value '{raw}' is not valid for stage '{stageName}' key '{string.Join('.', path)}': {e.Message}", e);
        }
    }

    static JsonNode? ParseValue(string raw)
    {
        try { return JsonNode.Parse(raw); }
        catch (JsonException) { return JsonValue.Create(raw); }
    }
}
