using IwSft.Cli.Serve;
using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;
using IwSft.Stages.OpenAi;
using IwSft.Stages.Training;

namespace IwSft.Pipelines.Tests;

/// <summary>Writes a fixed <c>sequences</c> table (token ids of the tiny model's byte vocabulary).</summary>
public sealed class WriteSequencesStage(string name) : Stage<WriteSequencesStage.Settings>(name)
{
    public sealed class Settings { public int Count { get; set; } = 5; }
    public override string Kind => "test.write-sequences";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("sequences", "sequences")];

    public override async Task RunAsync(IStageContext ctx)
    {
        var b = new BatchBuilder(TableSchema.Get("sequences"));
        for (int i = 0; i < Config.Count; i++)
        {
            int[] ids = System.Text.Encoding.UTF8.GetBytes($"Question {i}: what is {i} + {i}? Answer: {2 * i}.").Select(x => (int)x).ToArray();
            int start = ids.Length - 3 - i % 2;
            b.Set("id", $"s{i}").Set("input_ids", ids).Set("completion_start", start).Set("num_tokens", ids.Length).Set("prompt_tokens", start)
             .Set("completion_tokens", ids.Length - start).Set("full_tokens", ids.Length).Set("truncated", false).Set("sampling_weight", 1f).EndRow();
        }
        await using var w = ctx.WriteTable("sequences");
        await w.WriteAsync(b.Build(), ctx.CancellationToken);
    }
}

