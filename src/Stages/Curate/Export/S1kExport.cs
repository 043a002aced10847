using System.Text.Json.Nodes;
using Apache.Arrow;
using System.Text.Json.Serialization;
using IwSft.Text;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using Parquet;

namespace IwSft.Stages.Curate.Export;

/// <summary>One turn of the exported <c>messages</c> column: struct&lt;content: string, role: string&gt; (s1K-1.1's field order).</summary>
public sealed class ExportMessage
{
    [JsonPropertyName("content")] public string? Content { get; set; }
    [JsonPropertyName("role")] public string? Role { get; set; }
}

/// <summary>
/// A row of the s1K-1.1 layout (<c>simplescaling/s1K-1.1</c>) plus <c>text</c>, as in s1's tokenized sets
/// (<c>simplescaling/s1K-1.1_tokenized</c>, which the authors' iw_sft.sh trains on). Column names, order and types are
/// the published ones; every column is a nullable string except <c>messages</c>. See <c>schemas/s1k_export.schema.json</c>.
/// </summary>
public class S1kExportRow
{
    [JsonPropertyName("solution")] public string? Solution { get; set; }
    [JsonPropertyName("question")] public string? Question { get; set; }
    [JsonPropertyName("cot_type")] public string? CotType { get; set; }
    [JsonPropertyName("source_type")] public string? SourceType { get; set; }
    [JsonPropertyName("metadata")] public string? Metadata { get; set; }
    [JsonPropertyName("gemini_thinking_trajectory")] public string? GeminiThinkingTrajectory { get; set; }
    [JsonPropertyName("gemini_attempt")] public string? GeminiAttempt { get; set; }
    [JsonPropertyName("deepseek_thinking_trajectory")] public string? DeepseekThinkingTrajectory { get; set; }
    [JsonPropertyName("deepseek_attempt")] public string? DeepseekAttempt { get; set; }
    [JsonPropertyName("messages")] public List<ExportMessage>? Messages { get; set; }
    [JsonPropertyName("text")] public string? Text { get; set; }

    /// <summary>Characters of the row's strings (the managed size of a row is about twice this), for cutting row groups.</summary>
    public virtual long Chars() =>
        (long)(Solution?.Length ?? 0) + (Question?.Length ?? 0) + (CotType?.Length ?? 0) + (SourceType?.Length ?? 0) + (Metadata?.Length ?? 0)
        + (GeminiThinkingTrajectory?.Length ?? 0) + (GeminiAttempt?.Length ?? 0) + (DeepseekThinkingTrajectory?.Length ?? 0)
        + (DeepseekAttempt?.Length ?? 0) + (Messages?.Sum(m => (long)(m.Content?.Length ?? 0) + (m.Role?.Length ?? 0)) ?? 0) + (Text?.Length ?? 0);
}

/// <summary>Configuration of <see cref="S1kExportStage"/>.</summary>
public sealed class S1kExportConfig
{
    /// <summary>Which model's columns the curated trace and attempt fill: "deepseek" (s1K-1.1, s1.1) or "gemini" (s1K's traces).</summary>
    public string TraceModel { get; set; } = "deepseek";
    /// <summary>System prompt of <c>text</c>; null: Qwen2.5's default (what its chat template inserts, as in s1's tokenization).</summary>
    public string? SystemPrompt { get; set; }
    /// <summary>No system message in <c>text</c> (overrides SystemPrompt).</summary>
    public bool NoSystemPrompt { get; set; }
    /// <summary>File name inside the output directory; <c>datasets.load_dataset(DIR)</c> reads it as the train split.</summary>
    public string FileName { get; set; } = "train.parquet";
}

/// <summary>
/// Builds s1K-1.1 rows from curated records. Each column comes from the curated column it corresponds to, else from the
/// key of the same name in the record's <c>metadata</c> JSON (what ingest kept of the source file), else null:
/// <c>solution</c>, <c>question</c> ← themselves; <c>source_type</c> ← <c>source</c>; <c>{trace_model}_thinking_trajectory</c>
/// ← <c>trace</c>; <c>{trace_model}_attempt</c> ← <c>attempt</c>; <c>metadata</c> ← metadata's <c>metadata</c> key (the
/// source's own JSON text). <c>messages</c> = [user: question, assistant: s1's think/answer content], and <c>text</c> = the
/// Qwen2.5 chat template over system + messages, as s1's <c>data/tokenization.py</c> renders it.
/// </summary>
public sealed class S1kRowBuilder(S1kExportConfig config, string stage)
{
    readonly QwenChatTemplate _template = new(config.NoSystemPrompt ? null : config.SystemPrompt ?? QwenChatTemplate.DefaultQwenSystemPrompt);

    public string TraceModel { get; } = config.TraceModel is "deepseek" or "gemini" ? config.TraceModel
        : throw new ArgumentException($"stage '{stage}': trace_model must be \"deepseek\" or \"gemini\", got \"{config.TraceModel}\"");

