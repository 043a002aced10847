using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace IwSft.Stages.Ingest;

/// <summary>A record mapped onto the output columns.</summary>
public sealed record MappedRecord(
    string Id, string Question, string? Solution, string? Answer, string? Trace, string? Attempt,
    string? Domain, string? ItemId, IReadOnlyList<string>? Choices, string? Metadata);

/// <summary>
/// Maps a source record onto output columns per an <see cref="IngestSource"/>: checks the required
/// question (present, a string, not blank) and the types of mapped fields, computes the id, and collects
/// unmapped fields into metadata JSON. Problems come back as a <see cref="BadRow"/> naming the field.
/// </summary>
public static class RecordMapper
{
    /// <summary>The s1 record id: the first 16 hex characters (lower case) of sha256 over the UTF-8 question.</summary>
    public static string RecordId(string question)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(question), hash);
        return Convert.ToHexStringLower(hash[..8]);
    }

    public static RawRow Map(RawRecord record, IngestSource source, IngestMode mode, long recordNumber, out MappedRecord? mapped)
    {
        mapped = null;
        if (!record.TryGet(source.Question, out var q))
            return Bad(record, source.Question, $"missing required field '{source.Question}' (the question; fields present: {string.Join(", ", record.Fields.Select(f => f.Key))})");
        if (q.Kind == RawKind.Null) return Bad(record, source.Question, "required field is null");
        if (q.Kind != RawKind.String) return Bad(record, source.Question, $"wrong type: expected string, got {RawValue.KindName(q.Kind)}");
        if (string.IsNullOrWhiteSpace(q.Text)) return Bad(record, source.Question, "required field is empty");

        var used = new HashSet<string>(StringComparer.Ordinal) { source.Question };
        string? error = null, errorField = null;
        string? Text(string field, bool numbersAllowed)
        {
            if (string.IsNullOrEmpty(field) || !record.TryGet(field, out var v)) return null;
            used.Add(field);
            switch (v.Kind)
            {
                case RawKind.Null: return null;
                case RawKind.String: return v.Text;
                case RawKind.Number or RawKind.Bool when numbersAllowed: return v.Text;
                default:
                    if (error is null) { error = $"wrong type: expected string, got {RawValue.KindName(v.Kind)}"; errorField = field; }
                    return null;
            }
        }

        var solution = Text(source.Solution, false);
        var answer = Text(source.Answer, true);
        var trace = Text(source.Trace, false);
        var attempt = Text(source.Attempt, true);
        var domain = Text(source.Domain, true);
        string? itemId = null;
        List<string>? choices = null;
        if (mode == IngestMode.Benchmark)
        {
            if (string.IsNullOrEmpty(source.ItemId)) itemId = recordNumber.ToString(System.Globalization.CultureInfo.InvariantCulture);
            else
            {
                if (!record.TryGet(source.ItemId, out _)) return Bad(record, source.ItemId, $"missing item id field '{source.ItemId}'");
                itemId = Text(source.ItemId, true);
                if (error is null && itemId is null) return Bad(record, source.ItemId, "item id is null");
            }
            choices = Choices(record, source, used, ref error, ref errorField);
        }
        if (error != null) return Bad(record, errorField, error);

        string? metadata = null;
        if (source.ExtraFieldsToMetadata)
        {
            var extra = record.Fields.Where(f => !used.Contains(f.Key)).ToList();
            if (extra.Count > 0) metadata = MetadataJson(extra);
        }
        mapped = new MappedRecord(RecordId(q.Text!), q.Text!, solution, answer, trace, attempt, domain, itemId, choices, metadata);
        return record;
    }

    static List<string>? Choices(RawRecord record, IngestSource source, HashSet<string> used, ref string? error, ref string? errorField)
    {
        if (source.Choices.Count == 0) return null;
        if (source.Choices.Count == 1)
        {
            var field = source.Choices[0];
            if (!record.TryGet(field, out var v) || v.Kind == RawKind.Null) return null;
            used.Add(field);
            if (v.Kind == RawKind.Array && v.Strings != null) return v.Strings.ToList();
            if (v.Kind == RawKind.String) return [v.Text!];
            error ??= $"wrong type: expected an array of strings, got {RawValue.KindName(v.Kind)}";
            errorField ??= field;
            return null;
        }
        var list = new List<string>();
        foreach (var field in source.Choices)
        {
            if (!record.TryGet(field, out var v)) { error ??= $"missing choice field '{field}'"; errorField ??= field; return null; }
            used.Add(field);
            if (v.Kind is RawKind.String or RawKind.Number) list.Add(v.Text!);
            else if (v.Kind != RawKind.Null) { error ??= $"wrong type: expected string, got {RawValue.KindName(v.Kind)}"; errorField ??= field; return null; }
        }
        return list;
    }

    static string MetadataJson(List<KeyValuePair<string, RawValue>> fields)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            foreach (var (name, v) in fields)
            {
                w.WritePropertyName(name);
                switch (v.Kind)
                {
                    case RawKind.Null: w.WriteNullValue(); break;
                    case RawKind.String: w.WriteStringValue(v.Text); break;
                    default: w.WriteRawValue(v.Text!, skipInputValidation: false); break;
                }
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    static BadRow Bad(RawRecord r, string? column, string reason) => new(r.File, r.Line, column, reason, BadRow.Clip(r.RawText()));
}