/// <summary>
/// The <c>openai</c> generation backend against <c>iwsft serve</c> over loopback: the same protocol as vLLM, and the
/// same samples as the in-process backend, because both run the same model with the same per-request seeds.
/// </summary>
public sealed class OpenAiBackendTests : IAsyncLifetime
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-openai-backend-").FullName;
    string _checkpoint = "";
    OpenAiServer _server = null!;

    public async Task InitializeAsync()
    {
        _checkpoint = S1kFixtures.WriteTinyModel(Path.Combine(_root, "tiny"));
        _server = await OpenAiServer.StartAsync(ServeCommand.Open(_checkpoint, ModelOptions.Cpu, maxBatch: 4),
            new ServeOptions { ModelName = "tiny", Root = _checkpoint, Port = 0 });
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    OpenAiCompletionGeneratorFactory Remote(string? model = null) =>
        new(new OpenAiGenerationConfig { BaseUrl = _server.BaseAddress.ToString(), Model = model, MaxConcurrency = 3 });

    static readonly GenerationRequest[] Requests =
    [
        new("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", 11),
        new("Hi", 12),
        new("A longer prompt, so that batches need padding.", 13),
        new("Hi", 14),
    ];

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void Samples_over_the_server_equal_the_in_process_samples(double temperature)
    {
        var settings = new GenerationSettings { MaxNewTokens = 12, Temperature = temperature, TopP = temperature > 0 ? 0.9 : 1.0 };
        using var local = new TransformerCompletionGeneratorFactory().Open(_checkpoint, null, default);
        using var remote = Remote().Open(_checkpoint, null, default);
        var expected = local.Generate(Requests, settings, default);
        Assert.Equal(expected, remote.Generate(Requests, settings, default));
        if (temperature > 0) Assert.NotEqual(expected[1], expected[3]); // same prompt, other seed: the seed reached the server
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void Budget_forced_samples_over_the_server_equal_the_in_process_ones(double temperature)
    {
        var config = new BudgetForcingConfig { MaxThinkingTokens = 20, IgnoreEndOfThinking = 3, ThinkingStopTokens = ["<|im_start|>"] };
        var settings = new GenerationSettings { MaxNewTokens = 8, Temperature = temperature };
        using var local = new BudgetForcingGenerator(new TransformerCompletionGeneratorFactory().Open(_checkpoint, null, default), config, _ => 0);
        using var remote = new BudgetForcingGenerator(Remote().Open(_checkpoint, null, default), config, _ => 0);
        var expected = local.Generate(Requests, settings, default);
        Assert.Equal(expected, remote.Generate(Requests, settings, default));
        Assert.All(expected, e => Assert.StartsWith("<|im_start|>think", e.Text));
        Assert.All(expected, e => Assert.Contains("<|im_start|>answer", e.Text));
        // An exhausted budget closes with "Final Answer:"; sampled, some row also ends its thinking itself and gets "Wait"
        // (greedy, the random model repeats one character and never does).
        Assert.Contains(expected, e => e.Text.Contains("<|im_start|>answer\nFinal Answer:", StringComparison.Ordinal));
        if (temperature > 0) Assert.Contains(expected, e => e.Text.Contains("Wait", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_batch_evaluation_over_one_server_per_checkpoint_equals_the_in_process_one()
    {
        var other = IwSft.Pipelines.S1k.Stages.ToyModelStage.Write(Path.Combine(_root, "other-eval"), seed: 11);
        await using var otherServer = await OpenAiServer.StartAsync(ServeCommand.Open(other, ModelOptions.Cpu, maxBatch: 4),
            new ServeOptions { ModelName = "other", Root = other, Port = 0 });
        var items = Path.Combine(_root, "items.jsonl");
        File.WriteAllLines(items, Enumerable.Range(0, 5).Select(i => $$"""{"problem": "What is {{i}} + {{i}}?", "answer": "{{2 * i}}"}"""));

        async Task<List<string>> Evaluate(ICompletionGeneratorFactory generators, string store)
        {
            var p = new Pipeline("eval-servers");
            var bench = p.Add(new IngestStage("bench", new IngestConfig { Mode = IngestMode.Benchmark, Sources = [new IngestSource { Path = items, Name = "sums", Question = "problem" }] }));
            p.Add(new EvaluateStage("evaluate", generators, new EvaluateConfig { MaxNewTokens = 10, Temperature = 1.0, SamplesPerItem = 2, BatchSize = 4 }))
                .AddExternalCheckpoint("first", _checkpoint).AddExternalCheckpoint("second", other)
                .From(EvaluateStage.ItemsInput, bench[bench.MainOutput]);
            var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, store)));
            Assert.True((await runner.RunAsync(p)).Succeeded);
            var rows = new List<string>();
            await foreach (var b in runner.Store.OpenTable(p, "evaluate.results").ReadBatchesAsync())
                for (int i = 0; i < b.Length; i++)
                    rows.Add($"{b.GetString("checkpoint", i)} {b.GetString("item_id", i)} {b.GetString("response", i)} {b.GetString("extracted", i)}");
            return rows;
        }

        var local = await Evaluate(new TransformerCompletionGeneratorFactory(), "eval-local");
        // The other checkpoint's server first: each checkpoint goes to the server whose /v1/models root it is.
        var servers = new[] { otherServer.BaseAddress, _server.BaseAddress }.Select(u => new OpenAiGenerationConfig { BaseUrl = u.ToString(), MaxConcurrency = 2 }).ToList();
        var served = await Evaluate(new OpenAiServersGeneratorFactory(servers), "eval-served");
        Assert.Equal(20, local.Count);
        Assert.Equal(local, served);

        var missing = await Assert.ThrowsAsync<StageFailedException>(() => Evaluate(new OpenAiServersGeneratorFactory([servers[0]]), "eval-missing"));
        Assert.Contains($"no configured server serves checkpoint {Path.GetFullPath(_checkpoint)}", missing.Message);
    }

    [Fact]
    public async Task Reference_log_probs_over_the_server_equal_the_in_process_ones()
    {
        async Task<Dictionary<string, float[]>> Run(ReferenceLogProbConfig config, string store)
        {
            var p = new Pipeline("ref-openai");
            var sequences = p.Add(new WriteSequencesStage("sequences"));
            var model = p.Add(new ImportModelStage("reference", new ImportModelConfig { Path = _checkpoint }));
            p.Add(new ReferenceLogProbStage("ref_logprobs", config))
                .From("sequences", sequences["sequences"]).From("reference_model", model[ImportModelStage.ModelOutput]);
            var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, store)));
            var run = await runner.RunAsync(p);
            Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));
            var values = new Dictionary<string, float[]>();
            await foreach (var b in runner.Store.OpenTable(p, "ref_logprobs.ref_logprobs").ReadBatchesAsync())
                for (int i = 0; i < b.Length; i++) values[b.GetString("id", i)!] = b.GetFloatList("ref_logprobs", i)!;
            return values;
        }

        var local = await Run(new ReferenceLogProbConfig(), "local");
        // The served model is found by its root: the import stage's copy in the store is not what the server serves,
        // so the model is named.
        var remote = await Run(new ReferenceLogProbConfig { Server = new OpenAiGenerationConfig { BaseUrl = _server.BaseAddress.ToString(), Model = "tiny" } }, "remote");
        Assert.Equal(5, local.Count);
        Assert.Equal(local.Keys.Order(), remote.Keys.Order());
        foreach (var (id, expected) in local)
        {
            Assert.Equal(expected.Length, remote[id].Length);
            for (int j = 0; j < expected.Length; j++) Assert.Equal(expected[j], remote[id][j], 1e-4f);
        }
    }

    [Fact]
    public async Task The_servers_address_and_concurrency_stay_out_of_the_record_keys_and_the_backend_does_not()
    {
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, "knobs")));
        Pipeline Build(ReferenceLogProbConfig config)
        {
            var p = new Pipeline("ref-knobs");
            var sequences = p.Add(new WriteSequencesStage("sequences"));
            var model = p.Add(new ImportModelStage("reference", new ImportModelConfig { Path = _checkpoint }));
            p.Add(new ReferenceLogProbStage("ref_logprobs", config))
                .From("sequences", sequences["sequences"]).From("reference_model", model[ImportModelStage.ModelOutput]);
            return p;
        }
        async Task<(double Reused, double Computed)> Run(ReferenceLogProbConfig config)
        {
            var r = await runner.RunAsync(Build(config));
            Assert.True(r.Succeeded, string.Join("; ", r.Stages.Values.Select(s => s.Error)));
            var m = r.Stages["ref_logprobs"].Metrics;
            return (m[RecordMemoLoop.ReusedMetric], m[RecordMemoLoop.ComputedMetric]);
        }

        Assert.Equal((0, 5), await Run(new ReferenceLogProbConfig()));
        // Another backend: the in-process values are not reused for the server.
        var served = new OpenAiGenerationConfig { BaseUrl = _server.BaseAddress.ToString(), Model = "tiny", MaxConcurrency = 2 };
        Assert.Equal((0, 5), await Run(new ReferenceLogProbConfig { Server = served }));
        // Same server behind another address spelling, other concurrency and retries: every record reused.
        var moved = new OpenAiGenerationConfig
        {
            BaseUrl = _server.BaseAddress.ToString().Replace("127.0.0.1", "localhost"), Model = "tiny", MaxConcurrency = 7,
            Resilience = new IwSft.Runtime.Resilience.ServiceResilienceOptions { MaxRetryAttempts = 1 },
        };
        Assert.Equal((5, 0), await Run(new ReferenceLogProbConfig { Server = moved }));
        // Back in process: its own records are still there.
        Assert.Equal((5, 0), await Run(new ReferenceLogProbConfig { BatchSize = 2 }));
    }

    [Fact]
    public void The_served_model_must_be_the_checkpoint()
    {
        var other = S1kFixtures.WriteTinyModel(Path.Combine(_root, "other"));
        var e = Assert.Throws<CheckpointNotServedException>(() => Remote().Open(other, null, default));
        Assert.Contains($"none of them checkpoint {other}", e.Message);
        Assert.Contains("'tiny' (root " + _checkpoint + ")", e.Message);

        var named = Assert.Throws<InvalidOperationException>(() => Remote("llama").Open(_checkpoint, null, default));
        Assert.Contains("does not serve model 'llama'", named.Message);
        using var byName = Remote("tiny").Open(other, null, default); // named explicitly: the user vouches for it
    }

    [Fact]
    public async Task A_server_with_another_tokenizer_is_an_error_naming_both_texts()
    {
        // The same weights behind a vocabulary whose byte tokens are reversed: ids mean other text there.
        var swapped = S1kFixtures.WriteTinyModel(Path.Combine(_root, "swapped"));
        var vocab = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(swapped, "vocab.json")))!.AsObject();
        var reversed = new System.Text.Json.Nodes.JsonObject();
        foreach (var (symbol, id) in vocab) reversed[symbol] = 255 - id!.GetValue<int>();
        File.WriteAllText(Path.Combine(swapped, "vocab.json"), reversed.ToJsonString());
        await using var server = await OpenAiServer.StartAsync(ServeCommand.Open(swapped, ModelOptions.Cpu, maxBatch: 4),
            new ServeOptions { ModelName = "tiny", Root = swapped, Port = 0 });
        var factory = new OpenAiCompletionGeneratorFactory(new OpenAiGenerationConfig { BaseUrl = server.BaseAddress.ToString(), Model = "tiny" });
        using var remote = factory.Open(_checkpoint, null, default);
        var e = Assert.Throws<InvalidOperationException>(() => remote.Generate([new GenerationRequest("Hello there", 1)], new GenerationSettings { MaxNewTokens = 12 }, default));
        Assert.Contains("request 0: tokenizer mismatch", e.Message);
    }

    [Fact]
    public void The_key_names_the_backend_and_not_the_address()
    {
        var a = Remote().KeyIdentity().ToJsonString();
        var b = new OpenAiCompletionGeneratorFactory(new OpenAiGenerationConfig { BaseUrl = "http://10.0.0.1:9", MaxConcurrency = 64 }).KeyIdentity().ToJsonString();
        Assert.Equal(a, b);
        Assert.NotEqual(a, new TransformerCompletionGeneratorFactory().KeyIdentity().ToJsonString());
        Assert.NotEqual(a, Remote("tiny").KeyIdentity().ToJsonString());
    }

    [Fact]
    public async Task An_evaluate_stage_over_the_server_writes_the_rows_of_the_in_process_run()
    {
        var items = Path.Combine(_root, "bench.jsonl");
        File.WriteAllLines(items, ["{\"question\": \"What is 6 times 7?\", \"answer\": \"42\"}", "{\"question\": \"What is 1 plus 1?\", \"answer\": \"2\"}"]);
        Pipeline Build(ICompletionGeneratorFactory generators)
        {
            var p = new Pipeline("eval-openai");
            var bench = p.Add(new IngestStage("bench", new IngestConfig { Mode = IngestMode.Benchmark, Sources = [new IngestSource { Path = items, Name = "toy" }] }));
            var evaluate = p.Add(new EvaluateStage("evaluate", generators, new EvaluateConfig { SamplesPerItem = 2, Temperature = 1, MaxNewTokens = 8 }));
            evaluate.From(EvaluateStage.ItemsInput, bench[bench.MainOutput]);
            evaluate.AddExternalCheckpoint("tiny", _checkpoint);
            return p;
        }

        async Task<List<string>> Rows(ICompletionGeneratorFactory generators, string store)
        {
            var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_root, store)));
            var p = Build(generators);
            var run = await runner.RunAsync(p);
            Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));
            var rows = new List<string>();
            await foreach (var b in runner.Store.OpenTable(p, "evaluate." + EvaluateStage.ResultsOutput).ReadBatchesAsync())
                for (int i = 0; i < b.Length; i++) rows.Add($"{b.GetString("item_id", i)}/{b.GetInt32("sample", i)}: {b.GetString("response", i)} ({b.GetInt32("tokens", i)})");
            return rows;
        }

        var local = await Rows(new TransformerCompletionGeneratorFactory(), "local");
        Assert.Equal(4, local.Count);
        Assert.Equal(local, await Rows(Remote(), "remote"));
    }
}
