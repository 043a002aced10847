using System.Text.Json.Nodes;
using IwSft.Cli.Serve;
using IwSft.Gpu.Models;
using IwSft.Pipelines.S1k.Stages;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// The judge on the shared generation client, through the real runner: a checkpoint judging in process (input
/// <c>judge_model</c>) answers exactly what the same checkpoint answers behind <c>iwsft serve</c> to the HTTP judge
/// (chat template, greedy, vLLM's guided choice), its answers are memoised under the checkpoint's content, and a toy
/// model's free text fails clearly instead of becoming a feature.
/// </summary>
public sealed class InProcessJudgeTests() : ToyPoolTest("iwsft-inprocess-judge-", 10)
{
    protected override JsonObject Record(int i) => new()
    {
        ["question"] = $"Question {i}: how many apples are left when {i + 3} of {4 * i + 9} are eaten?", ["solution"] = $"{3 * i + 6}", ["attempt"] = $"{3 * i + 6 - i % 2}",
    };

    static JudgeConfig Config(JudgeKind kind, string template, string column, string baseUrl = "http://127.0.0.1:9", bool guided = true) => new()
    {
        BaseUrl = baseUrl, Model = "toy", Kind = kind, PromptTemplate = template, OutputColumn = column, GuidedChoice = guided, MaxTokens = 24,
        Resilience = new JudgeResilienceConfig { MaxRetryAttempts = 0, AttemptTimeoutSeconds = 3600 },
    };

    static readonly (JudgeKind Kind, string Template, string Column)[] Judges =
    [
        (JudgeKind.Domain, "Classify: {question}", "domain"),
        (JudgeKind.Grading, "Problem: {question}\nReference: {solution}\nAnswer: {attempt}\nCorrect?", "attempt_correct"),
    ];

