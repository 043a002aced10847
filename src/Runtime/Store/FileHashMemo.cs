namespace IwSft.Runtime.Store;

/// <summary>
/// Hashes of files outside the store, remembered by (path, size, mtime) so a no-op rerun does not re-read
/// big external files (the same trade-off DVC makes). Saved in the store as filehashes.json; a damaged file
/// only costs re-hashing. With <paramref name="trustStamps"/> off (<c>--verify</c>) every file is re-hashed.
/// External inputs are read-only: only regular files and directories of them are accepted.
/// </summary>
internal sealed class FileHashMemo(string path, bool trustStamps = true)
{
    sealed record Entry(long Bytes, long MtimeTicks, string Hash);

    readonly Dictionary<string, Entry> _entries = StoreJson.ReadRebuildable<Dictionary<string, Entry>>(path) ?? new();
    bool _dirty;

    public string Hash(string file)
    {
        var full = Path.GetFullPath(file);
        if (FileKinds.Irregular(full) is { } what)
            throw new InvalidDataException($"external input '{file}' is {what}, not a regular file or a directory: inputs must be regular files or directories of regular files");
        if (Directory.Exists(full)) return Hashing.HashDirectory(full, Hash); // memoised per file, the store's directory hash
        var fi = new FileInfo(full);
        if (!fi.Exists) throw new FileNotFoundException($"external input '{file}' does not exist", file);
        lock (_entries)
            if (trustStamps && _entries.TryGetValue(full, out var e) && e is not null && Hashing.IsHash(e.Hash)
                && e.Bytes == fi.Length && e.MtimeTicks == fi.LastWriteTimeUtc.Ticks)
                return e.Hash;
        var h = Hashing.HashFile(full);
        lock (_entries) { _entries[full] = new Entry(fi.Length, fi.LastWriteTimeUtc.Ticks, h); _dirty = true; }
        return h;
    }

    public void Save()
    {
        lock (_entries)
        {
            if (!_dirty) return;
            AtomicFile.WriteAllText(path, StoreJson.Serialize(_entries));
            _dirty = false;
        }
    }
}
