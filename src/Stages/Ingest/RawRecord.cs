namespace IwSft.Stages.Ingest;

/// <summary>The JSON-ish type of a source value, so the mapper can name wrong types.</summary>
public enum RawKind { Null, String, Number, Bool, Array, Object }

/// <summary>One chat turn of a <c>messages</c> field (list&lt;struct&lt;content, role&gt;&gt; in Parquet, an array of {role, content} objects in JSONL).</summary>
public sealed record ChatTurn(string? Role, string? Content);

/// <summary>
/// One field value as read from a source file. <see cref="Text"/> is the string for strings, the literal
/// for numbers and booleans, and the JSON text for arrays and objects. <see cref="Strings"/> holds the
/// elements of an array whose elements are all strings (else null); <see cref="Messages"/> the turns of an
/// array of chat messages (objects with string <c>role</c> and <c>content</c>; else null).
/// </summary>
public readonly record struct RawValue(RawKind Kind, string? Text, IReadOnlyList<string>? Strings = null, IReadOnlyList<ChatTurn>? Messages = null)
{
    readonly string? _text = Text;
    readonly Func<string>? _lazyText;

    /// <summary>The JSON text of an array of strings is made only when asked for (it is for metadata and quarantine, not for a mapped trace).</summary>
    public string? Text => _text ?? _lazyText?.Invoke();

    RawValue(Func<string> lazyText, IReadOnlyList<string>? strings) : this(RawKind.Array, null, strings) { _lazyText = lazyText; }

    /// <summary>An array of strings (an element may be null); its JSON text is serialised on first use.</summary>
    public static RawValue StringArray(IReadOnlyList<string?> items) =>
        new(() => System.Text.Json.JsonSerializer.Serialize(items), items.All(s => s is not null) ? items.Select(s => s!).ToList() : null);

    public static readonly RawValue Null = new(RawKind.Null, null);
    public static RawValue Str(string s) => new(RawKind.String, s);

    public static string KindName(RawKind k) => k switch
    {
        RawKind.Null => "null", RawKind.String => "string", RawKind.Number => "number",
        RawKind.Bool => "boolean", RawKind.Array => "array", _ => "object",
    };
}

/// <summary>A record read from a source, or a row that could not be read; both carry their location.</summary>
public abstract record RawRow(string File, long Line);

/// <summary>A readable record: its fields in source order.</summary>
public sealed record RawRecord(string File, long Line, IReadOnlyList<KeyValuePair<string, RawValue>> Fields, Func<string> RawText)
    : RawRow(File, Line)
{
    public bool TryGet(string name, out RawValue value)
    {
        foreach (var kv in Fields)
            if (kv.Key == name) { value = kv.Value; return true; }
        value = RawValue.Null;
        return false;
    }
}

/// <summary>A row that is unusable: where, which column (if one), why, and its raw text.</summary>
public sealed record BadRow(string File, long Line, string? Column, string Reason, string? Raw) : RawRow(File, Line)
{
    /// <summary>Longest raw text kept in a quarantine row or error message.</summary>
    public const int MaxRawChars = 4096;

    public static string? Clip(string? raw) => raw is null || raw.Length <= MaxRawChars ? raw : raw[..MaxRawChars];

    public string Describe(string stage, string lineWord = "line") =>
        $"stage '{stage}': {File}, {lineWord} {Line}" + (Column is null ? "" : $", column '{Column}'") + $": {Reason}";
}

/// <summary>A bad row under the 'fail' policy.</summary>
public sealed class IngestException(string stage, BadRow row, string lineWord)
    : Exception(row.Describe(stage, lineWord))
{
    public string Stage { get; } = stage;
    public BadRow Row { get; } = row;
}
