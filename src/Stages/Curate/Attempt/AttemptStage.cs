using System.Text.Json;
using System.Text.Json.Nodes;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Evaluate;
using IwSft.Text;

namespace IwSft.Stages.Curate.Attempt;

/// <summary>Configuration of an <see cref="AttemptStage"/>.</summary>
public sealed class AttemptConfig
{
    /// <summary>String column that receives each record's attempt (e.g. <c>answer_qwen2_5_7b</c>).</summary>
    public string OutputColumn { get; set; } = "model_answer";
    /// <summary>User message; {column} or {column.key} placeholders (see the judge's prompt template).</summary>
    public string PromptTemplate { get; set; } = "{question}";
    /// <summary>null: the chat template's default system prompt.</summary>
    public string? SystemPrompt { get; set; }
    public int MaxNewTokens { get; set; } = 4096;
    /// <summary>0 = greedy.</summary>
    public double Temperature { get; set; }
    public double TopP { get; set; } = 1.0;
    /// <summary>Base seed; a record's seed is derived from it and the prompt.</summary>
    public int Seed { get; set; }
    /// <summary>Prompts handed to the generator at once.</summary>
    public int BatchSize { get; set; } = 16;
}

/// <summary>
/// Stage kind <c>attempt</c>: a model's answer to every record, written to <see cref="AttemptConfig.OutputColumn"/> — how
/// s1's difficulty filter gets its Qwen2.5-7B/32B-Instruct attempts, which a grading judge then compares with the
/// reference solution. The model is the <c>model</c> input, opened through the generation client evaluate uses (in
/// process, or a server such as vLLM serving it); the prompt is the chat template's open assistant turn over the
/// rendered template. Every attempt is memoised under the model's content hash, the prompt and the seed with the
/// generation settings, so a grown pool generates only for new records and the batch size changes nothing.
/// </summary>
public sealed class AttemptStage(string name, ICompletionGeneratorFactory generators, AttemptConfig? config = null) : Stage<AttemptConfig>(name, config)
{
    public const string RecordsInput = "records";
    public const string ModelInput = "model";
    public const string RecordsOutput = "records";

    [InKey] readonly ICompletionGeneratorFactory _generators = generators;

    public override string Kind => "attempt";
    public override int Version => 1;
    public override bool IsRecordWise => true;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table(RecordsInput, "candidates"), PortSpec.Dir(ModelInput)];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table(RecordsOutput, "features")];
    public override IReadOnlyList<string> NotInRecordKey => ["batch_size", "output_column"];

    static readonly QwenChatTemplate Chat = new();

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.MaxNewTokens < 1) throw new ArgumentException($"stage '{Name}': max_new_tokens must be >= 1, got {Config.MaxNewTokens}");
        if (Config.BatchSize < 1) throw new ArgumentException($"stage '{Name}': batch_size must be >= 1, got {Config.BatchSize}");
        if (string.IsNullOrWhiteSpace(Config.OutputColumn)) throw new ArgumentException($"stage '{Name}': output_column is empty");
        var template = new PromptTemplate(Config.PromptTemplate);
        var reader = ctx.ReadTable(RecordsInput);
        foreach (var column in template.Fields.Select(PromptTemplate.ColumnOf))
            if (reader.Schema.GetFieldIndex(column) < 0)
                throw new ArgumentException($"stage '{Name}': prompt placeholder column '{column}' is not a column of input '{reader.Artifact}'");
        string modelDir = ctx.InputDirectory(ModelInput), modelHash = ctx.InputDirectoryHash(ModelInput);
        var settings = new GenerationSettings { MaxNewTokens = Config.MaxNewTokens, Temperature = Config.Temperature, TopP = Config.TopP };
        var loop = new RecordMemoLoop<Ask, GeneratedSample>(this, ctx,
            a => new JsonObject { [ModelInput] = modelHash, ["prompt"] = a.Prompt, ["seed"] = a.Seed },
            s => JsonSerializer.Serialize(s),
            text => JsonSerializer.Deserialize<GeneratedSample>(text) ?? throw new InvalidDataException($"stage '{Name}': a null attempt in the record memo"))
        {
            ChunkSize = Config.BatchSize, Describe = a => $"record '{a.Id}'",
        };

        ICompletionGenerator? generator = null;   // opened only when an attempt is not memoised
        var outField = CurateTables.NullableField(Config.OutputColumn, ColumnType.String);
        var features = TableSchema.Get("features");
        long done = 0, skipped = 0;
        try
        {
            // The records with the attempt column added, as a table derived from the input (the texts are not rewritten).
            await using var writer = ctx.DeriveTable(RecordsOutput, reader);
            await foreach (var raw in reader.ReadBatchesAsync(ctx.CancellationToken))
            {
                var batch = CurateTables.EnsureColumns(raw, features);
                var asks = new List<Ask>();
                for (int r = 0; r < batch.Length; r++)
                {
                    if (template.RenderRecord(batch, r, Name) is not { } user) { skipped++; continue; }
                    string prompt = Chat.Prompt(user, Config.SystemPrompt);
                    // A record's seed comes from the base seed and its prompt (evaluate's rule), never from its batch.
                    asks.Add(new Ask(r, batch.GetString("id", r), prompt, EvaluateStage.SampleSeed(Config.Seed, prompt, 0)));
                }
                var answers = await loop.RunAsync(asks, (chunk, ct) =>
                {
                    generator ??= _generators.Open(modelDir, null, ct);
                    return Task.FromResult(generator.Generate(chunk.Select(a => new GenerationRequest(a.Prompt, a.Seed)).ToList(), settings, ct));
                });
                var values = new object?[batch.Length];
                for (int j = 0; j < asks.Count; j++) values[asks[j].Row] = answers[j].Text;
                await writer.WriteRowsAsync(CurateTables.RowNumbers(done, batch.Length),
                    CurateTables.AddedColumns(reader.Schema, features, batch.Length, (outField, CurateTables.BuildArray(outField, values))), ctx.CancellationToken);
                done += batch.Length;
                ctx.ReportProgress(done, reader.RowCount);
            }
            if (done == 0) await writer.WriteRowsAsync([], CurateTables.AddedColumns(reader.Schema, features, 0, (outField, CurateTables.BuildArray(outField, []))), ctx.CancellationToken);
        }
        finally { generator?.Dispose(); }
        ctx.SetMetric("attempt.skipped_missing_input", skipped);
        ctx.Log($"{Name}: {done} records, {loop.Reused} attempts from the record memo, {loop.Computed} generated, {skipped} skipped for missing input");
    }

    sealed record Ask(int Row, string? Id, string Prompt, long Seed);
}
