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
    public bool ExtraFieldsToMetadata { get; set; } = true;

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
