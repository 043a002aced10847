using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace IwSft.Stages.Ingest;

/// <summary>
/// Streams a JSON Lines file: one JSON object per line, read in 64 KiB chunks so a file of any size
/// needs memory for one line only. Blank lines are not records (counted, not reported). Each line is
/// checked for the size limit, valid UTF-8, JSON syntax, being an object and having no key twice in any
/// object (the column names the key); failures become <see cref="BadRow"/>s with the 1-based line number.
/// </summary>
public sealed class JsonlSourceReader(string path, int maxLineBytes)
{
    public long BlankLines { get; private set; }

    public async IAsyncEnumerable<RawRow> ReadAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var chunk = new byte[1 << 16];
        var line = new byte[4096];
        int lineLength = 0;
        bool oversized = false;
        long lineNumber = 1;
        bool atFileStart = true;
        int read;
        while ((read = await stream.ReadAsync(chunk, ct)) > 0)
        {
            int start = 0;
            if (atFileStart)
            {
                atFileStart = false;
                if (read >= 3 && chunk[0] == 0xEF && chunk[1] == 0xBB && chunk[2] == 0xBF) start = 3; // UTF-8 BOM
            }
            while (start < read)
            {
                int nl = Array.IndexOf(chunk, (byte)'\n', start, read - start);
                int end = nl < 0 ? read : nl;
                Append(chunk.AsSpan(start, end - start));
                if (nl < 0) break;
                var row = Finish();
                if (row != null) yield return row;
                start = nl + 1;
            }
        }
        if (lineLength > 0 || oversized)
        {
            var last = Finish();
            if (last != null) yield return last;
        }

        void Append(ReadOnlySpan<byte> bytes)
        {
            if (oversized) return;
            if ((long)lineLength + bytes.Length > maxLineBytes)
            {
                // keep a prefix for the report, drop the rest of the line
                int room = Math.Min(line.Length, BadRow.MaxRawChars) - lineLength;
                if (room > 0) { bytes[..Math.Min(room, bytes.Length)].CopyTo(line.AsSpan(lineLength)); lineLength += Math.Min(room, bytes.Length); }
                oversized = true;
                return;
            }
            if (lineLength + bytes.Length > line.Length)
                Array.Resize(ref line, Math.Max(line.Length * 2, lineLength + bytes.Length));
            bytes.CopyTo(line.AsSpan(lineLength));
            lineLength += bytes.Length;
        }

