using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Evaluate;
using IwSft.Text;
using Polly;

namespace IwSft.Stages.Curate.Judge;

/// <summary>
/// LLM judge as a record-wise stage (kind "judge"): for each record, renders the prompt template from
/// the record's columns, asks an OpenAI-compatible chat-completions endpoint — or, with the optional
/// <c>judge_model</c> input bound, that checkpoint in process through the generation client evaluate uses
/// (<see cref="ICompletionGeneratorFactory"/>; prompt = the Qwen chat template with its generation prompt) — parses the reply
/// (<see cref="JudgeReplyParser"/>) and writes the feature to <see cref="JudgeConfig.OutputColumn"/>.
/// Results are memoised per record (<see cref="RecordMemoLoop{TIn, TOut}"/>: the key holds what decides the answer,
/// i.e. the model, kind, prompt template, system prompt, parsing and sampling settings, and the prompt's field
/// values), so a rerun over a grown pool only calls for new records, and a new endpoint, key, concurrency or
/// retry policy (<see cref="NotInRecordKey"/>) keeps every answer; calls run concurrently (bounded) through a
/// Polly pipeline (<see cref="JudgeResilience"/>). A permanent failure fails the stage naming the record; scores
/// already obtained stay in the memo.
/// </summary>
// Debug build (dotnet run's default): the split of RunAsync into small methods asks the same calls and parses the
// same replies, so a store's judge answers (memoised per record, keyed with the code identity) stay valid.
[CodeIdentityAlias("97535ac3fc8e0d2950a4e8ad96dd067fd6cbaa4ffb271deef51bfeb13ce41d64", "636770a95d817ca658585b09af3fad7b8f8adf7549f1a9a9e9909d53dcbb6f54",
    "RunAsync split into JudgeCalls, Asks, CheckColumns and ReadApiKey; in-process judging (judge_model, keyed by its content) and guided_choice added: with guided_choice off a server is asked the same calls, parsed the same way; the generation contract gained stop tokens, min_tokens and finish reasons, which the judge does not set; the placeholder lookup moved to PromptTemplate (shared with the attempt stage), unchanged")]
public sealed class JudgeStage(string name, JudgeConfig? config = null, ICompletionGeneratorFactory? generators = null) : Stage<JudgeConfig>(name, config)
{
    public const string JudgeModelInput = "judge_model";

