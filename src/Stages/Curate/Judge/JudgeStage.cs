using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using Polly;

namespace IwSft.Stages.Curate.Judge;

/// <summary>
/// External LLM judge as a record-wise stage (kind "judge"): for each record, renders the prompt template from
/// the record's columns, asks an OpenAI-compatible chat-completions endpoint, parses the reply
/// (<see cref="JudgeReplyParser"/>) and writes the feature to <see cref="JudgeConfig.OutputColumn"/>.
/// Results are memoised per record (<see cref="RecordMemoLoop{TIn, TOut}"/>: the key holds what decides the answer,
/// i.e. the model, kind, prompt template, system prompt, parsing and sampling settings, and the prompt's field
/// values), so a rerun over a grown pool only calls for new records, and a new endpoint, key, concurrency or
/// retry policy (<see cref="NotInRecordKey"/>) keeps every answer; calls run concurrently (bounded) through a
/// Polly pipeline (<see cref="JudgeResilience"/>). A permanent failure fails the stage naming the record; scores
/// already obtained stay in the memo.
/// </summary>
public sealed class JudgeStage(string name, JudgeConfig? config = null) : Stage<JudgeConfig>(name, config)
{
    public override string Kind => "judge";
    public override int Version => 1;
    public override bool IsRecordWise => true;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table("records", "candidates")];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table("records", "features")];

    /// <summary>The clock of the judge client's timeouts, backoff and circuit breaker (tests inject a controlled one).</summary>
    [field: NotInKey("when timeouts and backoff fire, never what a judge answers")]
    public TimeProvider Clock { get; init; } = TimeProvider.System;

    public ColumnType OutputType => Config.Kind switch
    {
        JudgeKind.Domain => ColumnType.String,
        JudgeKind.Grading => ColumnType.Bool,
        JudgeKind.Quality => ColumnType.Float32,
        _ => throw new ArgumentOutOfRangeException(),
    };

    /// <summary>
    /// Not in record keys: where the judge is served and how it is called (address, key, concurrency, retry
    /// policy), which column receives the answer and whether set values are skipped — moving to another server that
    /// serves the same model keeps every cached answer. Everything else decides the answer (model, kind, prompt
    /// template, system prompt, response pattern, temperature, max tokens, and whether an unparseable reply is
    /// memoised as missing).
    /// </summary>
    public override IReadOnlyList<string> NotInRecordKey => ["base_url", "api_key_env", "max_concurrency", "resilience", "output_column", "skip_where_set"];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (string.IsNullOrWhiteSpace(Config.Model)) throw new ArgumentException($"stage '{Name}': judge 'model' is not configured");
        var template = new PromptTemplate(Config.PromptTemplate);
        if (template.Fields.Count == 0) throw new ArgumentException($"stage '{Name}': prompt template has no {{column}} placeholder");
        Regex? pattern = Config.ResponsePattern is null ? null : new Regex(Config.ResponsePattern, RegexOptions.CultureInvariant);
        string? apiKey = null;
        if (Config.ApiKeyEnv is { } env)
        {
            apiKey = Environment.GetEnvironmentVariable(env);
            if (string.IsNullOrEmpty(apiKey))
                throw new InvalidOperationException($"stage '{Name}': environment variable '{env}' (api_key_env) is not set or empty");
        }

        var reader = ctx.ReadTable("records");
        foreach (var f in template.Fields.Select(ColumnOf))
            if (reader.Schema.GetFieldIndex(f) < 0)
                throw new ArgumentException($"stage '{Name}': prompt placeholder '{{{f}}}' is not a column of input '{reader.Artifact}' (columns: {string.Join(", ", reader.Schema.FieldsList.Select(x => x.Name))})");

        var outField = CurateTables.NullableField(Config.OutputColumn, OutputType);
        var features = TableSchema.Get("features");
        if (features.Find(Config.OutputColumn) is { } declared && declared.Type != OutputType)
            throw new ArgumentException($"stage '{Name}': output column '{Config.OutputColumn}' is {TableSchema.TypeName(declared.Type)} in schema 'features', but a {Config.Kind} judge writes {TableSchema.TypeName(OutputType)}");

        long retries = 0, calls = 0, skipped = 0, unparseable = 0, done = 0;
        using var client = new JudgeClient(Config, apiKey);
        var pipeline = JudgeResilience.Create(Config.Resilience, msg =>
        {
            if (Interlocked.Increment(ref retries) <= 20) ctx.Log($"{Name}: {msg}");
        }, Clock);
        // A record's key: the prompt's field values (with MemoIdentity: everything that decides the answer).
        var loop = new RecordMemoLoop<Ask, object?>(this, ctx,
            a => new JsonObject(template.Fields.Zip(a.Values).Select(p => KeyValuePair.Create(p.First, (JsonNode?)p.Second))),
            Encode, Decode)
        {
            // Each answer is stored as it arrives; a chunk only bounds the records handed to the concurrent callers at once.
            ChunkSize = Math.Max(1, Config.MaxConcurrency) * 64,
            Describe = a => $"record '{a.Id}'",
        };

        async Task AskAll(IReadOnlyList<Ask> chunk, Func<int, object?, Task> store, CancellationToken token, RecordBatch batch)
        {
            Exception? failure = null;
            string? failedId = null;
            await Parallel.ForEachAsync(Enumerable.Range(0, chunk.Count), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Config.MaxConcurrency), CancellationToken = token },
                async (j, ct) =>
                {
                    if (Volatile.Read(ref failure) != null) return;
                    try
                    {
                        object? value;
                        try
                        {
                            value = await pipeline.ExecuteAsync(async t =>
                            {
                                Interlocked.Increment(ref calls);
                                string reply = await client.CompleteAsync(chunk[j].Prompt, t);
                                return JudgeReplyParser.Parse(Config.Kind, reply, pattern, out var error)
                                    ?? throw new UnparseableReplyException($"unparseable {Config.Kind} reply ({error}): {(reply.Length > 200 ? reply[..200] + "…" : reply)}");
                            }, ct);
                        }
                        catch (UnparseableReplyException) when (Config.UnparseableAsMissing)
                        {
                            Interlocked.Increment(ref unparseable);
                            value = null;
                        }
                        await store(j, value);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        if (Interlocked.CompareExchange(ref failure, e, null) == null) failedId = batch.GetString("id", chunk[j].Row);
                    }
                });
            if (failure != null)
            {
                ctx.SetMetric("judge.calls", calls);
                string kind = failure is PermanentJudgeException ? "failed permanently"
                    : JudgeResilience.IsTransient(failure) ? $"failed after {Config.Resilience.MaxRetryAttempts + 1} attempts" : "failed";
                throw new JudgeFailedException(
                    $"stage '{Name}': judge call for record '{failedId}' (input '{reader.Artifact}') {kind}: {failure.Message}. " +
                    $"{ctx.Memo.Count} results are cached; a rerun asks only for the records not cached.", failure);
            }
        }

        await using var writer = ctx.WriteTable("records");
        await foreach (var raw in reader.ReadBatchesAsync(ctx.CancellationToken))
        {
            var batch = CurateTables.EnsureColumns(raw, features);
            var values = new object?[batch.Length];
            var asks = new List<Ask>();
            for (int r = 0; r < batch.Length; r++)
            {
                if (Config.SkipWhereSet && batch.HasColumn(Config.OutputColumn) && CurateTables.Cell(batch.Col(Config.OutputColumn), r) is { } existing)
                {
                    values[r] = existing;
                    continue;
                }
                var fieldValues = template.Fields.Select(f => FieldValue(batch, f, r)).ToList();
                if (fieldValues.Any(v => v is null)) { skipped++; continue; }
                var vals = fieldValues.Select(v => v!).ToArray();
                var byField = template.Fields.Zip(vals).ToDictionary(p => p.First, p => p.Second);
                asks.Add(new Ask(r, vals, template.Render(f => byField[f]), batch.GetString("id", r)));
            }

            var answers = await loop.RunAsync(asks, (chunk, store, token) => AskAll(chunk, store, token, batch));
            for (int j = 0; j < asks.Count; j++) values[asks[j].Row] = answers[j];

            var column = CurateTables.BuildArray(outField, values);
            await writer.WriteAsync(CurateTables.WithColumns(batch, (outField, column)), ctx.CancellationToken);
            done += batch.Length;
            ctx.ReportProgress(done, reader.RowCount);
        }
        ctx.SetMetric("judge.calls", calls);
        ctx.SetMetric("judge.retries", retries);
        ctx.SetMetric("judge.skipped_missing_input", skipped);
        ctx.SetMetric("judge.unparseable", unparseable);
        ctx.Log($"{Name}: {done} records, {loop.Reused} from the record memo, {loop.Computed} asked in {calls} calls ({retries} retries), {skipped} skipped for missing input");
    }

    /// <summary>One record to ask the judge about: its row in the batch, the prompt's field values, the prompt.</summary>
    sealed record Ask(int Row, string[] Values, string Prompt, string? Id);

    static string ColumnOf(string placeholder) => placeholder.Split('.')[0];

    /// <summary>A placeholder's text: the column's value, or a field of a JSON-object column; null when absent.</summary>
    string? FieldValue(RecordBatch batch, string placeholder, int row)
    {
        var parts = placeholder.Split('.');
        var cell = CurateTables.Cell(batch.Col(parts[0]), row);
        if (parts.Length == 1 || cell is null) return cell?.ToString();
        JsonNode? obj;
        try { obj = JsonNode.Parse(cell.ToString()!); }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"stage '{Name}': placeholder '{{{placeholder}}}': column '{parts[0]}' of record '{batch.GetString("id", row)}' is not JSON: {e.Message}");
        }
        return (obj as JsonObject)?[parts[1]] switch
        {
            null => null,
            JsonValue v when v.GetValueKind() == System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
            var other => other.ToJsonString(),
        };
    }

    string Encode(object? value) => new JsonObject
    {
        ["v"] = value switch { null => null, string s => s, bool b => b, float f => f, _ => throw new InvalidOperationException() },
    }.ToJsonString();

    /// <summary>A cached answer; one of the wrong type (a hand-edited or foreign memo) is an error saying what was expected.</summary>
    object? Decode(string memo)
    {
        string expected = Config.Kind switch { JudgeKind.Domain => "a string", JudgeKind.Grading => "true or false", _ => "a finite number" };
        FormatException Wrong() => new($"the cached {Config.Kind} answer should be {{\"v\": {expected} or null}} but is {(memo.Length > 80 ? memo[..80] + "..." : memo)}");
        JsonNode? root;
        try { root = JsonNode.Parse(memo); }
        catch (System.Text.Json.JsonException) { throw Wrong(); }
        if (root is not JsonObject o || !o.ContainsKey("v")) throw Wrong();
        var v = o["v"];
        if (v is null) return null;
        var kind = v.GetValueKind();
        return Config.Kind switch
        {
            JudgeKind.Domain when kind == System.Text.Json.JsonValueKind.String => v.GetValue<string>(),
            JudgeKind.Grading when kind is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => v.GetValue<bool>(),
            JudgeKind.Quality when kind == System.Text.Json.JsonValueKind.Number && v.AsValue().TryGetValue(out float f) && float.IsFinite(f) => f,
            _ => throw Wrong(),
        };
    }
}
