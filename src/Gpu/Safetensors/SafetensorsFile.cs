using System.IO.MemoryMappedFiles;
using System.Text.Json;
using TorchSharp;

namespace IwSft.Gpu.Safetensors;

/// <summary>One tensor's entry in a safetensors header; offsets are relative to the data section.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ByteLength => End - Begin;
}

/// <summary>A malformed or unreadable safetensors file; the message names the file and, where known, the tensor.</summary>
public sealed class SafetensorsFormatException(string message) : Exception(message);

/// <summary>
/// A validated, memory-mapped safetensors file. The header is checked completely on open (length
/// bound, JSON shape, dtype, shape × element size = byte range with overflow-checked arithmetic,
/// ranges inside the data section and non-overlapping), so reading a tensor afterwards cannot run
/// outside the file. Tensor bytes are copied straight from the mapping: the file is never read whole.
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Headers larger than this are refused (the reference implementation uses the same bound).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    readonly long _dataStart;
    readonly Dictionary<string, SafetensorsEntry> _entries;

    public string Path { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }
    public IReadOnlyList<SafetensorsEntry> Entries { get; }

    SafetensorsFile(string path, MemoryMappedFile? map, MemoryMappedViewAccessor? view, long dataStart,
        List<SafetensorsEntry> entries, Dictionary<string, string> metadata)
    {
        Path = path; _map = map; _view = view; _dataStart = dataStart;
        Entries = entries;
        _entries = entries.ToDictionary(e => e.Name);
        Metadata = metadata;
    }

    public static SafetensorsFile Open(string path)
    {
        RefusePickle(path);
        if (!File.Exists(path)) throw new FileNotFoundException($"safetensors file not found: {path}", path);
        long fileLength = new FileInfo(path).Length;
        if (fileLength < 8) throw Bad(path, $"file is {fileLength} bytes, too short for the 8-byte header length");

        byte[] headerBytes;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            Span<byte> lenBytes = stackalloc byte[8];
            fs.ReadExactly(lenBytes);
            ulong headerLen = BitConverter.ToUInt64(lenBytes);
            if (headerLen > MaxHeaderBytes) throw Bad(path, $"header length {headerLen} exceeds the {MaxHeaderBytes}-byte limit");
            if ((long)headerLen > fileLength - 8) throw Bad(path, $"header length {headerLen} runs past the end of the {fileLength}-byte file (truncated?)");
            headerBytes = new byte[headerLen];
            fs.ReadExactly(headerBytes);
        }
        long dataStart = 8 + headerBytes.Length;
        long dataLength = fileLength - dataStart;
        var (entries, metadata) = ParseHeader(path, headerBytes, dataLength);

        MemoryMappedFile? map = null;
        MemoryMappedViewAccessor? view = null;
        if (fileLength > 0)
        {
            map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, capacity: 0, MemoryMappedFileAccess.Read);
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        }
        return new SafetensorsFile(path, map, view, dataStart, entries, metadata);
    }

    /// <summary>Pickle-based checkpoints can execute code on load; they are refused outright.</summary>
    public static void RefusePickle(string path)
    {
        var ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (ext is ".bin" or ".pt" or ".pth" or ".pkl" or ".ckpt")
            throw new NotSupportedException($"{path}: pickled checkpoints ({ext}) are not loaded because unpickling can run arbitrary code; convert the checkpoint to safetensors first");
    }

    internal static (List<SafetensorsEntry>, Dictionary<string, string>) ParseHeader(string path, byte[] header, long dataLength)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(header); }
        catch (JsonException e) { throw Bad(path, $"header is not valid JSON: {e.Message}"); }
        using var _ = doc;
        if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(path, "header JSON is not an object");

        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string>();
        var seen = new HashSet<string>();
        foreach (var prop in doc.RootElement.EnumerateObject())
        {
            if (!seen.Add(prop.Name)) throw Bad(path, $"tensor '{prop.Name}' appears twice in the header");
            if (prop.Name == "__metadata__")
            {
                if (prop.Value.ValueKind != JsonValueKind.Object) throw Bad(path, "__metadata__ is not an object");
                foreach (var m in prop.Value.EnumerateObject())
                {
                    if (m.Value.ValueKind != JsonValueKind.String) throw Bad(path, $"__metadata__ value '{m.Name}' is not a string");
                    metadata[m.Name] = m.Value.GetString()!;
                }
                continue;
            }
            entries.Add(ParseEntry(path, prop.Name, prop.Value, dataLength));
        }

        // Ranges must not overlap: sort by start and compare neighbours.
        var sorted = entries.Where(e => e.ByteLength > 0).OrderBy(e => e.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
            if (sorted[i].Begin < sorted[i - 1].End)
                throw Bad(path, $"tensor '{sorted[i].Name}' bytes [{sorted[i].Begin}, {sorted[i].End}) overlap tensor '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End})");
        return (entries, metadata);
    }

    static SafetensorsEntry ParseEntry(string path, string name, JsonElement e, long dataLength)
    {
        SafetensorsFormatException BadT(string what) => Bad(path, $"tensor '{name}': {what}");
        if (e.ValueKind != JsonValueKind.Object) throw BadT("entry is not an object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String) throw BadT("missing string field 'dtype'");
        string dtype = dt.GetString()!;
        if (!SafetensorsDType.TryParse(dtype, out _, out int elementBytes)) throw BadT($"unsupported dtype '{dtype}'");
        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array) throw BadT("missing array field 'shape'");
        if (sh.GetArrayLength() > 64) throw BadT($"shape has {sh.GetArrayLength()} dimensions");
        var shape = new long[sh.GetArrayLength()];
        long numel = 1;
        int d = 0;
        foreach (var dim in sh.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long v) || v < 0) throw BadT($"shape entry {d} is not a non-negative integer");
            shape[d++] = v;
            try { numel = checked(numel * v); }
            catch (OverflowException) { throw BadT($"shape [{string.Join(", ", shape.Take(d))}...] overflows the element count"); }
        }
        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw BadT("missing field 'data_offsets' of two integers");
        var offs = off.EnumerateArray().ToArray();
        if (!offs[0].TryGetInt64(out long begin) || !offs[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw BadT("data_offsets must be two non-negative integers with begin <= end");
        if (end > dataLength) throw BadT($"data_offsets [{begin}, {end}) run past the {dataLength}-byte data section (truncated file?)");
        long expected;
        try { expected = checked(numel * elementBytes); }
        catch (OverflowException) { throw BadT($"shape [{string.Join(", ", shape)}] is too large for dtype {dtype}"); }
        if (expected != end - begin)
            throw BadT($"shape [{string.Join(", ", shape)}] of {dtype} needs {expected} bytes but data_offsets give {end - begin}");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    static SafetensorsFormatException Bad(string path, string what) => new($"{path}: invalid safetensors file: {what}");

    public bool Contains(string name) => _entries.ContainsKey(name);

    public SafetensorsEntry Entry(string name) =>
        _entries.TryGetValue(name, out var e) ? e : throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>Copies one tensor into a new CPU tensor of the stored dtype and shape.</summary>
    public unsafe torch.Tensor Read(string name)
    {
        var e = Entry(name);
        SafetensorsDType.TryParse(e.DType, out var type, out _);
        var t = torch.empty(e.Shape, type);
        if (e.ByteLength == 0) return t;
        if (e.ByteLength > int.MaxValue) throw new NotSupportedException($"{Path}: tensor '{name}' is {e.ByteLength} bytes; tensors over 2 GiB are not supported");
        byte* basePtr = null;
        _view!.SafeMemoryMappedViewHandle.AcquirePointer(ref basePtr);
        try
        {
            // The bytes setter copies into the tensor's own storage.
            t.bytes = new Span<byte>(basePtr + _view.PointerOffset + _dataStart + e.Begin, (int)e.ByteLength);
        }
        finally { _view.SafeMemoryMappedViewHandle.ReleasePointer(); }
        return t;
    }

    public void Dispose()
    {
        _view?.Dispose();
        _map?.Dispose();
    }
}
