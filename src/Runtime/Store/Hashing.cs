using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Runtime.Store;

/// <summary>sha256 helpers and canonical JSON (object keys sorted, no whitespace) for cache keys.</summary>
public static class Hashing
{
    public static string Sha256Hex(ReadOnlySpan<byte> data) => Convert.ToHexStringLower(SHA256.HashData(data));
    public static string Sha256Hex(string text) => Sha256Hex(Encoding.UTF8.GetBytes(text));

    /// <summary>
    /// True for exactly 64 lowercase hex characters: the only strings the store turns into paths. Every hash
    /// read from disk (lock files, cache entries, run records, object sidecars) is checked with this first, so a
    /// damaged or hostile file cannot name a path outside the store (e.g. <c>../../tmp/x</c>).
    /// </summary>
    public static bool IsHash(string? s)
    {
        if (s is null || s.Length != 64) return false;
        foreach (char c in s)
            if (c is not (>= '0' and <= '9' or >= 'a' and <= 'f')) return false;
        return true;
    }

    /// <summary>A hash as a short, printable quote for error messages (whatever it holds).</summary>
    internal static string Quote(string? s) =>
        s is null ? "null" : System.Text.Json.JsonSerializer.Serialize(s.Length > 80 ? s[..80] + "..." : s);

    /// <summary>sha256 of a regular file; a FIFO, device or socket is refused (it could block or never end).</summary>
    public static string HashFile(string path)
    {
        FileKinds.RequireRegular(path);
        using var s = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan);
        return Convert.ToHexStringLower(SHA256.HashData(s));
    }

    /// <summary>
    /// Content hash of a directory tree: sha256 over the sorted relative paths (with '/') and each file's hash,
    /// so renaming a file or changing a byte changes the hash; timestamps do not.
    /// </summary>
    public static string HashDirectory(string dir) => HashDirectory(dir, HashFile);

    /// <summary><see cref="HashDirectory(string)"/> with the per-file hash supplied (e.g. remembered by size and mtime).</summary>
    internal static string HashDirectory(string dir, Func<string, string> hashFile)
    {
        if (!Directory.Exists(dir)) throw new DirectoryNotFoundException($"directory '{dir}' does not exist");
        var sb = new StringBuilder();
        foreach (var (rel, full) in ListFiles(dir))
            sb.Append(rel).Append('\0').Append(hashFile(full)).Append('\n');
        return Sha256Hex("dir\n" + sb);
    }

    /// <summary>A file's sha256 or a directory's <see cref="HashDirectory(string)"/>.</summary>
    public static string HashPath(string path) => Directory.Exists(path) ? HashDirectory(path) : HashFile(path);

    internal static IEnumerable<(string rel, string full)> ListFiles(string dir) =>
        Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Select(f => (rel: Path.GetRelativePath(dir, f).Replace('\\', '/'), full: f))
            .OrderBy(x => x.rel, StringComparer.Ordinal);

    /// <summary>Canonical JSON: object properties sorted ordinally at every depth, compact.</summary>
    public static string Canonical(JsonNode? node)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) WriteCanonical(w, node);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static void WriteCanonical(Utf8JsonWriter w, JsonNode? node)
    {
        switch (node)
        {
            case null: w.WriteNullValue(); break;
            case JsonObject o:
                w.WriteStartObject();
                foreach (var kv in o.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    w.WritePropertyName(kv.Key);
                    WriteCanonical(w, kv.Value);
                }
                w.WriteEndObject();
                break;
            case JsonArray a:
                w.WriteStartArray();
                foreach (var x in a) WriteCanonical(w, x);
                w.WriteEndArray();
                break;
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number: WriteCanonicalNumber(w, v); break;
            default: node.WriteTo(w); break;
        }
    }

    /// <summary>
    /// One spelling per number, so 1e-5, 1E-05 and 0.00001 (or 2, 2.0 and 2e0) are one key: integers that fit
    /// in a long as integers, everything else as the shortest text that round-trips the double.
    /// </summary>
    static void WriteCanonicalNumber(Utf8JsonWriter w, JsonValue v)
    {
        var text = v.ToJsonString();
        if (long.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var l)) { w.WriteNumberValue(l); return; }
        var d = double.Parse(text, System.Globalization.CultureInfo.InvariantCulture);
        if (Math.Abs(d) < 9.007199254740992e15 && d == Math.Floor(d)) w.WriteNumberValue((long)d);
        else w.WriteNumberValue(d);
    }
}
