using System.Diagnostics;
using Apache.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime;

public enum ArtifactHealth { Ok, Missing, Corrupt }

/// <summary>
/// The content-addressed artifact store (default <c>.iwsft/</c>). Layout:
/// <c>objects/ab/HASH.parquet|.dir</c> + <c>HASH.meta.json</c> (size, mtime, rows: the cheap validity check),
/// <c>cache/ab/KEY.json</c> (cache key → outputs), <c>pipelines/NAME/lock.json</c> (latest materialised state of
/// each stage), <c>pipelines/NAME/runs/*.json</c> (run manifests), <c>memo/</c> (record memos), <c>tmp/</c>.
/// Everything is written to a temporary name and renamed into place.
/// </summary>
public sealed class ArtifactStore
{
    public ArtifactStore(string rootDir)
    {
        Root = Path.GetFullPath(rootDir);
        Directory.CreateDirectory(Root);
    }

    /// <summary>Store used by the CLI when no --store is given: <c>.iwsft/</c> in the current directory.</summary>
    public static string DefaultRoot => Path.Combine(Environment.CurrentDirectory, ".iwsft");

    public string Root { get; }

    internal string ObjectsDir => Path.Combine(Root, "objects");
    internal string TmpDir => Path.Combine(Root, "tmp");
    internal string MemoDir => Path.Combine(Root, "memo");
    internal string QuarantineDir => Path.Combine(Root, "quarantine");
    internal string FileHashCachePath => Path.Combine(Root, "filehashes.json");

    public string PipelineDir(string pipeline) => Path.Combine(Root, "pipelines", pipeline);
    public string LockPath(string pipeline) => Path.Combine(PipelineDir(pipeline), "lock.json");
    public string RunsDir(string pipeline) => Path.Combine(PipelineDir(pipeline), "runs");

    public string ObjectPath(ArtifactRef a) => ObjectPath(a.Hash, a.Kind);

    internal string ObjectPath(string hash, ArtifactKind kind) =>
        Path.Combine(ObjectsDir, hash[..2], hash + (kind == ArtifactKind.Table ? ".parquet" : ".dir"));

    string MetaPath(string hash) => Path.Combine(ObjectsDir, hash[..2], hash + ".meta.json");
    string CachePath(string key) => Path.Combine(Root, "cache", key[..2], key + ".json");

    // ---------- temporary space ----------

