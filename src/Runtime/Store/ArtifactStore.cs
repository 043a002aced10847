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
    public ArtifactStore(string rootDir) : this(rootDir, readOnly: false) { }

    ArtifactStore(string rootDir, bool readOnly)
    {
        Root = Path.GetFullPath(rootDir);
        IsReadOnly = readOnly;
        if (!readOnly) Directory.CreateDirectory(Root);
    }

    /// <summary>
    /// A view of the store that never writes to it (the web view, <c>iwsft ui</c>): no directory, lock file, sidecar
    /// refresh or quarantine move is made; a damaged object is reported, not moved; every method that would write
    /// (commits, cache entries, locks, temp space, gc, runs) throws <see cref="InvalidOperationException"/>.
    /// </summary>
    public static ArtifactStore OpenReadOnly(string rootDir) => new(rootDir, readOnly: true);

    /// <summary>Opened with <see cref="OpenReadOnly"/>.</summary>
    public bool IsReadOnly { get; }

    internal void ThrowIfReadOnly(string what)
    {
        if (IsReadOnly) throw new InvalidOperationException($"store {Root} is open read-only: cannot {what}");
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
        Path.Combine(ObjectsDir, Address(hash)[..2], hash + (kind == ArtifactKind.Table ? ".parquet" : ".dir"));

    string MetaPath(string hash) => Path.Combine(ObjectsDir, Address(hash)[..2], hash + ".meta.json");
    string CachePath(string key) => Path.Combine(Root, "cache", Address(key)[..2], key + ".json");

    /// <summary>The last guard before a hash becomes a path: exactly 64 lowercase hex characters, or an error.</summary>
    static string Address(string hash) => Hashing.IsHash(hash) ? hash
        : throw new InvalidDataException($"refusing to use {Hashing.Quote(hash)} as a store address: a hash is 64 lowercase hex characters");

    ObjectMeta? ReadMeta(string hash)
    {
        var meta = StoreJson.ReadRebuildable<ObjectMeta>(MetaPath(hash));
        return meta != null && meta.Hash == hash && (meta.Kind != ArtifactKind.Directory || meta.Files is not null) ? meta : null;
    }

    // ---------- temporary space ----------

    /// <summary>A fresh directory under tmp/ named after this process, so a later run can tell abandoned ones.</summary>
    internal string NewTempDir()
    {
        ThrowIfReadOnly("create temporary space");
        var dir = Path.Combine(TmpDir, $"{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Deletes temp directories left by processes that no longer exist (killed runs). Returns how many.</summary>
    public int CleanAbandonedTemp()
    {
        ThrowIfReadOnly("clean temporary space");
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
        ThrowIfReadOnly("commit a table");
        var hash = Hashing.HashFile(tempFile);
        var dest = ObjectPath(hash, ArtifactKind.Table);
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        var existing = ReadMeta(hash);
        if (existing != null && QuickCheck(existing, dest)) File.Delete(tempFile); // same bytes already stored
        else File.Move(tempFile, dest, overwrite: true);
        var meta = TableMeta(hash, dest, rows);
        AtomicFile.WriteAllText(MetaPath(hash), StoreJson.Serialize(meta));
        return new ArtifactRef(hash, ArtifactKind.Table, meta.Bytes, rows);
    }

    /// <summary>A table's sidecar: size and mtime stamps, footer hash, and a derived table's base (read from its footer).</summary>
    static ObjectMeta TableMeta(string hash, string path, long rows)
    {
        var fi = new FileInfo(path);
        return new ObjectMeta
        {
            Hash = hash, Kind = ArtifactKind.Table, Bytes = fi.Length, Rows = rows, MtimeTicks = fi.LastWriteTimeUtc.Ticks,
            FooterSha256 = ParquetTableFileReader.FooterHash(path), Base = DerivedBaseFromFooter(path),
        };
    }

    /// <summary>The base table a stored table is derived from (read from its footer), or null for a plain table.</summary>
    internal static string? DerivedBaseFromFooter(string path)
    {
        var (physical, _, metadata) = ParquetTableFileReader.ReadFooterAsync(path).GetAwaiter().GetResult();
        return DerivedTable.FromFooter(physical, metadata, path)?.BaseHash;
    }

    /// <summary>
    /// The base of a stored table: from its sidecar when that is intact, else from its footer. Null for a plain table;
    /// throws when the footer cannot be read.
    /// </summary>
    internal string? DerivedBase(string hash)
    {
        var path = ObjectPath(hash, ArtifactKind.Table);
        if (ReadMeta(hash) is { Kind: ArtifactKind.Table } meta && QuickCheck(meta, path)) return meta.Base;
        return DerivedBaseFromFooter(path);
    }

    /// <summary>Moves a finished directory into the store under its tree hash.</summary>
    internal ArtifactRef CommitDirectory(string tempDir)
    {
        ThrowIfReadOnly("commit a directory");
        FsyncTree(tempDir);
        var hash = Hashing.HashDirectory(tempDir);
        var dest = ObjectPath(hash, ArtifactKind.Directory);
        Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
        var existing = ReadMeta(hash);
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
        var health = VerifyObject(a, fullHash);
        if (health != ArtifactHealth.Ok || a.Kind != ArtifactKind.Table) return health;
        // A derived table is only as usable as its base: a missing or damaged base makes it missing.
        string? baseHash;
        try { baseHash = DerivedBase(a.Hash); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException) { return ArtifactHealth.Corrupt; }
        if (baseHash is null) return ArtifactHealth.Ok;
        if (FindArtifact(baseHash) is not { Kind: ArtifactKind.Table } b) return ArtifactHealth.Missing;
        return VerifyObject(b, fullHash) == ArtifactHealth.Ok ? ArtifactHealth.Ok : ArtifactHealth.Missing;
    }

    ArtifactHealth VerifyObject(ArtifactRef a, bool fullHash)
    {
        var path = ObjectPath(a);
        bool exists = a.Kind == ArtifactKind.Table ? File.Exists(path) : Directory.Exists(path);
        if (!exists) return ArtifactHealth.Missing;
        var meta = ReadMeta(a.Hash);
        if (!fullHash && meta != null && QuickCheck(meta, path)) return ArtifactHealth.Ok;
        string actual;
        try { actual = a.Kind == ArtifactKind.Table ? Hashing.HashFile(path) : Hashing.HashDirectory(path); }
        catch (IOException) { actual = ""; }
        catch (UnauthorizedAccessException) { actual = ""; }
        if (actual == a.Hash && IsReadOnly) return ArtifactHealth.Ok; // intact; the stamps stay as they are
        if (actual == a.Hash)
        {
            // Touched but intact: refresh the stamps so the next check is cheap again.
            var fresh = a.Kind == ArtifactKind.Table ? TableMeta(a.Hash, path, a.Rows) : DirectoryMeta(a.Hash, path);
            AtomicFile.WriteAllText(MetaPath(a.Hash), StoreJson.Serialize(fresh));
            return ArtifactHealth.Ok;
        }
        Quarantine(a, path);
        return ArtifactHealth.Corrupt;
    }

    /// <summary>
    /// Re-hashes an artifact in full and throws <see cref="ArtifactCorruptException"/> naming it (after moving it
    /// to quarantine/) unless its content still matches its address.
    /// </summary>
    internal void VerifyContent(ArtifactRef a, string artifact)
    {
        var path = ObjectPath(a);
        bool exists = a.Kind == ArtifactKind.Table ? File.Exists(path) : Directory.Exists(path);
        if (!exists) throw new FileNotFoundException($"artifact {artifact} ({a.Hash[..12]}) is missing from store {Root}; rerun the pipeline to recompute it", path);
        string actual;
        try { actual = a.Kind == ArtifactKind.Table ? Hashing.HashFile(path) : Hashing.HashDirectory(path); }
        catch (IOException) { actual = "unreadable"; }
        if (actual == a.Hash) return;
        Quarantine(a, path);
        throw new ArtifactCorruptException(artifact, a.Hash, actual);
    }

    /// <summary>
    /// A reader found that the bytes it consumed do not hash to the artifact's address: confirm on disk, move the
    /// object aside, and fail whatever was reading it.
    /// </summary>
    internal Exception CorruptWhileReading(ArtifactRef a, string artifact, string actual)
    {
        if (Verify(a, fullHash: true) == ArtifactHealth.Ok) // intact on disk now: it changed while being read
            return new InvalidDataException($"artifact {artifact} ({a.Hash[..12]}) changed while it was being read (content hashed to {actual[..12]}); nothing computed from it was stored; rerun");
        return new ArtifactCorruptException(artifact, a.Hash, actual);
    }

    /// <summary>
    /// Before a table's footer is parsed: its hash must match the one recorded at commit (when one was), else the
    /// whole object is re-hashed and, being corrupt, quarantined with an <see cref="ArtifactCorruptException"/>.
    /// </summary>
    internal void CheckFooter(ArtifactRef a, string artifact)
    {
        var path = ObjectPath(a);
        if (ReadMeta(a.Hash) is not { FooterSha256: { } expected }) return;
        string actual;
        try { actual = ParquetTableFileReader.FooterHash(path); }
        catch (FileNotFoundException) { throw new FileNotFoundException($"artifact {artifact} ({a.Hash[..12]}) is missing from store {Root}; rerun the pipeline to recompute it", path); }
        if (actual != expected) VerifyContent(a, artifact);
    }

    void Quarantine(ArtifactRef a, string path)
    {
        if (IsReadOnly) return; // reported to the reader; a writing process moves it aside when it next checks
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
        var dir = NewTempDir(); // throws on a read-only store
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

    /// <summary>
    /// The cache entry of <paramref name="key"/>, or null when there is none. An entry that cannot be read or holds
    /// an invalid hash raises <see cref="StoreFileCorruptException"/> naming the file: it is never taken as a miss.
    /// </summary>
    public CacheEntry? TryGetCacheEntry(string key)
    {
        var path = CachePath(key);
        var e = StoreJson.Read<CacheEntry>(path);
        return e is null ? null : StoreValidation.Cache(e, path, key);
    }

    internal void PutCacheEntry(CacheEntry e)
    {
        ThrowIfReadOnly("write a cache entry");
        AtomicFile.WriteAllText(CachePath(e.Key), StoreJson.Serialize(e));
    }

    /// <summary>
    /// The pipeline's lock (an empty one when it has never run). A lock file that cannot be read, has a null entry
    /// or an invalid hash raises <see cref="StoreFileCorruptException"/> naming the file.
    /// </summary>
    public PipelineLock ReadLock(string pipeline)
    {
        var path = LockPath(pipeline);
        var l = StoreJson.Read<PipelineLock>(path);
        return l is null ? new PipelineLock { Pipeline = pipeline } : StoreValidation.Lock(l, path);
    }

    internal void WriteLock(PipelineLock l)
    {
        ThrowIfReadOnly("write a lock file");
        AtomicFile.WriteAllText(LockPath(l.Pipeline), StoreJson.Serialize(l));
    }

    /// <summary>
    /// The stored object named <paramref name="hash"/> (a table or a directory), or null when there is none. Only a
    /// valid address (<see cref="Hashing.IsHash"/>) becomes a path; anything else throws <see cref="InvalidDataException"/>.
    /// Rows come from the object's sidecar (0 when it has none).
    /// </summary>
    public ArtifactRef? FindArtifact(string hash)
    {
        Address(hash);
        var meta = ReadMeta(hash);
        if (meta != null && (meta.Kind == ArtifactKind.Table ? File.Exists(ObjectPath(hash, meta.Kind)) : Directory.Exists(ObjectPath(hash, meta.Kind))))
            return new ArtifactRef(hash, meta.Kind, meta.Bytes, meta.Rows);
        var table = new FileInfo(ObjectPath(hash, ArtifactKind.Table));
        if (table.Exists) return new ArtifactRef(hash, ArtifactKind.Table, table.Length, 0);
        return Directory.Exists(ObjectPath(hash, ArtifactKind.Directory)) ? new ArtifactRef(hash, ArtifactKind.Directory, 0, 0) : null;
    }

    /// <summary>Runs in progress (or killed without cleaning up): their in-flight records, read without locking.</summary>
    public IReadOnlyList<InflightRunInfo> InflightRuns() =>
        InflightRun.ReadAll(Root).Select(x => new InflightRunInfo(x.Record.RunId, x.Record.Pipeline, x.Record.Pid, x.Record.StartedUtc,
            x.Record.Hashes.Count, IsAlive(x.Record.Pid))).OrderBy(r => r.RunId, StringComparer.Ordinal).ToList();

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

    /// <summary>Reader over a stored table artifact; a read to the end verifies the content against the address.</summary>
    public ITableReader OpenTable(ArtifactRef a, string name) => new StoredTableReader(this, a, name);

    /// <summary>
    /// Holds the store's shared lock (<see cref="StoreLock"/>) until disposed: gc waits for (refuses to run beside)
    /// every holder. Runs, status and why take it themselves; take it around other reads of the store.
    /// </summary>
    public IDisposable LockShared(CancellationToken ct = default) => IsReadOnly ? StoreLock.SharedIfPresent(Root, ct) : StoreLock.Shared(Root, ct);

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

    /// <summary>What <see cref="CollectGarbage(GcOptions?)"/> deleted and what it kept back.</summary>
    public sealed record GcResult(int ObjectsDeleted, long BytesFreed, int CacheEntriesDeleted, int TempDirsDeleted)
    {
        /// <summary>Leftover <c>*.tmp-PID-*</c> files of processes that no longer exist.</summary>
        public int TempFilesDeleted { get; init; }
        /// <summary>Unreferenced objects kept because they were written within the grace period.</summary>
        public int KeptRecent { get; init; }
        /// <summary>Unreferenced objects kept because a running process has pinned them.</summary>
        public int KeptInFlight { get; init; }
    }

    /// <summary>
    /// Deletes objects that no pipeline's lock references (older results kept only in the run cache), the cache
    /// entries that point at them, quarantined files, abandoned temp dirs and temp files of dead processes. Record
    /// memos are kept. Holds the store exclusively (<see cref="StoreBusyException"/> while any run, status, show or
    /// why is using it); never deletes an object written within <see cref="GcOptions.Grace"/> before it started
    /// or pinned by a live run; deletes nothing at all when any lock, cache entry or run record is unreadable.
    /// </summary>
    public GcResult CollectGarbage(GcOptions? options = null)
    {
        ThrowIfReadOnly("collect garbage");
        using var exclusive = StoreLock.Exclusive(Root, "gc");
        return new GarbageCollector(this, options ?? new GcOptions()).Run();
    }

    internal string CacheDir => Path.Combine(Root, "cache");
    internal string PipelinesDir => Path.Combine(Root, "pipelines");
    internal static bool ProcessIsAlive(int pid) => IsAlive(pid);
    internal string MetaPathOf(string hash) => MetaPath(hash);
}

/// <summary>A run's in-flight record (<c>inflight/RUNID.json</c>): the run has not written its manifest yet.</summary>
public sealed record InflightRunInfo(string RunId, string Pipeline, int Pid, DateTime StartedUtc, int PinnedArtifacts, bool ProcessAlive);

/// <summary>Options of <see cref="ArtifactStore.CollectGarbage(GcOptions?)"/>.</summary>
public sealed record GcOptions
{
    /// <summary>The default grace period: an hour, like git's protection of fresh loose objects (shorter, for big artifacts).</summary>
    public static readonly TimeSpan DefaultGrace = TimeSpan.FromHours(1);

    /// <summary>Unreferenced objects written (or re-committed) less than this long before gc started are kept.</summary>
    public TimeSpan Grace { get; init; } = DefaultGrace;
}