    public T Build<T>(RecordBatch batch, int row) where T : S1kExportRow, new()
    {
        string? Col(string c) => CurateTables.OptString(batch, c, row);
        string id = Col("id") ?? $"row {row}";
        var meta = Col("metadata") is { } json ? TryObject(json) : null;
        string? Meta(string key) => meta?[key] switch
        {
            null => null,
            JsonValue v when v.TryGetValue<string>(out var s) => s,
            var node => node.ToJsonString(),
        };
        string question = Col("question") ?? throw new InvalidDataException($"stage '{stage}': record {id} has no question");
        string trace = Col("trace") ?? throw new InvalidDataException($"stage '{stage}': record {id} has no trace; the s1K-1.1 layout needs trace and attempt (export after the filter)");
        string attempt = Col("attempt") ?? throw new InvalidDataException($"stage '{stage}': record {id} has no attempt; the s1K-1.1 layout needs trace and attempt (export after the filter)");
        string assistant = QwenChatTemplate.S1AssistantContent(trace, attempt);
        bool deepseek = TraceModel == "deepseek";
        return new T
        {
            Solution = Col("solution") ?? Meta("solution"),
            Question = question,
            CotType = Meta("cot_type"),
            SourceType = Col("source") ?? Meta("source_type"),
            Metadata = Meta("metadata"),
            GeminiThinkingTrajectory = deepseek ? Meta("gemini_thinking_trajectory") : trace,
            GeminiAttempt = deepseek ? Meta("gemini_attempt") : attempt,
            DeepseekThinkingTrajectory = deepseek ? trace : Meta("deepseek_thinking_trajectory"),
            DeepseekAttempt = deepseek ? attempt : Meta("deepseek_attempt"),
            Messages = [new() { Content = question, Role = "user" }, new() { Content = assistant, Role = "assistant" }],
            Text = _template.Render([ChatMessage.User(question), ChatMessage.Assistant(assistant)]),
        };
    }

    static JsonObject? TryObject(string json)
    {
        try { return JsonNode.Parse(json) as JsonObject; }
        catch (System.Text.Json.JsonException) { return null; }
    }
}

/// <summary>
/// Stage kind <c>export-s1k</c>: writes the curated set as one Parquet file in s1K-1.1's layout plus <c>text</c>
/// (<see cref="S1kExportRow"/>), which DuckDB, pyarrow and Hugging Face <c>datasets</c> read as is. Output: directory
/// <c>dataset</c> holding <see cref="S1kExportConfig.FileName"/>.
/// </summary>
public sealed class S1kExportStage(string name, S1kExportConfig? config = null) : Stage<S1kExportConfig>(name, config)
{
    public const string RecordsInput = "records";
    public const string DatasetOutput = "dataset";
    public override string Kind => "export-s1k";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table(RecordsInput, "candidates")];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Dir(DatasetOutput)];

    public override async Task RunAsync(IStageContext ctx)
    {
        var builder = new S1kRowBuilder(Config, Name);
        var path = Path.Combine(ctx.OutputDirectory(DatasetOutput), Config.FileName);
        await using var file = new ExportFiles.Writer<S1kExportRow>(path, ctx.Execution);
        await foreach (var batch in ctx.ReadTable(RecordsInput).ReadBatchesAsync(ctx.CancellationToken))
            for (int r = 0; r < batch.Length; r++) await file.AddAsync(builder.Build<S1kExportRow>(batch, r), ctx.CancellationToken);
        await file.CompleteAsync(ctx.CancellationToken);
        ctx.SetMetric("rows", file.Rows);
        ctx.Log($"{Name}: {file.Rows} rows in the s1K-1.1 layout → {path}");
    }
}

static class ExportFiles
{
    /// <summary>The rows as one Parquet file (one row group: a curated set is small), written whole before it is named.</summary>
    public static async Task WriteAsync<T>(IReadOnlyList<T> rows, string path, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = path + ".partial";
        await using (var stream = File.Create(partial))
            await Parquet.Serialization.ParquetSerializer.SerializeAsync(rows, stream, new ParquetOptions(), cancellationToken: ct);
        File.Move(partial, path, overwrite: true);
    }

    /// <summary>
    /// Streams rows into one Parquet file, a row group each time the gathered rows reach <c>BatchRows</c> rows or
    /// <c>BatchBytes</c> bytes (strings counted as two bytes a character, what they hold in memory), so memory is one
    /// row group at any set size. The file is named only by <see cref="CompleteAsync"/>.
    /// </summary>
    public sealed class Writer<T>(string path, ExecutionOptions execution) : IAsyncDisposable where T : S1kExportRow
    {
        readonly string _partial = path + ".partial";
        readonly List<T> _pending = new();
        long _bytes;
        bool _started;
        public long Rows { get; private set; }

        public async Task AddAsync(T row, CancellationToken ct)
        {
            _pending.Add(row);
            _bytes += 2 * row.Chars();
            Rows++;
            if (execution.BatchFull(_pending.Count, _bytes)) await FlushAsync(ct);
        }

        async Task FlushAsync(CancellationToken ct)
        {
            if (_pending.Count == 0 && _started) return;
            if (!_started) Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using (var stream = new FileStream(_partial, _started ? FileMode.Open : FileMode.Create, FileAccess.ReadWrite))
                await Parquet.Serialization.ParquetSerializer.SerializeAsync(_pending, stream, new ParquetOptions { Append = _started }, cancellationToken: ct);
            _started = true;
            _pending.Clear();
            _bytes = 0;
        }

        public async Task CompleteAsync(CancellationToken ct)
        {
            await FlushAsync(ct);
            File.Move(_partial, path, overwrite: true);
        }

        public ValueTask DisposeAsync()
        {
            if (File.Exists(_partial)) File.Delete(_partial);
            return ValueTask.CompletedTask;
        }
    }
}
