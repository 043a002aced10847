namespace IwSft.Runtime.Store;

/// <summary>
/// One gc pass over a store whose exclusive lock the caller holds. First everything that decides what is
/// referenced is read (every pipeline's lock, every cache entry, every in-flight run record); if any of them
/// cannot be read, nothing is deleted. Then unreferenced objects older than the grace period and not pinned by
/// a live run are deleted, with the cache entries that pointed at them, and the leftovers of dead processes.
/// Only names the store itself writes are ever deleted, and only inside the store (symbolic links are removed,
/// never followed).
/// </summary>
internal sealed class GarbageCollector(ArtifactStore store, GcOptions options)
{
    public ArtifactStore.GcResult Run()
    {
        var cutoff = DateTime.UtcNow - options.Grace;
        var problems = new List<StoreFileCorruptException>();

        var referenced = new HashSet<string>(StringComparer.Ordinal);
        if (Directory.Exists(store.PipelinesDir))
            foreach (var d in Directory.GetDirectories(store.PipelinesDir))
            {
                try
                {
                    foreach (var e in store.ReadLock(Path.GetFileName(d)).Stages.Values)
                        foreach (var o in e.Outputs.Values) referenced.Add(o.Hash);
                }
                catch (StoreFileCorruptException e) { problems.Add(e); }
            }

        var pinned = new HashSet<string>(StringComparer.Ordinal);
        var deadRecords = new List<string>();
        try
        {
            foreach (var (file, r) in InflightRun.ReadAll(store.Root))
            {
                if (ArtifactStore.ProcessIsAlive(r.Pid)) pinned.UnionWith(r.Hashes);
                else deadRecords.Add(file);
            }
        }
        catch (StoreFileCorruptException e) { problems.Add(e); }

        var entries = new List<(string File, CacheEntry Entry)>();
        if (Directory.Exists(store.CacheDir))
            foreach (var f in Directory.EnumerateFiles(store.CacheDir, "*.json", SearchOption.AllDirectories).ToList())
            {
                var key = Path.GetFileNameWithoutExtension(f);
                if (!Hashing.IsHash(key)) continue; // not a name the store writes: leave it alone
                try
                {
                    if (store.TryGetCacheEntry(key) is { } e) entries.Add((f, e));
                }
                catch (StoreFileCorruptException e) { problems.Add(e); }
            }

        if (problems.Count > 0)
            throw new StoreFileCorruptException(problems[0].File,
                problems[0].Problem + (problems.Count > 1 ? $" (and {problems.Count - 1} more unreadable store file(s): {string.Join(", ", problems.Skip(1).Take(3).Select(p => p.File))})" : ""),
                "gc deleted nothing, because it cannot tell what an unreadable file references (repair or delete it, then rerun gc)");

        // Every object of the store, by hash (its file or directory and its sidecar).
        var byHash = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        if (Directory.Exists(store.ObjectsDir))
            foreach (var sub in Directory.GetDirectories(store.ObjectsDir))
                foreach (var entry in Directory.GetFileSystemEntries(sub))
                {
                    var name = Path.GetFileName(entry);
                    int dot = name.IndexOf('.');
                    if (dot != 64 || !Hashing.IsHash(name[..64]) || name[..2] != Path.GetFileName(sub)) continue;
                    if (name[dot..] is not (".parquet" or ".dir" or ".meta.json")) continue; // temp files: below
                    (byHash.TryGetValue(name[..64], out var l) ? l : byHash[name[..64]] = new()).Add(entry);
                }

        int objects = 0, keptRecent = 0, keptInFlight = 0;
        long bytes = 0;
        var recent = byHash.Where(kv => !referenced.Contains(kv.Key) && !pinned.Contains(kv.Key) && kv.Value.Any(p => LastWrite(p) > cutoff))
            .Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        // A derived table reads its other columns from its base: whatever keeps the table keeps its base.
        var bases = new HashSet<string>(StringComparer.Ordinal);
        foreach (var hash in referenced.Concat(pinned).Concat(recent))
        {
            if (!byHash.TryGetValue(hash, out var paths) || !paths.Any(p => p.EndsWith(".parquet", StringComparison.Ordinal))) continue;
            try
            {
                if (store.DerivedBase(hash) is { } b) bases.Add(b);
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                throw new StoreFileCorruptException(store.ObjectPath(hash, ArtifactKind.Table), $"cannot read which table it is derived from: {e.Message}",
                    "gc deleted nothing, because it cannot tell whether this table needs another one (rerun its pipeline, which moves a damaged object aside, or delete the file; then rerun gc)");
            }
        }
        foreach (var (hash, paths) in byHash)
        {
            if (referenced.Contains(hash) || bases.Contains(hash)) continue;
            if (pinned.Contains(hash)) { keptInFlight++; continue; }
            if (recent.Contains(hash)) { keptRecent++; continue; }
            // The object first, its sidecar last: a crash in between leaves a sidecar without an object, which is harmless.
            foreach (var p in paths.OrderBy(p => p.EndsWith(".meta.json") ? 1 : 0))
            {
                bytes += Delete(p);
                if (!p.EndsWith(".meta.json")) objects++;
            }
        }

        int cacheDeleted = 0;
        foreach (var (file, e) in entries)
            if (e.Outputs.Values.Any(o => !Exists(o)))
            {
                File.Delete(file);
                cacheDeleted++;
            }

        if (Directory.Exists(store.QuarantineDir)) Directory.Delete(store.QuarantineDir, recursive: true);
        int tmpDirs = store.CleanAbandonedTemp();
        int tmpFiles = DeleteDeadTempFiles();
        foreach (var f in deadRecords) { try { File.Delete(f); } catch (IOException) { } }
        return new ArtifactStore.GcResult(objects, bytes, cacheDeleted, tmpDirs)
        {
            TempFilesDeleted = tmpFiles, KeptRecent = keptRecent, KeptInFlight = keptInFlight,
        };
    }

