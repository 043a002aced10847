using System.Text;
using System.Text.Json;

namespace IwSft.Runtime.Store;

/// <summary>
/// Append-only, fsync'd log of per-record results: one JSON line <c>["key","value"]</c> per record.
/// Loaded fully when opened. A torn last line (a crash mid-append) is cut off on open, so only records
/// whose append had not returned are lost.
/// </summary>
internal sealed class RecordMemo : IRecordMemo, IDisposable
{
    readonly Dictionary<string, string> _entries = new(StringComparer.Ordinal);
    readonly FileStream _log;
    readonly SemaphoreSlim _gate = new(1, 1);

    public string Path { get; }
    public string Location => Path;
    public long Count { get { lock (_entries) return _entries.Count; } }
    /// <summary>Lines that could not be parsed when loading (a torn tail).</summary>
    public int DiscardedLines { get; }

    public RecordMemo(string path)
    {
        Path = path;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        // Exclusive: two runs appending to one log could interleave partial lines.
        try { _log = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException e) { throw new InvalidOperationException($"record memo {path} is in use by another run; wait for it to finish", e); }
        var bytes = new byte[_log.Length];
        _log.ReadExactly(bytes);
        int start = 0, lastGood = 0;
        for (int i = 0; i < bytes.Length; i++)
        {
            if (bytes[i] != (byte)'\n') continue;
            if (TryParse(bytes.AsSpan(start, i - start), out var k, out var v)) _entries[k] = v;
            else DiscardedLines++;
            start = i + 1;
            lastGood = start;
        }
        if (lastGood < bytes.Length)
        {
            DiscardedLines++;
            _log.SetLength(lastGood); // cut the torn tail so the next append starts on a fresh line
        }
        _log.Seek(0, SeekOrigin.End);
    }

    static bool TryParse(ReadOnlySpan<byte> line, out string key, out string value)
    {
        key = value = "";
        try
        {
            var arr = JsonSerializer.Deserialize<string[]>(line);
            if (arr is not { Length: 2 }) return false;
            key = arr[0]; value = arr[1];
            return true;
        }
        catch (JsonException) { return false; }
    }

    public bool TryGet(string recordKey, out string value)
    {
        lock (_entries) return _entries.TryGetValue(recordKey, out value!);
    }

    public Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default) =>
        PutManyAsync([KeyValuePair.Create(recordKey, value)], cancellationToken);

    /// <summary>Appends every entry, then flushes to disk once; a crash mid-write loses only a torn tail.</summary>
    public async Task PutManyAsync(IReadOnlyList<KeyValuePair<string, string>> entries, CancellationToken cancellationToken = default)
    {
        if (entries.Count == 0) return;
        var text = new StringBuilder();
        foreach (var (key, value) in entries) text.Append(JsonSerializer.Serialize(new[] { key, value })).Append('\n');
        var bytes = Encoding.UTF8.GetBytes(text.ToString());
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await _log.WriteAsync(bytes, CancellationToken.None);
            _log.Flush(flushToDisk: true);
            lock (_entries) foreach (var (key, value) in entries) _entries[key] = value;
        }
        finally { _gate.Release(); }
    }

    public void Dispose() { _log.Dispose(); _gate.Dispose(); }

    // ------------------------------------------------------------------ sharing within one process

    static readonly Dictionary<string, (RecordMemo Memo, int Users)> Shared = new(StringComparer.Ordinal);

    /// <summary>
    /// Opens the memo at <paramref name="path"/> for one stage execution. Stages of one process whose memos share a
    /// namespace (two evaluate stages with the same generation settings, running side by side) share one open log;
    /// it is closed when the last of them releases it. Another process gets the "in use" error while it is open.
    /// </summary>
    /// <param name="ignoreExisting">This lease reads no earlier record (<c>--force-records</c>): every record is
    /// recomputed and appended; since later lines win when the log is loaded, the new values replace the old.</param>
    public static Lease OpenShared(string path, bool ignoreExisting = false)
    {
        var full = System.IO.Path.GetFullPath(path);
        lock (Shared)
        {
            var memo = Shared.TryGetValue(full, out var e) ? e.Memo : new RecordMemo(full);
            Shared[full] = (memo, e.Users + 1);
            return new Lease(memo, ignoreExisting);
        }
    }

    static void Release(RecordMemo memo)
    {
        lock (Shared)
        {
            var (_, users) = Shared[memo.Path];
            if (users > 1) { Shared[memo.Path] = (memo, users - 1); return; }
            Shared.Remove(memo.Path);
            memo.Dispose();
        }
    }

    /// <summary>One stage execution's use of a shared memo.</summary>
    public sealed class Lease(RecordMemo memo, bool ignoreExisting = false) : IRecordMemo, IDisposable
    {
        int _released;
        public RecordMemo Memo => memo;
        public long Count => memo.Count;
        public string Location => memo.Location;
        public bool TryGet(string recordKey, out string value)
        {
            value = "";
            return !ignoreExisting && memo.TryGet(recordKey, out value);
        }
        public Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default) => memo.PutAsync(recordKey, value, cancellationToken);
        public Task PutManyAsync(IReadOnlyList<KeyValuePair<string, string>> entries, CancellationToken cancellationToken = default) =>
            memo.PutManyAsync(entries, cancellationToken);
        public void Dispose() { if (Interlocked.Exchange(ref _released, 1) == 0) Release(memo); }
    }
}
