using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Unicode;

namespace IwSft.Stages.Ingest;

/// <summary>
/// Streams an RFC 4180 CSV file with a header line: fields separated by commas, records by CRLF or LF,
/// fields optionally in double quotes, where a quoted field may contain commas, line breaks and doubled
/// quotes (""). A record is reported at the physical line where it starts. The parser works on bytes
/// (all delimiters are ASCII, so UTF-8 text passes through) and checks each field's UTF-8.
/// Empty fields are null (as pandas reads them). Bad records: a field count different from the header,
/// a quote inside an unquoted field, text after a closing quote, an unterminated quote, a record over
/// the size limit, invalid UTF-8. After a bad record, reading resumes at the next line break outside quotes:
/// the rest of the record is still scanned for quoted fields (a quote opening a field starts one, a stray quote
/// inside an unquoted field does not), so text inside a quoted field is never read as a record of its own; a
/// quoted span that never closes makes the rest of the file part of the bad record.
/// </summary>
public sealed class CsvSourceReader(string path, int maxRecordBytes)
{
    public long BlankLines { get; private set; }

    public async IAsyncEnumerable<RawRow> ReadAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var input = new ByteInput(stream);
        string[]? header = null;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var parsed = await ReadRecordAsync(input, ct);
            if (parsed is null) yield break;
            var (line, fields, raw, error, errorField, endLine) = parsed.Value;
            if (error is null && fields.Count == 1 && fields[0].Bytes.Length == 0 && !fields[0].Quoted)
            {
                BlankLines++;
                continue;
            }
            string? column = errorField is { } f && header != null && f < header.Length ? header[f] : null;
            if (error != null)
            {
                if (header is null) throw new InvalidDataException($"{path}, line {line}: unreadable CSV header: {error}");
                if (endLine > line) error += $" (the bad record, with its quoted text, runs to line {endLine})";
                yield return new BadRow(path, line, column, error, BadRow.Clip(JsonlSourceReader.Lossy(raw)));
                continue;
            }
            if (header is null)
            {
                header = new string[fields.Count];
                for (int i = 0; i < fields.Count; i++)
                {
                    if (!Utf8.IsValid(fields[i].Bytes)) throw new InvalidDataException($"{path}, line {line}: invalid UTF-8 in header field {i + 1}");
                    header[i] = Encoding.UTF8.GetString(fields[i].Bytes);
                }
                var dup = header.GroupBy(h => h).FirstOrDefault(g => g.Count() > 1);
                if (dup != null) throw new InvalidDataException($"{path}, line {line}: CSV header names column '{dup.Key}' twice");
                continue;
            }
            yield return ToRecord(header, line, fields, raw);
        }
    }

    RawRow ToRecord(string[] header, long line, List<Field> fields, byte[] raw)
    {
        if (fields.Count != header.Length)
            return new BadRow(path, line, null, $"expected {header.Length} fields (as in the header), got {fields.Count}", BadRow.Clip(JsonlSourceReader.Lossy(raw)));
        var values = new List<KeyValuePair<string, RawValue>>(fields.Count);
        for (int i = 0; i < fields.Count; i++)
        {
            var bytes = fields[i].Bytes;
            if (!Utf8.IsValid(bytes))
                return new BadRow(path, line, header[i], $"invalid UTF-8 at byte {JsonlSourceReader.FirstInvalidUtf8(bytes) + 1} of the field", BadRow.Clip(JsonlSourceReader.Lossy(raw)));
            values.Add(new(header[i], bytes.Length == 0 ? RawValue.Null : RawValue.Str(Encoding.UTF8.GetString(bytes))));
        }
        return new RawRecord(path, line, values, () => JsonlSourceReader.Lossy(raw));
    }

    readonly record struct Field(byte[] Bytes, bool Quoted);

    /// <summary>
    /// Reads one record; null at end of file. On a syntax error, skips to the next line break outside quotes
    /// (still tracking quoted fields, see the class summary); <c>EndLine</c> is the line the record ended on.
    /// </summary>
    async ValueTask<(long Line, List<Field> Fields, byte[] Raw, string? Error, int? ErrorField, long EndLine)?> ReadRecordAsync(ByteInput input, CancellationToken ct)
    {
        if (await input.PeekAsync(ct) < 0) return null;
        long startLine = input.Line;
        var fields = new List<Field>();
        var field = new List<byte>();
        var raw = new List<byte>();
        bool quoted = false, closedQuote = false;
        bool fieldStart = true, atNewline = false; // after an error: the next byte starts a field, so a quote there opens quoted text
        string? error = null;
        int? errorField = null;

        void Fail(string message)
        {
            if (error != null) return;
            error = message;
            errorField = fields.Count;
            fieldStart = false;
        }

        while (true)
        {
            int b = await input.ReadAsync(ct);
            if (b < 0)
            {
                if (error is null && quoted) Fail("unterminated quoted field (a \" opened and never closed before end of file)");
                else if (error != null && quoted) error += "; a quoted field in it never closes, so the rest of the file belongs to it";
                if (error is null) fields.Add(new Field(field.ToArray(), closedQuote));
                break;
            }
            if (raw.Count < maxRecordBytes) raw.Add((byte)b);
            else if (error is null)
            {
                bool atFieldStart = !quoted && field.Count == 0 && !closedQuote;
                Fail($"record longer than the limit of {maxRecordBytes} bytes (max_line_bytes)");
                errorField = null;
                fieldStart = atFieldStart;
            }
            if (error != null)
            {
                // Skip the rest of the bad record up to a line break outside quoted text.
                if (quoted)
                {
                    if (b == '"')
                    {
                        if (await input.PeekAsync(ct) == '"') { await input.ReadAsync(ct); if (raw.Count < maxRecordBytes) raw.Add((byte)'"'); }
                        else quoted = false;
                    }
                    continue;
                }
                if (b == '\n') { atNewline = true; break; }
                if (b == '"' && fieldStart) quoted = true;
                fieldStart = b == ',' || (b == '\r' && fieldStart);
                continue;
            }
            if (quoted)
            {
                if (b == '"')
                {
                    int next = await input.PeekAsync(ct);
                    if (next == '"') { await input.ReadAsync(ct); raw.Add((byte)'"'); field.Add((byte)'"'); continue; }
                    if (next is ',' or '\n' or '\r' or -1) { quoted = false; closedQuote = true; continue; }
                    quoted = false; // the quote closed the field; what follows it is the error
                    Fail($"unexpected character '{(char)next}' after a closing quote");
                    continue;
                }
                field.Add((byte)b);
                continue;
            }
            if (b == ',') { fields.Add(new Field(field.ToArray(), closedQuote)); field.Clear(); closedQuote = false; continue; }
            if (b == '\r' && await input.PeekAsync(ct) == '\n') continue;
            if (b == '\n') { fields.Add(new Field(field.ToArray(), closedQuote)); atNewline = true; break; }
            if (b == '"')
            {
                if (field.Count == 0 && !closedQuote) { quoted = true; continue; }
                Fail("a double quote inside an unquoted field (RFC 4180 requires the whole field in quotes, with \"\" for a quote)");
                continue;
            }
            if (closedQuote) { Fail($"unexpected character '{(char)b}' after a closing quote"); continue; }
            field.Add((byte)b);
        }
        long endLine = input.Line - (atNewline ? 1 : 0);
        return (startLine, fields, raw.ToArray(), error, errorField, endLine);
    }

    /// <summary>Buffered byte input that counts physical lines.</summary>
    sealed class ByteInput(Stream stream)
    {
        readonly byte[] _buffer = new byte[1 << 16];
        int _pos, _len;
        public long Line { get; private set; } = 1;

        public async ValueTask<int> PeekAsync(CancellationToken ct)
        {
            if (_pos == _len && !await FillAsync(ct)) return -1;
            return _buffer[_pos];
        }

        public async ValueTask<int> ReadAsync(CancellationToken ct)
        {
            if (_pos == _len && !await FillAsync(ct)) return -1;
            byte b = _buffer[_pos++];
            if (b == '\n') Line++;
            return b;
        }

        bool _started;

        async ValueTask<bool> FillAsync(CancellationToken ct)
        {
            _len = await stream.ReadAsync(_buffer, ct);
            _pos = 0;
            if (!_started)
            {
                _started = true;
                if (_len >= 3 && _buffer[0] == 0xEF && _buffer[1] == 0xBB && _buffer[2] == 0xBF) _pos = 3; // UTF-8 BOM
            }
            return _len > _pos;
        }
    }
}