    /// <summary>A fresh directory under tmp/ named after this process, so a later run can tell abandoned ones.</summary>
    internal string NewTempDir()
    {
        var dir = Path.Combine(TmpDir, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Deletes temp directories left by processes that no longer exist (killed runs). Returns how many.</summary>
    public int CleanAbandonedTemp()
    {
        if (!Directory.Exists(TmpDir)) return 0;
        int n = 0;
        foreach (var d in Directory.GetDirectories(TmpDir))
        {
            var name = Path.GetFileName(d);
            int dash = name.IndexOf('-');
            if (dash > 0 && int.TryParse(name[..dash], out int pid) && IsAlive(pid)) continue;
            try { Directory.Delete(d, recursive: true); n++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return n;
    }

    static bool IsAlive(int pid)
    {
        if (pid == Environment.ProcessId) return true;
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    // ---------- objects ----------

    /// <summary>Moves a finished Parquet file into the store under its content hash.</summary>
    internal ArtifactRef CommitTable(string tempFile, long rows)
    {
        var hash = Hashing.HashFile(tempFile);
        var dest = ObjectPath(hash, ArtifactKind.Table);
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        var existing = StoreJson.TryRead<ObjectMeta>(MetaPath(hash));
        if (existing != null && QuickCheck(existing, dest)) File.Delete(tempFile); // same bytes already stored
        else File.Move(tempFile, dest, overwrite: true);
        var fi = new FileInfo(dest);
        var meta = new ObjectMeta { Hash = hash, Kind = ArtifactKind.Table, Bytes = fi.Length, Rows = rows, MtimeTicks = fi.LastWriteTimeUtc.Ticks };
        AtomicFile.WriteAllText(MetaPath(hash), StoreJson.Serialize(meta));
        return new ArtifactRef(hash, ArtifactKind.Table, meta.Bytes, rows);
    }

    /// <summary>Moves a finished directory into the store under its tree hash.</summary>
    internal ArtifactRef CommitDirectory(string tempDir)
    {
        FsyncTree(tempDir);
        var hash = Hashing.HashDirectory(tempDir);
        var dest = ObjectPath(hash, ArtifactKind.Directory);
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        var existing = StoreJson.TryRead<ObjectMeta>(MetaPath(hash));
        if (existing != null && QuickCheck(existing, dest)) Directory.Delete(tempDir, recursive: true);
        else
        {
            if (Directory.Exists(dest)) Directory.Delete(dest, recursive: true);
            Directory.Move(tempDir, dest);
        }
        var meta = DirectoryMeta(hash, dest);
        AtomicFile.WriteAllText(MetaPath(hash), StoreJson.Serialize(meta));
        return new ArtifactRef(hash, ArtifactKind.Directory, meta.Bytes, 0);
    }

    static void FsyncTree(string dir)
    {
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            using var fs = new FileStream(f, FileMode.Open, FileAccess.ReadWrite);
            fs.Flush(flushToDisk: true);
        }
    }

    static ObjectMeta DirectoryMeta(string hash, string dir)
    {
        var files = Hashing.ListFiles(dir).Select(x =>
        {
            var fi = new FileInfo(x.full);
            return new FileStamp(x.rel, fi.Length, fi.LastWriteTimeUtc.Ticks);
        }).ToList();
        return new ObjectMeta { Hash = hash, Kind = ArtifactKind.Directory, Bytes = files.Sum(f => f.Bytes), Files = files };
    }

    /// <summary>Size + mtime match what was recorded at write time (no data read).</summary>
    static bool QuickCheck(ObjectMeta meta, string path)
    {
        if (meta.Kind == ArtifactKind.Table)
        {
            var fi = new FileInfo(path);
            return fi.Exists && fi.Length == meta.Bytes && fi.LastWriteTimeUtc.Ticks == meta.MtimeTicks;
        }
        if (!Directory.Exists(path) || meta.Files is null) return false;
        var now = Hashing.ListFiles(path).ToList();
        if (now.Count != meta.Files.Count) return false;
        for (int i = 0; i < now.Count; i++)
        {
            var fi = new FileInfo(now[i].full);
            var m = meta.Files[i];
            if (now[i].rel != m.Path || fi.Length != m.Bytes || fi.LastWriteTimeUtc.Ticks != m.MtimeTicks) return false;
        }
        return true;
    }

    /// <summary>
    /// Whether an artifact can be used. Cheap path: the size and mtime recorded at write time still match.
    /// Otherwise (or with <paramref name="fullHash"/>) the content is re-hashed; a mismatch moves the object
    /// to quarantine/ so nothing uses it again.
    /// </summary>
    public ArtifactHealth Verify(ArtifactRef a, bool fullHash = false)
    {
        var path = ObjectPath(a);
        bool exists = a.Kind == ArtifactKind.Table ? File.Exists(path) : Directory.Exists(path);
        if (!exists) return ArtifactHealth.Missing;
        var meta = StoreJson.TryRead<ObjectMeta>(MetaPath(a.Hash));
        if (!fullHash && meta != null && meta.Hash == a.Hash && QuickCheck(meta, path)) return ArtifactHealth.Ok;
        string actual;
        try { actual = a.Kind == ArtifactKind.Table ? Hashing.HashFile(path) : Hashing.HashDirectory(path); }
        catch (IOException) { actual = ""; }
        if (actual == a.Hash)
        {
            // Touched but intact: refresh the stamps so the next check is cheap again.
            var fresh = a.Kind == ArtifactKind.Table
                ? new ObjectMeta { Hash = a.Hash, Kind = a.Kind, Bytes = new FileInfo(path).Length, Rows = a.Rows, MtimeTicks = new FileInfo(path).LastWriteTimeUtc.Ticks }
                : DirectoryMeta(a.Hash, path);
            AtomicFile.WriteAllText(MetaPath(a.Hash), StoreJson.Serialize(fresh));
            return ArtifactHealth.Ok;
        }
        Quarantine(a, path);
        return ArtifactHealth.Corrupt;
    }

    void Quarantine(ArtifactRef a, string path)
    {
        Directory.CreateDirectory(QuarantineDir);
        var dest = Path.Combine(QuarantineDir, $"{Path.GetFileName(path)}.{DateTime.UtcNow:yyyyMMddHHmmssfff}");
        try
        {
            if (a.Kind == ArtifactKind.Table) File.Move(path, dest);
            else Directory.Move(path, dest);
        }
        catch (IOException) { /* leave it; the meta removal below already stops it being trusted */ }
        try { File.Delete(MetaPath(a.Hash)); } catch (IOException) { }
    }

    /// <summary>
    /// Writes batches as a table artifact (temp file, fsync, content hash, rename) outside any pipeline run,
    /// e.g. to import data or to benchmark the store. Returns its reference.
    /// </summary>
    public async Task<ArtifactRef> ImportTableAsync(IAsyncEnumerable<RecordBatch> batches, Schema schema, int rowGroupRows = 8192, CancellationToken ct = default)
    {
        var dir = NewTempDir();
        try
        {
            var path = Path.Combine(dir, "table.parquet");
            var w = await ParquetTableFileWriter.CreateAsync(path, schema, rowGroupRows, ct);
            await using (w)
            {
                await foreach (var b in batches.WithCancellation(ct)) await w.WriteAsync(b, ct);
                await w.CloseAsync(ct);
            }
            return CommitTable(path, w.RowCount);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    // ---------- cache entries and locks ----------

    public CacheEntry? TryGetCacheEntry(string key) => StoreJson.TryRead<CacheEntry>(CachePath(key));

    internal void PutCacheEntry(CacheEntry e) => AtomicFile.WriteAllText(CachePath(e.Key), StoreJson.Serialize(e));

    public PipelineLock ReadLock(string pipeline) =>
        StoreJson.TryRead<PipelineLock>(LockPath(pipeline)) ?? new PipelineLock { Pipeline = pipeline };

    internal void WriteLock(PipelineLock l) => AtomicFile.WriteAllText(LockPath(l.Pipeline), StoreJson.Serialize(l));

    /// <summary>Run manifests of a pipeline, oldest first.</summary>
    public IReadOnlyList<string> RunManifests(string pipeline) =>
        Directory.Exists(RunsDir(pipeline)) ? Directory.GetFiles(RunsDir(pipeline), "*.json").Order(StringComparer.Ordinal).ToList() : [];

    // ---------- reading materialised outputs ----------

    /// <summary>The latest materialised artifact of <c>stage.output</c> (output defaults to the stage's only/first output).</summary>
    public ArtifactRef Resolve(Pipeline p, string stageOutput)
    {
        var (stage, output) = ParseStageOutput(p, stageOutput);
        var entry = ReadLock(p.Name).Stages.GetValueOrDefault(stage.Name)
            ?? throw new InvalidOperationException($"stage '{stage.Name}' of pipeline '{p.Name}' has not been materialised in store {Root}; run `iwsft run {p.Name} --until {stage.Name}` first");
        var a = entry.Outputs.GetValueOrDefault(output)
            ?? throw new InvalidOperationException($"stage '{stage.Name}' has no materialised output '{output}' (outputs: {string.Join(", ", entry.Outputs.Keys)})");
        var health = Verify(a);
        if (health != ArtifactHealth.Ok)
            throw new InvalidOperationException($"artifact {stage.Name}.{output} ({a.Hash[..12]}) is {health.ToString().ToLowerInvariant()}; rerun the pipeline to recompute it");
        return a;
    }

    /// <summary>Reader over the latest materialised table <c>stage.output</c>.</summary>
    public ITableReader OpenTable(Pipeline p, string stageOutput)
    {
        var a = Resolve(p, stageOutput);
        if (a.Kind != ArtifactKind.Table) throw new InvalidOperationException($"{stageOutput} is a directory artifact, not a table; use GetDirectory");
        var (stage, output) = ParseStageOutput(p, stageOutput);
        return OpenTable(a, $"{stage.Name}.{output}");
    }

    /// <summary>Reader over a stored table artifact.</summary>
    public ITableReader OpenTable(ArtifactRef a, string name) => new StoredTableReader(ObjectPath(a), name, a.Rows, a.Hash);

    /// <summary>Path of the latest materialised directory <c>stage.output</c> (read-only: do not modify).</summary>
    public string GetDirectory(Pipeline p, string stageOutput)
    {
        var a = Resolve(p, stageOutput);
        if (a.Kind != ArtifactKind.Directory) throw new InvalidOperationException($"{stageOutput} is a table artifact, not a directory; use OpenTable");
        return ObjectPath(a);
    }

    internal static (Stage stage, string output) ParseStageOutput(Pipeline p, string stageOutput)
    {
        int dot = stageOutput.IndexOf('.');
        var stage = p.Get(dot < 0 ? stageOutput : stageOutput[..dot]);
        var outputs = stage.Outputs.Select(o => o.Name).ToList();
        if (stage.WritesDecisions) outputs.Add(Stage.DecisionsOutput);
        string output = dot < 0
            ? outputs.FirstOrDefault() ?? throw new ArgumentException($"stage '{stage.Name}' has no outputs")
            : stageOutput[(dot + 1)..];
        if (!outputs.Contains(output))
            throw new ArgumentException($"stage '{stage.Name}' has no output '{output}'; outputs: {string.Join(", ", outputs)}");
        return (stage, output);
    }

    // ---------- garbage collection ----------

    public sealed record GcResult(int ObjectsDeleted, long BytesFreed, int CacheEntriesDeleted, int TempDirsDeleted);

    /// <summary>
    /// Deletes objects that no pipeline's lock references (older results kept only in the run cache), the cache
    /// entries that point at them, quarantined files and abandoned temp dirs. Record memos are kept.
    /// </summary>
    public GcResult CollectGarbage()
    {
        var live = new HashSet<string>(StringComparer.Ordinal);
        var pipelinesDir = Path.Combine(Root, "pipelines");
        if (Directory.Exists(pipelinesDir))
            foreach (var d in Directory.GetDirectories(pipelinesDir))
                foreach (var e in ReadLock(Path.GetFileName(d)).Stages.Values)
                    foreach (var o in e.Outputs.Values) live.Add(o.Hash);
        int objects = 0, entries = 0; long bytes = 0;
        var cacheDir = Path.Combine(Root, "cache");
        if (Directory.Exists(cacheDir))
            foreach (var f in Directory.EnumerateFiles(cacheDir, "*.json", SearchOption.AllDirectories).ToList())
            {
                var e = StoreJson.TryRead<CacheEntry>(f);
                if (e == null || e.Outputs.Values.Any(o => !live.Contains(o.Hash))) { File.Delete(f); entries++; }
            }
        if (Directory.Exists(ObjectsDir))
            foreach (var sub in Directory.GetDirectories(ObjectsDir))
                foreach (var entry in Directory.GetFileSystemEntries(sub))
                {
                    var name = Path.GetFileName(entry);
                    var hash = name.Split('.')[0];
                    if (live.Contains(hash)) continue;
                    if (File.Exists(entry)) { bytes += new FileInfo(entry).Length; File.Delete(entry); }
                    else { bytes += Directory.EnumerateFiles(entry, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length); Directory.Delete(entry, true); }
                    if (!name.EndsWith(".meta.json")) objects++;
                }
        if (Directory.Exists(QuarantineDir)) Directory.Delete(QuarantineDir, recursive: true);
        int tmp = CleanAbandonedTemp();
        return new GcResult(objects, bytes, entries, tmp);
    }
}

/// <summary>Streams a stored Parquet table as Arrow batches, one row group at a time.</summary>
internal sealed class StoredTableReader(string path, string artifact, long rows, string hash) : ITableReader
{
    Schema? _schema;
    public string Artifact { get; } = artifact;
    public string Path { get; } = path;
    public long RowCount { get; } = rows;
    public string ContentHash { get; } = hash;
    public Schema Schema => _schema ??= ParquetTableFileReader.ReadHeaderAsync(Path).GetAwaiter().GetResult().schema;
    public IAsyncEnumerable<RecordBatch> ReadBatchesAsync(CancellationToken cancellationToken = default) =>
        ParquetTableFileReader.ReadBatchesAsync(Path, cancellationToken);
}
