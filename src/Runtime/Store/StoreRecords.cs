using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace IwSft.Runtime;

/// <summary>A materialised artifact in the store, named by its content hash.</summary>
public sealed record ArtifactRef(string Hash, ArtifactKind Kind, long Bytes, long Rows);

/// <summary>One cached stage execution: what a cache key produced (like one entry of DVC's run cache).</summary>
public sealed class CacheEntry
{
    public string Key { get; set; } = "";
    public string Stage { get; set; } = "";
    public string Kind { get; set; } = "";
    public int Version { get; set; }
    /// <summary>Code identity of the stage (see CodeIdentity) that produced the outputs.</summary>
    public string? Code { get; set; }
    public Dictionary<string, ArtifactRef> Outputs { get; set; } = new();
    public Dictionary<string, double> Metrics { get; set; } = new();
    public DecisionCounts? Decisions { get; set; }
    public double DurationMs { get; set; }
    public DateTime CreatedUtc { get; set; }
}

/// <summary>Kept/dropped totals and counts by reason from a stage's decisions table.</summary>
public sealed class DecisionCounts
{
    public long Kept { get; set; }
    public long Dropped { get; set; }
    public SortedDictionary<string, long> ByReason { get; set; } = new(StringComparer.Ordinal);
}

public sealed record InputLock(string Source, string Hash);

/// <summary>What a stage was last materialised from and to, per pipeline (like a dvc.lock entry).</summary>
public sealed class LockEntry
{
    public string Key { get; set; } = "";
    public string Kind { get; set; } = "";
    public int Version { get; set; }
    /// <summary>Code identity of the stage kind's implementation when it last ran (see CodeIdentity).</summary>
    public string? Code { get; set; }
    /// <summary>Identity of the stage's injected behaviour ([InKey] fields) when it last ran.</summary>
    public JsonNode? Behaviour { get; set; }
    public JsonNode? Config { get; set; }
    public SortedDictionary<string, InputLock> Inputs { get; set; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, string> Externals { get; set; } = new(StringComparer.Ordinal);
    public SortedDictionary<string, ArtifactRef> Outputs { get; set; } = new(StringComparer.Ordinal);
    public DateTime UpdatedUtc { get; set; }
}

public sealed class PipelineLock
{
    public string Pipeline { get; set; } = "";
    public SortedDictionary<string, LockEntry> Stages { get; set; } = new(StringComparer.Ordinal);
}

internal sealed record FileStamp(string Path, long Bytes, long MtimeTicks);

/// <summary>Sidecar of an object: what is needed to trust it without re-reading it.</summary>
internal sealed class ObjectMeta
{
    public string Hash { get; set; } = "";
    public ArtifactKind Kind { get; set; }
    public long Bytes { get; set; }
    public long Rows { get; set; }
    public long MtimeTicks { get; set; }
    public List<FileStamp>? Files { get; set; }
}

internal static class StoreJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    public static T? TryRead<T>(string path) where T : class
    {
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options); }
        catch (JsonException) { return null; } // a damaged metadata file is treated as absent: the work is redone
    }
}