    bool Exists(ArtifactRef a)
    {
        var p = store.ObjectPath(a);
        return a.Kind == ArtifactKind.Table ? File.Exists(p) : Directory.Exists(p);
    }

    static DateTime LastWrite(string path) =>
        Directory.Exists(path) ? Directory.GetLastWriteTimeUtc(path) : File.GetLastWriteTimeUtc(path);

    /// <summary>Deletes a file, a directory tree, or just the link when it is a symbolic link; returns the bytes freed.</summary>
    static long Delete(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget != null) { File.Delete(path); return 0; }
        if (Directory.Exists(path))
        {
            long n = 0;
            foreach (var f in new DirectoryInfo(path).EnumerateFiles("*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }))
                n += f.Length;
            Directory.Delete(path, recursive: true);
            return n;
        }
        long len = info.Exists ? info.Length : 0;
        File.Delete(path);
        return len;
    }

    /// <summary>
    /// <c>NAME.tmp-PID-GUID</c> files (<see cref="AtomicFile"/>'s temporaries) whose process is gone: a run killed or
    /// out of disk space between writing and renaming. Looked for where the store writes them, not inside objects.
    /// </summary>
    int DeleteDeadTempFiles()
    {
        int n = 0;
        IEnumerable<string> Candidates()
        {
            foreach (var f in Directory.EnumerateFiles(store.Root, "*.tmp-*")) yield return f;
            foreach (var dir in new[] { store.CacheDir, store.PipelinesDir, InflightRun.DirOf(store.Root), store.MemoDir })
                if (Directory.Exists(dir))
                    foreach (var f in Directory.EnumerateFiles(dir, "*.tmp-*", SearchOption.AllDirectories)) yield return f;
            if (Directory.Exists(store.ObjectsDir))
                foreach (var sub in Directory.GetDirectories(store.ObjectsDir))
                    foreach (var f in Directory.EnumerateFiles(sub, "*.tmp-*")) yield return f;
        }
        foreach (var f in Candidates().ToList())
        {
            var name = Path.GetFileName(f);
            int at = name.LastIndexOf(".tmp-", StringComparison.Ordinal) + 5;
            int dash = name.IndexOf('-', at);
            if (dash <= at || !int.TryParse(name[at..dash], out int pid) || ArtifactStore.ProcessIsAlive(pid)) continue;
            try { File.Delete(f); n++; } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
        return n;
    }
}
