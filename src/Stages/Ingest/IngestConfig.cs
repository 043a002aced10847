namespace IwSft.Stages.Ingest;

/// <summary>What an ingest stage produces.</summary>
public enum IngestMode
{
    /// <summary>Training candidates (schema <c>candidates</c>), exact duplicate questions dropped.</summary>
    Candidates,
    /// <summary>Benchmark items (schema <c>benchmark_items</c>), every item kept in file order.</summary>
    Benchmark,
}

/// <summary>What to do with a row that cannot be read or mapped.</summary>
public enum BadRowPolicy
{
    /// <summary>Stop the stage with an error naming stage, file, line, column and reason.</summary>
    Fail,
    /// <summary>Write the row to the <c>quarantine</c> output and go on; the count goes to the manifest.</summary>
    Quarantine,
}

public enum SourceFormat { Auto, Jsonl, Csv, Parquet }

/// <summary>Configuration of an <see cref="IngestStage"/>.</summary>
public sealed class IngestConfig
{
    public IngestMode Mode { get; set; } = IngestMode.Candidates;
    /// <summary>Source files, read in this order (the first occurrence of a duplicate question wins).</summary>
    public List<IngestSource> Sources { get; set; } = new();
    public BadRowPolicy OnBadRow { get; set; } = BadRowPolicy.Fail;
    /// <summary>Longest JSONL line / CSV record accepted, in bytes; longer ones are bad rows.</summary>
    public int MaxLineBytes { get; set; } = 16 * 1024 * 1024;
    /// <summary>A source with no records (an empty file, only blank lines, a CSV header alone): false = a warning in the log, true = an error.</summary>
    public bool FailOnEmpty { get; set; }

    /// <summary>
    /// Checks what JSON (a pipeline file, <c>--set</c>) can put here that the types cannot rule out: null lists
    /// and entries, sources without a path, null field mappings. Throws <see cref="InvalidOperationException"/>
    /// with one line naming the key.
    /// </summary>
    public void Validate(string stage)
    {
        void Require(bool ok, string what) { if (!ok) throw new InvalidOperationException($"stage '{stage}': {what}"); }
        Require(Sources is not null, "'sources' is null; it is a list of source objects such as {\"path\": \"data.jsonl\"}");
        Require(MaxLineBytes > 0, $"'max_line_bytes' must be positive, got {MaxLineBytes}");
        for (int i = 0; i < Sources!.Count; i++)
        {
            var src = Sources[i];
            Require(src is not null, $"sources[{i}] is null; each source is an object with at least a \"path\"");
            Require(!string.IsNullOrWhiteSpace(src!.Path), $"sources[{i}] has no 'path'");
            Require(!string.IsNullOrEmpty(src.Question), $"sources[{i}] ({src.Path}): 'question' must name the question field");
            foreach (var (key, value) in new[] { ("solution", src.Solution), ("answer", src.Answer), ("trace", src.Trace), ("attempt", src.Attempt), ("domain", src.Domain), ("item_id", src.ItemId), ("messages", src.Messages), ("source_column", src.SourceColumn) })
                Require(value is not null, $"sources[{i}] ({src.Path}): '{key}' is null; use \"\" for a source without that field");
            Require(src.Limit >= 0, $"sources[{i}] ({src.Path}): 'limit' must be 0 (all rows) or positive, got {src.Limit}");
            Require(src.Choices is not null && src.Choices.All(c => c is not null), $"sources[{i}] ({src.Path}): 'choices' must be a list of field names");
        }
    }
}

/// <summary>
/// One source file and how its fields map onto the output columns. A mapping names the source field;
/// an empty string means "this source has none". Target fields not present in a record are null.
/// Source fields not mapped go into <c>metadata</c> as a JSON object (unless <see cref="ExtraFieldsToMetadata"/> is off).
/// </summary>
public sealed class IngestSource
{
    public string Path { get; set; } = "";
    /// <summary>auto: by extension (.jsonl/.json/.ndjson, .csv, .parquet).</summary>
    public SourceFormat Format { get; set; } = SourceFormat.Auto;
    /// <summary>Candidates: the <c>source</c> column; benchmarks: the <c>benchmark</c> column. Default: the file name without extension.</summary>
    public string? Name { get; set; }

    /// <summary>Required; a record without it is a bad row.</summary>
    public string Question { get; set; } = "question";
    public string Solution { get; set; } = "solution";
    public string Answer { get; set; } = "answer";
    public string Trace { get; set; } = "trace";
    public string Attempt { get; set; } = "attempt";
    public string Domain { get; set; } = "domain";
    /// <summary>Benchmarks: the field holding the item id (e.g. MATH500's <c>unique_id</c>); empty = 1-based record number.</summary>
    public string ItemId { get; set; } = "";
    /// <summary>Benchmarks: answer options, either one field holding an array of strings or several fields, one option each.</summary>
    public List<string> Choices { get; set; } = new();
    /// <summary>
    /// A chat field (list&lt;struct&lt;content, role&gt;&gt;, e.g. s1K-1.1's <c>messages</c>); empty = none. Fills what the
    /// named columns leave null: question ← the first <c>user</c> turn; trace and attempt ← the first <c>assistant</c>
    /// turn, split at s1's delimiters (<c>&lt;|im_start|&gt;think\n</c> … <c>\n&lt;|im_start|&gt;answer\n</c>, a leading
    /// <c>Answer: </c> removed) or DeepSeek's (<c>&lt;think&gt;</c> … <c>&lt;/think&gt;</c>), else the whole turn as the attempt.
    /// </summary>
    public string Messages { get; set; } = "";
    /// <summary>
    /// A field whose string value is each record's <c>source</c> (e.g. <c>source_type</c> of s1's one-table pool), so one
    /// file splits into sources for per-source decontamination and reporting; empty = the file's <see cref="SourceName"/>.
    /// </summary>
    public string SourceColumn { get; set; } = "";
    public bool ExtraFieldsToMetadata { get; set; } = true;
    /// <summary>Read only the first N rows of the file (a smoke run's subset, e.g. <c>run s1k --quick</c>); 0 = all.</summary>
    // Left out of the configuration JSON at 0, so ingest stages written before the option keep their cache keys.
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public int Limit { get; set; }

    /// <summary>(target, source field) of every mapping that names a field.</summary>
    public IReadOnlyList<(string Target, string Column)> MappedFields() =>
        new[] { ("question", Question), ("solution", Solution), ("answer", Answer), ("trace", Trace), ("attempt", Attempt), ("domain", Domain),
                ("item_id", ItemId), ("messages", Messages), ("source_column", SourceColumn) }
            .Concat(Choices.Select(c => ("choices", c)))
            .Where(m => !string.IsNullOrEmpty(m.Item2)).ToList();

    public string SourceName => string.IsNullOrEmpty(Name) ? System.IO.Path.GetFileNameWithoutExtension(Path) : Name;

    public SourceFormat ResolvedFormat()
    {
        if (Format != SourceFormat.Auto) return Format;
        var ext = System.IO.Path.GetExtension(Path).ToLowerInvariant();
        return ext switch
        {
            ".jsonl" or ".json" or ".ndjson" => SourceFormat.Jsonl,
            ".csv" => SourceFormat.Csv,
            ".parquet" or ".pq" => SourceFormat.Parquet,
            _ => throw new ArgumentException($"source '{Path}': cannot tell the format from extension '{ext}'; set format to jsonl, csv or parquet"),
        };
    }
}
