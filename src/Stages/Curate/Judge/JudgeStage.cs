using System.Security.Cryptography;
using System.Text;
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
/// Results are memoised per record (key = sha256 of the judge identity and the prompt's field values), so a
/// rerun over a grown pool only calls for new records; calls run concurrently (bounded) through a Polly
/// pipeline (<see cref="JudgeResilience"/>). A permanent failure fails the stage naming the record; scores
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
    /// The memo is namespaced by what decides a memoised answer (the judge identity, and whether an unparseable
    /// reply is memoised as missing), not by the endpoint's address, key, concurrency or retry policy: moving to
    /// another server that serves the same model keeps every cached answer.
    /// </summary>
    public override JsonNode MemoIdentity() => new JsonObject
    {
        ["judge"] = JsonNode.Parse(JudgeIdentity()),
        ["unparseable_as_missing"] = Config.UnparseableAsMissing,
    };

    /// <summary>What the answer depends on besides the record: model, kind, prompt, parsing and sampling settings.</summary>
    public string JudgeIdentity() => new JsonObject
    {
        ["model"] = Config.Model,
        ["kind"] = Config.Kind.ToString(),
        ["prompt_template"] = Config.PromptTemplate,
        ["system_prompt"] = Config.SystemPrompt,
        ["response_pattern"] = Config.ResponsePattern,
        ["temperature"] = Config.Temperature,
        ["max_tokens"] = Config.MaxTokens,
    }.ToJsonString();

    public static string RecordKey(string judgeIdentity, IReadOnlyList<string> fields, IReadOnlyList<string> values)
    {
        var sb = new StringBuilder("judge/v1\n").Append(judgeIdentity).Append('\n');
        for (int i = 0; i < fields.Count; i++) sb.Append(fields[i]).Append('=').Append(values[i].Length).Append(':').Append(values[i]).Append('\n');
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(sb.ToString())));
    }

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

        string identity = JudgeIdentity();
        var outField = CurateTables.NullableField(Config.OutputColumn, OutputType);
        var features = TableSchema.Get("features");
        if (features.Find(Config.OutputColumn) is { } declared && declared.Type != OutputType)
            throw new ArgumentException($"stage '{Name}': output column '{Config.OutputColumn}' is {TableSchema.TypeName(declared.Type)} in schema 'features', but a {Config.Kind} judge writes {TableSchema.TypeName(OutputType)}");

        long retries = 0, calls = 0, hits = 0, skipped = 0, unparseable = 0, done = 0;
        using var client = new JudgeClient(Config, apiKey);
        var pipeline = JudgeResilience.Create(Config.Resilience, msg =>
        {
            if (Interlocked.Increment(ref retries) <= 20) ctx.Log($"{Name}: {msg}");
        }, Clock);

        await using var writer = ctx.WriteTable("records");
        await foreach (var raw in reader.ReadBatchesAsync(ctx.CancellationToken))
        {
            var batch = CurateTables.EnsureColumns(raw, features);
            var values = new object?[batch.Length];
            var pending = new List<(int Row, string Prompt, string Key)>();
            for (int r = 0; r < batch.Length; r++)
            {
                if (Config.SkipWhereSet && batch.HasColumn(Config.OutputColumn) && CurateTables.Cell(batch.Col(Config.OutputColumn), r) is { } existing)
                {
                    values[r] = existing;
                    continue;
                }
                var fieldValues = template.Fields.Select(f => FieldValue(batch, f, r)).ToList();
                if (fieldValues.Any(v => v is null)) { skipped++; continue; }
                var vals = fieldValues.Select(v => v!).ToList();
                string key = RecordKey(identity, template.Fields, vals);
                if (ctx.Memo.TryGet(key, out var memo)) { values[r] = Decode(memo); hits++; continue; }
                var byField = template.Fields.Zip(vals).ToDictionary(p => p.First, p => p.Second);
                pending.Add((r, template.Render(f => byField[f]), key));
            }

            Exception? failure = null;
            string? failedId = null;
            await Parallel.ForEachAsync(pending, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, Config.MaxConcurrency), CancellationToken = ctx.CancellationToken },
                async (p, ct) =>
                {
                    if (Volatile.Read(ref failure) != null) return;
                    try
                    {
                        object? value;
                        try
                        {
                            value = await pipeline.ExecuteAsync(async token =>
                            {
                                Interlocked.Increment(ref calls);
                                string reply = await client.CompleteAsync(p.Prompt, token);
                                return JudgeReplyParser.Parse(Config.Kind, reply, pattern, out var error)
                                    ?? throw new UnparseableReplyException($"unparseable {Config.Kind} reply ({error}): {(reply.Length > 200 ? reply[..200] + "…" : reply)}");
                            }, ct);
                        }
                        catch (UnparseableReplyException) when (Config.UnparseableAsMissing)
                        {
                            Interlocked.Increment(ref unparseable);
                            value = null;
                        }
                        values[p.Row] = value;
                        await ctx.Memo.PutAsync(p.Key, Encode(value), ct);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        if (Interlocked.CompareExchange(ref failure, e, null) == null) failedId = batch.GetString("id", p.Row);
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

            var column = CurateTables.BuildArray(outField, values);
            await writer.WriteAsync(CurateTables.WithColumns(batch, (outField, column)), ctx.CancellationToken);
            done += batch.Length;
            ctx.ReportProgress(done, reader.RowCount);
        }
        ctx.SetMetric("judge.calls", calls);
        ctx.SetMetric("judge.cache_hits", hits);
        ctx.SetMetric("judge.retries", retries);
        ctx.SetMetric("judge.skipped_missing_input", skipped);
        ctx.SetMetric("judge.unparseable", unparseable);
        ctx.Log($"{Name}: {done} records, {hits} from cache, {calls} calls ({retries} retries), {skipped} skipped for missing input");
    }

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

    object? Decode(string memo)
    {
        var v = JsonNode.Parse(memo)?["v"];
        if (v is null) return null;
        return Config.Kind switch
        {
            JudgeKind.Domain => v.GetValue<string>(),
            JudgeKind.Grading => v.GetValue<bool>(),
            JudgeKind.Quality => v.GetValue<float>(),
            _ => null,
        };
    }
}
