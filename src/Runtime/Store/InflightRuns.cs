namespace IwSft.Runtime.Store;

/// <summary>What an in-flight run has committed or decided to reuse so far: <c>inflight/RUNID.json</c>.</summary>
internal sealed class InflightRecord
{
    public string RunId { get; set; } = "";
    public string Pipeline { get; set; } = "";
    public int Pid { get; set; }
    public DateTime StartedUtc { get; set; }
    public SortedSet<string> Hashes { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// A run's record of the objects it relies on (reused cache hits, fresh outputs), written before it uses
/// them and deleted when the run ends. gc treats every hash in the record of a live process as referenced,
/// a second line of defence behind the store lock (<see cref="StoreLock"/>).
/// </summary>
internal sealed class InflightRun : IDisposable
{
    readonly string _path;
    readonly InflightRecord _record;
    readonly object _gate = new();

    public InflightRun(string root, string pipeline, string runId)
    {
        _path = Path.Combine(DirOf(root), runId + ".json");
        _record = new InflightRecord { RunId = runId, Pipeline = pipeline, Pid = Environment.ProcessId, StartedUtc = DateTime.UtcNow };
        AtomicFile.WriteAllText(_path, StoreJson.Serialize(_record));
    }

    internal static string DirOf(string root) => Path.Combine(root, "inflight");

    /// <summary>Records the artifacts before the run uses them (a no-op for ones already recorded).</summary>
    public void Pin(IEnumerable<ArtifactRef> artifacts)
    {
        lock (_gate)
        {
            bool added = false;
            foreach (var a in artifacts) added |= _record.Hashes.Add(a.Hash);
            if (added) AtomicFile.WriteAllText(_path, StoreJson.Serialize(_record));
        }
    }

    public void Dispose()
    {
        try { File.Delete(_path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The records in the store (validated), with the file each came from.</summary>
    public static List<(string File, InflightRecord Record)> ReadAll(string root)
    {
        var dir = DirOf(root);
        var result = new List<(string, InflightRecord)>();
        if (!Directory.Exists(dir)) return result;
        foreach (var f in Directory.GetFiles(dir, "*.json"))
        {
            var r = StoreJson.Read<InflightRecord>(f);
            if (r is null) continue; // finished and deleted since the listing
            if (r.Hashes is null) throw new StoreFileCorruptException(f, "'hashes' is null");
            foreach (var h in r.Hashes) StoreValidation.Hash(f, "pinned", h);
            result.Add((f, r));
        }
        return result;
    }
}
