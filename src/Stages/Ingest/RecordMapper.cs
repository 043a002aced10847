using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace IwSft.Stages.Ingest;

/// <summary>A record mapped onto the output columns. <see cref="Source"/>: the source column's value, else null (the file's name).</summary>
public sealed record MappedRecord(
    string Id, string Question, string? Solution, string? Answer, string? Trace, string? Attempt,
    string? Domain, string? ItemId, IReadOnlyList<string>? Choices, string? Metadata, string? Source = null);

/// <summary>
/// Maps a source record onto output columns per an <see cref="IngestSource"/>: checks the required
/// question (present, a string, not blank) and the types of mapped fields, computes the id, and collects
/// unmapped fields into metadata JSON. Problems come back as a <see cref="BadRow"/> naming the field.
/// <para>
/// Nested values: a <c>trace</c> given as an array of strings (s1's <c>thinking_trajectories</c>) is joined with
/// "\n", as s1's <c>data/tokenization.py</c> (<c>process_cot_example</c>) joins it before formatting; a chat field
/// (<see cref="IngestSource.Messages"/>) fills question, trace and attempt where their own columns are null.
/// </para>
/// </summary>
public static class RecordMapper
{
    /// <summary>Joins the pieces of a list-valued trace (s1: <c>"\n".join(thinking_trajectories)</c>).</summary>
    public const string TraceJoin = "\n";

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
        var used = new HashSet<string>(StringComparer.Ordinal) { source.Question };

        // The chat field first: it only fills what the named columns leave null.
        ChatFields? chat = null;
        if (!string.IsNullOrEmpty(source.Messages) && record.TryGet(source.Messages, out var m) && m.Kind != RawKind.Null)
        {
            used.Add(source.Messages);
            if (m.Kind != RawKind.Array || m.Messages is null)
                return Bad(record, source.Messages, $"wrong type: expected a list of chat messages (each with string 'role' and 'content'), got {Describe(m)}");
            chat = ChatFields.From(m.Messages);
        }

        string question;
        if (record.TryGet(source.Question, out var q) && q.Kind != RawKind.Null)
        {
            if (q.Kind != RawKind.String) return Bad(record, source.Question, $"wrong type: expected string, got {RawValue.KindName(q.Kind)}");
            question = q.Text!;
        }
        else if (chat?.Question is { } fromChat) question = fromChat;
        else if (!record.TryGet(source.Question, out _))
            return Bad(record, source.Question, $"missing required field '{source.Question}' (the question; fields present: {string.Join(", ", record.Fields.Select(f => f.Key))})"
                + (chat is null ? "" : $"; '{source.Messages}' has no user turn"));
        else return Bad(record, source.Question, "required field is null" + (chat is null ? "" : $" and '{source.Messages}' has no user turn"));
        if (string.IsNullOrWhiteSpace(question)) return Bad(record, source.Question, "required field is empty");

        string? error = null, errorField = null;
        string? Text(string field, bool numbersAllowed, bool joinStrings = false)
        {
            if (string.IsNullOrEmpty(field) || !record.TryGet(field, out var v)) return null;
            used.Add(field);
            switch (v.Kind)
            {
                case RawKind.Null: return null;
                case RawKind.String: return v.Text;
                case RawKind.Number or RawKind.Bool when numbersAllowed: return v.Text;
                case RawKind.Array when joinStrings && v.Strings is { } pieces: return string.Join(TraceJoin, pieces);
                default:
                    if (error is null)
                    {
                        error = joinStrings ? $"wrong type: expected string or list of strings, got {Describe(v)}" : $"wrong type: expected string, got {RawValue.KindName(v.Kind)}";
                        errorField = field;
                    }
                    return null;
            }
        }

        var solution = Text(source.Solution, false);
        var answer = Text(source.Answer, true);
        var trace = Text(source.Trace, false, joinStrings: true) ?? chat?.Trace;
        var attempt = Text(source.Attempt, true) ?? chat?.Attempt;
        var domain = Text(source.Domain, true);
        string? recordSource = null;
        if (!string.IsNullOrEmpty(source.SourceColumn))
        {
            if (!record.TryGet(source.SourceColumn, out _)) return Bad(record, source.SourceColumn, $"missing source column '{source.SourceColumn}' (source_column)");
            recordSource = Text(source.SourceColumn, true);
            if (error is null && string.IsNullOrWhiteSpace(recordSource)) return Bad(record, source.SourceColumn, "source column is null or empty (source_column)");
        }
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
        mapped = new MappedRecord(RecordId(question), question, solution, answer, trace, attempt, domain, itemId, choices, metadata, recordSource);
        return record;
    }

    static string Describe(RawValue v) => v.Kind == RawKind.Array
        ? v.Strings is not null ? "list of strings" : v.Messages is not null ? "list of chat messages" : "array with a non-string element"
        : RawValue.KindName(v.Kind);

    /// <summary>Question, trace and attempt read from chat turns (see <see cref="IngestSource.Messages"/>).</summary>
    sealed record ChatFields(string? Question, string? Trace, string? Attempt)
    {
        const string S1Think = "<|im_start|>think\n", S1Answer = "\n<|im_start|>answer\n", DeepSeekOpen = "<think>", DeepSeekClose = "</think>";

        public static ChatFields From(IReadOnlyList<ChatTurn> turns)
        {
            string? question = turns.FirstOrDefault(t => t.Role == "user")?.Content;
            string? assistant = turns.FirstOrDefault(t => t.Role == "assistant")?.Content;
            if (assistant is null) return new(question, null, null);
            int think = assistant.IndexOf(S1Think, StringComparison.Ordinal);
            int answer = think < 0 ? -1 : assistant.IndexOf(S1Answer, think + S1Think.Length, StringComparison.Ordinal);
            if (think >= 0 && answer >= 0)
            {
                string attempt = assistant[(answer + S1Answer.Length)..];
                // s1 prefixes "Answer: " unless the attempt already says "Answer:"; taking it off gives back the attempt.
                if (attempt.StartsWith("Answer: ", StringComparison.Ordinal)) attempt = attempt["Answer: ".Length..];
                return new(question, assistant[(think + S1Think.Length)..answer], attempt);
            }
            int open = assistant.IndexOf(DeepSeekOpen, StringComparison.Ordinal);
            int close = open < 0 ? -1 : assistant.IndexOf(DeepSeekClose, open, StringComparison.Ordinal);
            if (open >= 0 && close >= 0)
                return new(question, assistant[(open + DeepSeekOpen.Length)..close].Trim(), assistant[(close + DeepSeekClose.Length)..].Trim());
            return new(question, null, assistant);
        }
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
