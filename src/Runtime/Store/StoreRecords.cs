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
    /// <summary>Tables: sha256 of the Parquet footer and trailer, checked before a reader parses them (a damaged footer can hang the parser).</summary>
    public string? FooterSha256 { get; set; }
    /// <summary>Derived tables (<see cref="DerivedTable"/>): the address of the base table they read their other columns from.</summary>
    public string? Base { get; set; }
}

internal static class StoreJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        AllowDuplicateProperties = false,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <summary>
    /// Reads a store file that must be intact if it exists: null when there is no such file; a file that is not
    /// valid JSON of the expected shape (or holds JSON null) raises <see cref="StoreFileCorruptException"/> naming it.
    /// </summary>
    public static T? Read<T>(string path) where T : class
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (FileNotFoundException) { return null; }
        catch (DirectoryNotFoundException) { return null; }
        try
        {
            return JsonSerializer.Deserialize<T>(text, Options)
                ?? throw new StoreFileCorruptException(path, "it holds JSON null");
        }
        catch (JsonException e) { throw new StoreFileCorruptException(path, $"not valid JSON of the expected shape ({e.Message})"); }
        catch (Exception e) when (e is InvalidOperationException or NotSupportedException or ArgumentException)
        {
            throw new StoreFileCorruptException(path, e.Message);
        }
    }

    /// <summary>
    /// Reads a file the store can rebuild from data it already has (an object's sidecar, the external-file hash
    /// memo): a damaged one is treated as absent, which only costs a re-hash.
    /// </summary>
    public static T? ReadRebuildable<T>(string path) where T : class
    {
        try { return Read<T>(path); }
        catch (StoreFileCorruptException) { return null; }
        catch (IOException) { return null; }
    }
}

/// <summary>
/// Checks what was read from a store file before any of it is used: no null entries, and every hash exactly 64
/// lowercase hex characters (<see cref="Store.Hashing.IsHash"/>), so nothing read from disk can become a path
/// outside the store. Violations raise <see cref="StoreFileCorruptException"/> naming the file and the entry.
/// </summary>
internal static class StoreValidation
{
    static StoreFileCorruptException Bad(string file, string what) => new(file, what);

    public static void Hash(string file, string what, string? hash)
    {
        if (!Store.Hashing.IsHash(hash))
            throw Bad(file, $"{what} {Store.Hashing.Quote(hash)} is not a hash (64 lowercase hex characters)");
    }

    public static void Artifact(string file, string what, ArtifactRef? a)
    {
        if (a is null) throw Bad(file, $"{what} is null");
        Hash(file, $"{what} hash", a.Hash);
        if (!Enum.IsDefined(a.Kind)) throw Bad(file, $"{what} has an unknown kind");
        if (a.Bytes < 0 || a.Rows < 0) throw Bad(file, $"{what} has a negative size or row count");
    }

    public static PipelineLock Lock(PipelineLock l, string file)
    {
        if (l.Stages is null) throw Bad(file, "'stages' is null");
        foreach (var (stage, e) in l.Stages)
        {
            string where = $"stage '{stage}'";
            if (e is null) throw Bad(file, $"{where} entry is null");
            Hash(file, $"{where} key", e.Key);
            if (e.Inputs is null || e.Outputs is null || e.Externals is null) throw Bad(file, $"{where} has a null 'inputs', 'outputs' or 'externals'");
            foreach (var (input, i) in e.Inputs)
            {
                if (i is null) throw Bad(file, $"{where} input '{input}' is null");
                Hash(file, $"{where} input '{input}' hash", i.Hash);
            }
            foreach (var (path, h) in e.Externals) Hash(file, $"{where} external '{path}' hash", h);
            foreach (var (output, a) in e.Outputs) Artifact(file, $"{where} output '{output}'", a);
        }
        return l;
    }

    public static CacheEntry Cache(CacheEntry e, string file, string key)
    {
        Hash(file, "'key'", e.Key);
        if (e.Key != key) throw Bad(file, $"'key' {e.Key[..12]}... does not match the file name {key[..12]}...");
        if (e.Outputs is null) throw Bad(file, "'outputs' is null");
        if (e.Metrics is null) throw Bad(file, "'metrics' is null");
        foreach (var (output, a) in e.Outputs) Artifact(file, $"output '{output}'", a);
        return e;
    }
}