    /// <summary>ingest → domain judge → grading judge; in process when <paramref name="checkpoint"/> is given, else against <paramref name="baseUrl"/>.</summary>
    Pipeline Build(string? checkpoint, string baseUrl = "http://127.0.0.1:9", bool guided = true, bool gradingOnly = false)
    {
        var p = new Pipeline("judge-inprocess");
        var records = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = Pool, Name = "pool" }] }))["candidates"];
        var model = checkpoint is null ? (OutputRef?)null : p.Add(new ImportModelStage("judge_model", new ImportModelConfig { Path = checkpoint }))[ImportModelStage.ModelOutput];
        foreach (var (kind, template, column) in gradingOnly ? Judges[1..] : Judges)
        {
            var judge = p.Add(new JudgeStage($"judge_{column}", Config(kind, template, column, baseUrl, guided), model is null ? null : new TransformerCompletionGeneratorFactory()));
            judge.From("records", records);
            if (model is { } m) judge.From(JudgeStage.JudgeModelInput, m);
            records = judge["records"];
        }
        return p;
    }

    static async Task<List<(string Id, string? Domain, bool? Correct)>> Features(ArtifactStore store, Pipeline p)
    {
        var rows = new List<(string, string?, bool?)>();
        await foreach (var batch in store.OpenTable(p, "judge_attempt_correct.records").ReadBatchesAsync())
            for (int r = 0; r < batch.Length; r++)
                rows.Add((batch.GetString("id", r)!, batch.HasColumn("domain") ? batch.GetString("domain", r) : null,
                    (bool?)IwSft.Stages.Curate.CurateTables.Cell(batch.Col("attempt_correct"), r)));
        return rows;
    }

    [Fact]
    public async Task In_process_answers_equal_the_same_checkpoint_served_over_the_openai_protocol_with_guided_choice()
    {
        var local = Build(_checkpoint);
        var localStore = new ArtifactStore(Path.Combine(_root, "local-store"));
        var run = await new PipelineRunner(localStore).RunAsync(local);
        Assert.True(run.Succeeded);
        var inProcess = await Features(localStore, local);

        await using var server = await OpenAiServer.StartAsync(ServeCommand.Open(_checkpoint, ModelOptions.Cpu, maxBatch: 4), new ServeOptions { ModelName = "toy", Port = 0 });
        var remote = Build(null, server.BaseAddress.ToString().TrimEnd('/'));
        var remoteStore = new ArtifactStore(Path.Combine(_root, "remote-store"));
        var served = await new PipelineRunner(remoteStore).RunAsync(remote);
        Assert.True(served.Succeeded);
        var overHttp = await Features(remoteStore, remote);

        Assert.Equal(10, inProcess.Count);
        Assert.Equal(overHttp, inProcess);
        // Guided choice: every reply is a label, so every record has both features.
        Assert.All(inProcess, f => Assert.Contains(f.Domain!, JudgeReplyParser.MscClasses));
        Assert.All(inProcess, f => Assert.NotNull(f.Correct));
        Assert.Equal(10, run.Stages["judge_domain"].Metrics["judge.calls"]);
        Assert.Equal(0, run.Stages["judge_domain"].Metrics["judge.unparseable"]);
    }

    [Fact]
    public async Task Answers_are_memoised_under_the_checkpoint_content_so_only_new_records_or_a_new_model_are_judged()
    {
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var first = await new PipelineRunner(store).RunAsync(Build(_checkpoint));
        Assert.True(first.Succeeded);
        Assert.Equal(10, first.Stages["judge_domain"].Metrics[RecordMemoLoop.ComputedMetric]);

        // Two more records: only they are judged (the pool file changed, so ingest and the judges run).
        WritePool(12);
        var grown = await new PipelineRunner(store).RunAsync(Build(_checkpoint));
        Assert.Equal(StageStatus.Ran, grown.Stages["judge_domain"].Status);
        Assert.Equal(2, grown.Stages["judge_domain"].Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.Equal(10, grown.Stages["judge_domain"].Metrics[RecordMemoLoop.ReusedMetric]);

        // Another checkpoint (other weights) in the same place: every answer is asked again.
        ToyModelStage.Write(_checkpoint, seed: 8);
        var swapped = await new PipelineRunner(store).RunAsync(Build(_checkpoint));
        Assert.Equal(12, swapped.Stages["judge_domain"].Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.Equal(12, swapped.Stages["judge_attempt_correct"].Metrics[RecordMemoLoop.ComputedMetric]);
    }

    [Fact]
    public async Task Without_guided_choice_a_toy_models_free_text_fails_naming_the_record_or_becomes_missing_when_asked()
    {
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        // 24 free tokens of a random byte-level model hold no standalone yes/no: the grading judge cannot parse them.
        var failed = await Assert.ThrowsAsync<StageFailedException>(() => new PipelineRunner(store).RunAsync(Build(_checkpoint, guided: false, gradingOnly: true)));
        Assert.Equal("judge_attempt_correct", failed.Stage);
        Assert.Contains("in-process judge's reply for record '", failed.Message);
        Assert.Contains("(no yes/no in the reply)", failed.Message);
        Assert.Contains("guided_choice", failed.Message);

        var missing = await new PipelineRunner(store, new RunOptions { Overrides = ["judge_attempt_correct.unparseable_as_missing=true"] })
            .RunAsync(Build(_checkpoint, guided: false, gradingOnly: true));
        Assert.True(missing.Succeeded);
        var features = await Features(store, Build(_checkpoint, guided: false, gradingOnly: true));
        Assert.Equal(10, features.Count);
        Assert.Equal(10, missing.Stages["judge_attempt_correct"].Metrics["judge.unparseable"]);
        Assert.All(features, f => Assert.Null(f.Correct));
    }

    [Fact]
    public async Task Guided_choice_reaches_a_server_as_structured_outputs_and_off_it_leaves_existing_keys_and_requests_as_they_were()
    {
        var plain = new JudgeStage("j", Config(JudgeKind.Grading, "{question}", "attempt_correct", guided: false));
        var guided = new JudgeStage("j", Config(JudgeKind.Grading, "{question}", "attempt_correct", guided: true));
        var inProcess = new JudgeStage("j", Config(JudgeKind.Grading, "{question}", "attempt_correct", guided: false), new TransformerCompletionGeneratorFactory());
        // Off, guided_choice is in no record key (as before the option); on, it is. No generator factory adds no behaviour entry.
        Assert.False(plain.MemoIdentity()["settings"]!.AsObject().ContainsKey("guided_choice"));
        Assert.True(guided.MemoIdentity()["settings"]!["guided_choice"]!.GetValue<bool>());
        Assert.Empty(plain.MemoIdentity()["behaviour"]!.AsObject());
        Assert.Equal("float32", inProcess.MemoIdentity()["behaviour"]!["generators"]!["identity"]!["dtype"]!.GetValue<string>());

        await using var judge = new IwSft.Stages.Tests.Curate.JudgeTestServer(_ => IwSft.Stages.Tests.Curate.JudgeReply.Content("Yes"));
        WritePool(2);
        foreach (bool on in new[] { false, true })
        {
            var p = new Pipeline("judge-http");
            var records = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = Pool, Name = "pool" }] }))["candidates"];
            p.Add(new JudgeStage("judge", Config(JudgeKind.Grading, "{question}", "attempt_correct", judge.BaseUrl, guided: on))).From("records", records);
            Assert.True((await new PipelineRunner(new ArtifactStore(Path.Combine(_root, $"http-{on}"))).RunAsync(p)).Succeeded);
        }
        var bodies = judge.Requests.Select(r => r.Body.AsObject()).ToList();
        Assert.Equal(4, bodies.Count);
        Assert.Equal(2, bodies.Count(b => !b.ContainsKey("structured_outputs")));
        Assert.All(bodies.Where(b => b.ContainsKey("structured_outputs")),
            b => Assert.Equal("""{"choice":["Yes","No"]}""", b["structured_outputs"]!.ToJsonString()));
    }
}