    public override string Kind => "judge";
    public override int Version => 1;
    public override bool IsRecordWise => true;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table("records", "candidates"), PortSpec.Dir(JudgeModelInput, optional: true)];

    /// <summary>Opens the <c>judge_model</c> checkpoint for in-process judging (its dtypes decide the answers); null: a server judges.</summary>
    [InKey(OmitWhenNull = true)] readonly ICompletionGeneratorFactory? _generators = generators;
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
    /// <remarks><c>guided_choice</c> off is how every judge asked before the option existed, so it stays out of their record keys.</remarks>
    public override IReadOnlyList<string> NotInRecordKey => Config.GuidedChoice
        ? ["base_url", "api_key_env", "max_concurrency", "resilience", "output_column", "skip_where_set"]
        : ["base_url", "api_key_env", "max_concurrency", "resilience", "output_column", "skip_where_set", "guided_choice"];

    public override async Task RunAsync(IStageContext ctx)
    {
        bool inProcess = ctx.HasInput(JudgeModelInput);
        if (inProcess && _generators is null)
            throw new InvalidOperationException($"stage '{Name}': input '{JudgeModelInput}' is bound but the stage was built without a generator factory to open it");
        if (!inProcess && string.IsNullOrWhiteSpace(Config.Model)) throw new ArgumentException($"stage '{Name}': judge 'model' is not configured (or bind input '{JudgeModelInput}' to judge in process)");
        var template = new PromptTemplate(Config.PromptTemplate);
        if (template.Fields.Count == 0) throw new ArgumentException($"stage '{Name}': prompt template has no {{column}} placeholder");
        var reader = ctx.ReadTable("records");
        CheckColumns(template, reader);
        var features = TableSchema.Get("features");
        var outField = CurateTables.NullableField(Config.OutputColumn, OutputType);

        using IJudgeCalls judge = inProcess
            ? new InProcessJudgeCalls(this, ctx, _generators!, ctx.InputDirectory(JudgeModelInput), reader.Artifact.ToString())
            : new JudgeCalls(this, ctx, ReadApiKey(), reader.Artifact.ToString());
        // In process, the checkpoint's content decides the answers (a server's model is named by 'model').
        string? judgeModel = inProcess ? ctx.InputDirectoryHash(JudgeModelInput) : null;
        // A record's key: the prompt's field values (with MemoIdentity: everything that decides the answer).
        var loop = new RecordMemoLoop<Ask, object?>(this, ctx, a =>
            {
                var key = new JsonObject(template.Fields.Zip(a.Values).Select(p => KeyValuePair.Create(p.First, (JsonNode?)p.Second)));
                if (judgeModel is not null) key[JudgeModelInput] = judgeModel;
                return key;
            },
            Encode, Decode)
        {
            // Each answer is stored as it arrives; a chunk only bounds the records handed to the concurrent callers at once.
            ChunkSize = Math.Max(1, Config.MaxConcurrency) * 64,
            Describe = a => $"record '{a.Id}'",
        };

        long skipped = 0, done = 0;
        // The records with the judged column added, as a table derived from the input (the texts are not rewritten).
        await using var writer = ctx.DeriveTable("records", reader);
        await foreach (var raw in reader.ReadBatchesAsync(ctx.CancellationToken))
        {
            var batch = CurateTables.EnsureColumns(raw, features);
            var values = new object?[batch.Length];
            var asks = Asks(batch, template, values, ref skipped);
            var answers = await loop.RunAsync(asks, judge.AskAllAsync);
            for (int j = 0; j < asks.Count; j++) values[asks[j].Row] = answers[j];
            await writer.WriteRowsAsync(CurateTables.RowNumbers(done, batch.Length),
                CurateTables.AddedColumns(reader.Schema, features, batch.Length, (outField, CurateTables.BuildArray(outField, values))), ctx.CancellationToken);
            done += batch.Length;
            ctx.ReportProgress(done, reader.RowCount);
        }
        if (done == 0) await writer.WriteRowsAsync([], CurateTables.AddedColumns(reader.Schema, features, 0, (outField, CurateTables.BuildArray(outField, []))), ctx.CancellationToken);
        judge.SetMetrics();
        ctx.SetMetric("judge.skipped_missing_input", skipped);
        ctx.Log($"{Name}: {done} records, {loop.Reused} from the record memo, {loop.Computed} asked in {judge.Calls} calls ({judge.Retries} retries), {skipped} skipped for missing input");
    }

    string? ReadApiKey()
    {
        if (Config.ApiKeyEnv is not { } env) return null;
        var apiKey = Environment.GetEnvironmentVariable(env);
        return string.IsNullOrEmpty(apiKey)
            ? throw new InvalidOperationException($"stage '{Name}': environment variable '{env}' (api_key_env) is not set or empty")
            : apiKey;
    }

    /// <summary>Every placeholder names an input column, and the output column's type agrees with schema 'features'.</summary>
    void CheckColumns(PromptTemplate template, ITableReader reader)
    {
        foreach (var f in template.Fields.Select(PromptTemplate.ColumnOf))
            if (reader.Schema.GetFieldIndex(f) < 0)
                throw new ArgumentException($"stage '{Name}': prompt placeholder '{{{f}}}' is not a column of input '{reader.Artifact}' (columns: {string.Join(", ", reader.Schema.FieldsList.Select(x => x.Name))})");
        if (TableSchema.Get("features").Find(Config.OutputColumn) is { } declared && declared.Type != OutputType)
            throw new ArgumentException($"stage '{Name}': output column '{Config.OutputColumn}' is {TableSchema.TypeName(declared.Type)} in schema 'features', but a {Config.Kind} judge writes {TableSchema.TypeName(OutputType)}");
    }

    /// <summary>
    /// The batch's records to ask about; a value already set (with <c>skip_where_set</c>) goes straight to
    /// <paramref name="values"/>, and a record missing a prompt field is skipped (left null).
    /// </summary>
    List<Ask> Asks(RecordBatch batch, PromptTemplate template, object?[] values, ref long skipped)
    {
        var asks = new List<Ask>();
        for (int r = 0; r < batch.Length; r++)
        {
            if (Config.SkipWhereSet && batch.HasColumn(Config.OutputColumn) && CurateTables.Cell(batch.Col(Config.OutputColumn), r) is { } existing)
            {
                values[r] = existing;
                continue;
            }
            var fieldValues = template.Fields.Select(f => PromptTemplate.FieldValue(batch, f, r, Name)).ToList();
            if (fieldValues.Any(v => v is null)) { skipped++; continue; }
            var vals = fieldValues.Select(v => v!).ToArray();
            var byField = template.Fields.Zip(vals).ToDictionary(p => p.First, p => p.Second);
            asks.Add(new Ask(r, vals, template.Render(f => byField[f]), batch.GetString("id", r)));
        }
        return asks;
    }

    /// <summary>How the stage gets a chunk of records judged: each answer handed to <c>store</c> as it is parsed.</summary>
    interface IJudgeCalls : IDisposable
    {
        long Calls { get; }
        long Retries { get; }
        Task AskAllAsync(IReadOnlyList<Ask> chunk, Func<int, object?, Task> store, CancellationToken token);
        void SetMetrics();
    }

    /// <summary>
    /// The judge endpoint as the stage calls it: bounded concurrency, each call through the resilience pipeline,
    /// replies parsed, and the call and retry counts. The first failure stops the chunk and fails the stage,
    /// naming the record; answers already stored stay in the memo.
    /// </summary>
    sealed class JudgeCalls : IJudgeCalls
    {
        readonly JudgeStage _stage;
        readonly IStageContext _ctx;
        readonly string _input;
        readonly JudgeClient _client;
        readonly ResiliencePipeline _pipeline;
        readonly Regex? _pattern;
        long _calls, _retries, _unparseable;

        public JudgeCalls(JudgeStage stage, IStageContext ctx, string? apiKey, string input)
        {
            (_stage, _ctx, _input) = (stage, ctx, input);
            _client = new JudgeClient(stage.Config, apiKey);
            _pattern = stage.Config.ResponsePattern is null ? null : new Regex(stage.Config.ResponsePattern, RegexOptions.CultureInvariant);
            _pipeline = JudgeResilience.Create(stage.Config.Resilience, msg =>
            {
                if (Interlocked.Increment(ref _retries) <= 20) ctx.Log($"{stage.Name}: {msg}");
            }, stage.Clock);
        }

        public long Calls => Interlocked.Read(ref _calls);
        public long Retries => Interlocked.Read(ref _retries);

        public async Task AskAllAsync(IReadOnlyList<Ask> chunk, Func<int, object?, Task> store, CancellationToken token)
        {
            var config = _stage.Config;
            Exception? failure = null;
            string? failedId = null;
            await Parallel.ForEachAsync(Enumerable.Range(0, chunk.Count), new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, config.MaxConcurrency), CancellationToken = token },
                async (j, ct) =>
                {
                    if (Volatile.Read(ref failure) != null) return;
                    try { await store(j, await AskAsync(chunk[j].Prompt, ct)); }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                    {
                        if (Interlocked.CompareExchange(ref failure, e, null) == null) failedId = chunk[j].Id;
                    }
                });
            if (failure == null) return;
            _ctx.SetMetric("judge.calls", Calls);
            string kind = failure is PermanentJudgeException ? "failed permanently"
                : JudgeResilience.IsTransient(failure) ? $"failed after {config.Resilience.MaxRetryAttempts + 1} attempts" : "failed";
            throw new JudgeFailedException(
                $"stage '{_stage.Name}': judge call for record '{failedId}' (input '{_input}') {kind}: {failure.Message}. " +
                $"{_ctx.Memo.Count} results are cached; a rerun asks only for the records not cached.", failure);
        }

        /// <summary>One record's answer; an unparseable reply is null with <c>unparseable_as_missing</c>, else an error.</summary>
        async Task<object?> AskAsync(string prompt, CancellationToken ct)
        {
            var config = _stage.Config;
            try
            {
                return await _pipeline.ExecuteAsync(async t =>
                {
                    Interlocked.Increment(ref _calls);
                    string reply = await _client.CompleteAsync(prompt, t);
                    return JudgeReplyParser.Parse(config.Kind, reply, _pattern, out var error)
                        ?? throw new UnparseableReplyException($"unparseable {config.Kind} reply ({error}): {(reply.Length > 200 ? reply[..200] + "…" : reply)}");
                }, ct);
            }
            catch (UnparseableReplyException) when (config.UnparseableAsMissing)
            {
                Interlocked.Increment(ref _unparseable);
                return null;
            }
        }

        public void SetMetrics()
        {
            _ctx.SetMetric("judge.calls", Calls);
            _ctx.SetMetric("judge.retries", Retries);
            _ctx.SetMetric("judge.unparseable", Interlocked.Read(ref _unparseable));
        }

        public void Dispose() => _client.Dispose();
    }

    /// <summary>
    /// The judge model in process: a chunk's prompts (chat template + generation prompt, with the configured system
    /// prompt) generated as one batched call of the generation client, opened only when a record is not memoised.
    /// Generation is deterministic for a record (its seed comes from its prompt), so an unparseable reply is not
    /// retried: it is null with <c>unparseable_as_missing</c>, else the stage fails naming the record.
    /// </summary>
    sealed class InProcessJudgeCalls(JudgeStage stage, IStageContext ctx, ICompletionGeneratorFactory generators, string modelDir, string input) : IJudgeCalls
    {
        static readonly QwenChatTemplate Template = new();
        readonly Regex? _pattern = stage.Config.ResponsePattern is null ? null : new Regex(stage.Config.ResponsePattern, RegexOptions.CultureInvariant);
        ICompletionGenerator? _generator;
        long _calls, _unparseable;

        public long Calls => _calls;
        public long Retries => 0;

        public async Task AskAllAsync(IReadOnlyList<Ask> chunk, Func<int, object?, Task> store, CancellationToken token)
        {
            var config = stage.Config;
            _generator ??= generators.Open(modelDir, null, token);
            var settings = new GenerationSettings
            {
                MaxNewTokens = config.MaxTokens, Temperature = config.Temperature, Choices = config.GuidedChoice ? JudgeReplyParser.Choices(config.Kind) : null,
            };
            // A record's seed comes from its prompt alone (evaluate's rule), so its answer does not depend on its chunk or batch.
            var requests = chunk.Select(a => new GenerationRequest(Template.Prompt(a.Prompt, config.SystemPrompt), EvaluateStage.SampleSeed(0, a.Prompt, 0))).ToList();
            var replies = _generator.Generate(requests, settings, token);
            _calls += chunk.Count;
            for (int j = 0; j < chunk.Count; j++)
            {
                var value = JudgeReplyParser.Parse(config.Kind, replies[j].Text, _pattern, out var error);
                if (value is null && !config.UnparseableAsMissing)
                    throw new JudgeFailedException(
                        $"stage '{stage.Name}': the in-process judge's reply for record '{chunk[j].Id}' (input '{input}') is unparseable ({error}): " +
                        $"{OpenAi.OpenAiConnection.Snippet(replies[j].Text)}. Set guided_choice to constrain it, or unparseable_as_missing to drop the record. " +
                        $"{ctx.Memo.Count} results are cached.", new UnparseableReplyException(error ?? "unparseable"));
                if (value is null) _unparseable++;
                await store(j, value);
            }
        }

        public void SetMetrics()
        {
            ctx.SetMetric("judge.calls", _calls);
            ctx.SetMetric("judge.retries", 0);
            ctx.SetMetric("judge.unparseable", _unparseable);
        }

        public void Dispose() => _generator?.Dispose();
    }

    /// <summary>One record to ask the judge about: its row in the batch, the prompt's field values, the prompt.</summary>
    sealed record Ask(int Row, string[] Values, string Prompt, string? Id);

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
