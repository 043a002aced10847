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
    public long Count { get { lock (_entries) return _entries.Count; } }
    /// <summary>Lines that could not be parsed when loading (a torn tail).</summary>
    public int DiscardedLines { get; }

    /// <param name="ignoreExisting">Read no earlier record (<c>--force-records</c>): every record is recomputed and
    /// appended; the log is kept, and since later lines win when it is loaded, the new values replace the old.</param>
    public RecordMemo(string path, bool ignoreExisting = false)
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
        if (ignoreExisting) _entries.Clear();
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

    public async Task PutAsync(string recordKey, string value, CancellationToken cancellationToken = default)
    {
        var line = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new[] { recordKey, value }) + "\n");
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await _log.WriteAsync(line, CancellationToken.None);
            _log.Flush(flushToDisk: true);
            lock (_entries) _entries[recordKey] = value;
        }
        finally { _gate.Release(); }
    }

    public void Dispose() { _log.Dispose(); _gate.Dispose(); }
}