        RawRow? Finish()
        {
            long number = lineNumber++;
            var span = line.AsSpan(0, lineLength);
            if (span.Length > 0 && span[^1] == (byte)'\r') span = span[..^1];
            RawRow? row;
            if (oversized)
                row = new BadRow(path, number, null, $"line longer than the limit of {maxLineBytes} bytes (max_line_bytes)", BadRow.Clip(Lossy(span)));
            else if (IsBlank(span)) { BlankLines++; row = null; }
            else row = Parse(span.ToArray(), number);
            lineLength = 0;
            oversized = false;
            return row;
        }
    }

    RawRow Parse(byte[] bytes, long number)
    {
        if (!Utf8.IsValid(bytes))
        {
            int bad = FirstInvalidUtf8(bytes);
            return new BadRow(path, number, null, $"invalid UTF-8 at byte {bad + 1} of the line", BadRow.Clip(Lossy(bytes)));
        }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(bytes); }
        catch (JsonException e)
        {
            return new BadRow(path, number, null, $"malformed JSON: {e.Message}", BadRow.Clip(Encoding.UTF8.GetString(bytes)));
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                return new BadRow(path, number, null, $"expected a JSON object, got {doc.RootElement.ValueKind.ToString().ToLowerInvariant()}", BadRow.Clip(Encoding.UTF8.GetString(bytes)));
            if (DuplicateKey(doc.RootElement, "") is { } dup)
                return new BadRow(path, number, dup, $"duplicate key '{dup}' in the JSON object (which value is meant is ambiguous; JSON parsers disagree)", BadRow.Clip(Encoding.UTF8.GetString(bytes)));
            var fields = new List<KeyValuePair<string, RawValue>>();
            foreach (var p in doc.RootElement.EnumerateObject())
                fields.Add(new(p.Name, ToRaw(p.Value)));
            return new RawRecord(path, number, fields, () => Encoding.UTF8.GetString(bytes));
        }
    }

    /// <summary>The dotted path of the first key that appears twice in one object, at any depth; null when there is none.</summary>
    internal static string? DuplicateKey(JsonElement e, string prefix)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                HashSet<string>? seen = null;
                foreach (var p in e.EnumerateObject())
                {
                    seen ??= new HashSet<string>(StringComparer.Ordinal);
                    if (!seen.Add(p.Name)) return prefix + p.Name;
                    if (p.Value.ValueKind is JsonValueKind.Object or JsonValueKind.Array && DuplicateKey(p.Value, prefix + p.Name + ".") is { } inner) return inner;
                }
                return null;
            case JsonValueKind.Array:
                int i = 0;
                foreach (var x in e.EnumerateArray())
                {
                    if (x.ValueKind is JsonValueKind.Object or JsonValueKind.Array && DuplicateKey(x, $"{prefix.TrimEnd('.')}[{i}].") is { } inner) return inner;
                    i++;
                }
                return null;
            default:
                return null;
        }
    }

    internal static RawValue ToRaw(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => RawValue.Str(e.GetString()!),
        JsonValueKind.Number => new RawValue(RawKind.Number, e.GetRawText()),
        JsonValueKind.True => new RawValue(RawKind.Bool, "true"),
        JsonValueKind.False => new RawValue(RawKind.Bool, "false"),
        JsonValueKind.Null => RawValue.Null,
        JsonValueKind.Array => new RawValue(RawKind.Array, e.GetRawText(),
            e.EnumerateArray().All(x => x.ValueKind == JsonValueKind.String) ? e.EnumerateArray().Select(x => x.GetString()!).ToList() : null,
            ChatTurns(e)),
        _ => new RawValue(RawKind.Object, e.GetRawText()),
    };

    /// <summary>
    /// The turns of an array of chat messages: every element an object whose <c>role</c> and <c>content</c> are strings
    /// (or null); other keys are ignored. Null for any other array (an empty array has no turns, and is not a chat).
    /// </summary>
    static List<ChatTurn>? ChatTurns(JsonElement array)
    {
        var turns = new List<ChatTurn>();
        foreach (var x in array.EnumerateArray())
        {
            if (x.ValueKind != JsonValueKind.Object) return null;
            string? role = null, content = null;
            bool hasRole = false, hasContent = false;
            foreach (var p in x.EnumerateObject())
            {
                if (p.Name is not ("role" or "content")) continue;
                if (p.Value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null)) return null;
                if (p.Name == "role") { hasRole = true; role = p.Value.GetString(); }
                else { hasContent = true; content = p.Value.GetString(); }
            }
            if (!hasRole || !hasContent) return null;
            turns.Add(new ChatTurn(role, content));
        }
        return turns.Count > 0 ? turns : null;
    }

    static bool IsBlank(ReadOnlySpan<byte> s)
    {
        foreach (var b in s) if (b != ' ' && b != '\t' && b != '\r') return false;
        return true;
    }

    internal static string Lossy(ReadOnlySpan<byte> bytes) => Encoding.UTF8.GetString(bytes); // invalid sequences become U+FFFD

    internal static int FirstInvalidUtf8(ReadOnlySpan<byte> bytes)
    {
        var status = Utf8.ToUtf16(bytes, new char[bytes.Length], out int consumed, out _, replaceInvalidSequences: false);
        return status == System.Buffers.OperationStatus.Done ? -1 : consumed;
    }
}
