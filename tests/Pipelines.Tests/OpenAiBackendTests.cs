using IwSft.Cli.Serve;
using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Evaluate;
using IwSft.Stages.Ingest;

namespace IwSft.Pipelines.Tests;

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

    [Fact]
    public void The_served_model_must_be_the_checkpoint()
    {
        var other = S1kFixtures.WriteTinyModel(Path.Combine(_root, "other"));
        var e = Assert.Throws<InvalidOperationException>(() => Remote().Open(other, null, default));
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
