using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using IwSft.Cli.Serve;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Text;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// <c>iwsft serve</c> over loopback, on the protocol vLLM speaks: what it answers must be what the in-process
/// generator and scorer compute for the same tokens, whatever requests share a batch.
/// </summary>
public sealed class ServeTests : IAsyncLifetime
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-serve-").FullName;
    string _checkpoint = "";
    Transformer _reference = null!;
    HfTokenizer _tokenizer = null!;
    readonly HttpClient _http = new();

    public Task InitializeAsync()
    {
        _checkpoint = S1kFixtures.WriteTinyModel(Path.Combine(_root, "tiny"));
        _reference = Checkpoint.Load(_checkpoint);
        _reference.eval();
        _tokenizer = HfTokenizer.Load(_checkpoint);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        _http.Dispose();
        _reference.Dispose();
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    async Task<OpenAiServer> Start(Func<CancellationToken, Task>? beforeBatch = null) =>
        await OpenAiServer.StartAsync(ServeCommand.Open(_checkpoint, ModelOptions.Cpu, maxBatch: 16),
            new ServeOptions { ModelName = "tiny", Port = 0, BeforeBatch = beforeBatch });

    async Task<(HttpStatusCode Status, JsonObject Body)> Post(OpenAiServer server, string path, object body)
    {
        using var response = await _http.PostAsJsonAsync(new Uri(server.BaseAddress, path), body);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject());
    }

    static int[] Ids(JsonNode? a) => a!.AsArray().Select(x => x!.GetValue<int>()).ToArray();

    [Fact]
    public async Task Greedy_completion_with_logprobs_equals_the_in_process_generator_and_scorer()
    {
        await using var server = await Start();
        const string prompt = "What is 2 + 2?";
        var (status, body) = await Post(server, "v1/completions", new
        {
            model = "tiny", prompt, max_tokens = 10, temperature = 0, logprobs = 2, prompt_logprobs = 1, return_token_ids = true,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = body["choices"]![0]!;

        var promptIds = _tokenizer.EncodeToIds(prompt).ToArray();
        var expected = TokenGenerator.Generate(_reference, [promptIds], new GenerationOptions(10, 0, 1, 0,
            [_tokenizer.SpecialTokens["<|im_end|>"]], _tokenizer.PadId ?? 0))[0];
        Assert.Equal(promptIds, Ids(choice["prompt_token_ids"]));
        Assert.Equal(expected.Tokens, Ids(choice["token_ids"]));
        int textTokens = expected.FinishReason == FinishReason.Stop ? expected.Tokens.Length - 1 : expected.Tokens.Length;
        Assert.Equal(_tokenizer.Decode(expected.Tokens.Take(textTokens)), choice["text"]!.GetValue<string>());
        Assert.Equal(expected.FinishReason, choice["finish_reason"]!.GetValue<string>());

        // Completion log-probs: the scorer's values for the same tokens; greedy picks the most likely token.
        var scored = CompletionScorer.Score(_reference, [(promptIds, expected.Tokens)], batchSize: 1)[0];
        var logprobs = choice["logprobs"]!;
        var values = logprobs["token_logprobs"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray();
        Assert.Equal(scored.Length, values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(scored[i], values[i], 1e-4f);
            var top = logprobs["top_logprobs"]![i]!.AsObject();
            Assert.Equal(values[i], top.Max(kv => kv.Value!.GetValue<float>()), 1e-4f);
        }
        Assert.Equal(expected.Tokens.Select(t => _tokenizer.Decode([t])), logprobs["tokens"]!.AsArray().Select(x => x!.GetValue<string>()));
        var offsets = logprobs["text_offset"]!.AsArray().Select(x => x!.GetValue<int>()).ToArray();
        Assert.Equal(0, offsets[0]);
        for (int i = 1; i < offsets.Length; i++) Assert.Equal(offsets[i - 1] + _tokenizer.Decode([expected.Tokens[i - 1]]).Length, offsets[i]);

        // Prompt log-probs (vLLM's extension): nothing predicts the first token; then each token given the ones before.
        var promptScores = CompletionScorer.Score(_reference, [(promptIds[..1], promptIds[1..])], batchSize: 1)[0];
        var promptLogprobs = choice["prompt_logprobs"]!.AsArray();
        Assert.Equal(promptIds.Length, promptLogprobs.Count);
        Assert.Null(promptLogprobs[0]);
        for (int t = 1; t < promptIds.Length; t++)
        {
            var entry = promptLogprobs[t]![promptIds[t].ToString()]!;
            Assert.Equal(promptScores[t - 1], entry["logprob"]!.GetValue<float>(), 1e-4f);
            Assert.True(entry["rank"]!.GetValue<int>() >= 1);
            Assert.Equal(_tokenizer.Decode([promptIds[t]]), entry["decoded_token"]!.GetValue<string>());
            Assert.InRange(promptLogprobs[t]!.AsObject().Count, 1, 2); // the token itself and the top-1 alternative
        }
        Assert.Equal(promptIds.Length, body["usage"]!["prompt_tokens"]!.GetValue<int>());
        Assert.Equal(expected.Tokens.Length, body["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.Equal("text_completion", body["object"]!.GetValue<string>());
    }

    [Fact]
    public async Task Concurrent_requests_run_as_one_batch_and_each_gets_what_it_gets_alone()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int held = 0;
        await using var server = await Start(async ct => { if (Interlocked.Increment(ref held) == 1) await gate.Task.WaitAsync(ct); });
        string[] prompts = ["One", "Two two", "Three three three", "Four"];
        object Request(int i) => new { model = "tiny", prompt = prompts[i], max_tokens = 6 + i, temperature = 1.0, top_p = 0.9, n = 2, seed = 100 + i };

        var together = Enumerable.Range(0, prompts.Length).Select(i => Post(server, "v1/completions", Request(i))).ToList();
        var watch = Stopwatch.StartNew();
        while (server.Received < prompts.Length)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromMinutes(5), "requests never reached the queue"); // a hang guard, not a speed limit
            await Task.Delay(10);
        }
        gate.SetResult();
        var batched = await Task.WhenAll(together);
        Assert.Equal((1, prompts.Length * 2), server.BatchCounts); // everything queued ran as one batch (n = 2 choices each)

        for (int i = 0; i < prompts.Length; i++)
        {
            var alone = await Post(server, "v1/completions", Request(i));
            Assert.Equal(HttpStatusCode.OK, batched[i].Status);
            var texts = batched[i].Body["choices"]!.AsArray().Select(c => c!["text"]!.GetValue<string>()).ToList();
            Assert.Equal(texts, alone.Body["choices"]!.AsArray().Select(c => c!["text"]!.GetValue<string>()));
            Assert.Equal([0, 1], batched[i].Body["choices"]!.AsArray().Select(c => c!["index"]!.GetValue<int>()));
            Assert.NotEqual(texts[0], texts[1]); // each choice samples from its own seed
        }
        Assert.Equal(1 + prompts.Length, server.BatchCounts.Batches);
    }

    [Fact]
    public async Task Chat_completion_is_the_completion_of_the_chat_template_prompt()
    {
        await using var server = await Start();
        var (status, chat) = await Post(server, "v1/chat/completions", new
        {
            model = "tiny", messages = new[] { new { role = "user", content = "Hi there" } }, max_tokens = 8, temperature = 0, logprobs = true, top_logprobs = 2,
        });
        Assert.Equal(HttpStatusCode.OK, status);
        var rendered = new QwenChatTemplate().Render([ChatMessage.User("Hi there")], addGenerationPrompt: true);
        var (_, plain) = await Post(server, "v1/completions", new
        {
            model = "tiny", prompt = _tokenizer.EncodeToIds(rendered).ToArray(), max_tokens = 8, temperature = 0, return_token_ids = true,
        });
        var message = chat["choices"]![0]!["message"]!;
        Assert.Equal("assistant", message["role"]!.GetValue<string>());
        Assert.Equal(plain["choices"]![0]!["text"]!.GetValue<string>(), message["content"]!.GetValue<string>());
        var content = chat["choices"]![0]!["logprobs"]!["content"]!.AsArray();
        Assert.Equal(Ids(plain["choices"]![0]!["token_ids"]).Length, content.Count);
        Assert.All(content, c =>
        {
            Assert.Equal(2, c!["top_logprobs"]!.AsArray().Count);
            Assert.Equal(Encoding.UTF8.GetBytes(c["token"]!.GetValue<string>()).Select(b => (int)b), c["bytes"]!.AsArray().Select(b => b!.GetValue<int>()));
        });
        Assert.Equal("chat.completion", chat["object"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_stop_string_ends_the_text_before_it()
    {
        await using var server = await Start();
        object Request(string[]? stop) => new { model = "tiny", prompt = "Count: 1 2 3", max_tokens = 16, temperature = 0, stop, return_token_ids = true };
        var (_, free) = await Post(server, "v1/completions", Request(null));
        string text = free["choices"]![0]!["text"]!.GetValue<string>();
        Assert.True(text.Length >= 6, $"the tiny model's greedy text is too short for this test: '{text}'");
        string stop = text.Substring(3, 2);
        int at = text.IndexOf(stop, StringComparison.Ordinal);

        var (status, stopped) = await Post(server, "v1/completions", Request(["never-generated", stop]));
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = stopped["choices"]![0]!;
        Assert.Equal(text[..at], choice["text"]!.GetValue<string>());
        Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
        Assert.Equal(stop, choice["stop_reason"]!.GetValue<string>());
        // The tokens kept are those up to the one that completed the stop string.
        var kept = Ids(choice["token_ids"]);
        Assert.Equal(Ids(free["choices"]![0]!["token_ids"])[..kept.Length], kept);
        Assert.Contains(stop, _tokenizer.Decode(kept));
        Assert.DoesNotContain(stop, _tokenizer.Decode(kept[..^1]));
    }

    [Fact]
    public async Task Models_lists_the_served_name_and_its_context_length()
    {
        await using var server = await Start();
        var models = JsonNode.Parse(await _http.GetStringAsync(new Uri(server.BaseAddress, "v1/models")))!;
        var entry = models["data"]!.AsArray().Single()!;
        Assert.Equal("tiny", entry["id"]!.GetValue<string>());
        Assert.Equal(_reference.Config.MaxPositionEmbeddings, entry["max_model_len"]!.GetValue<int>());
    }

    public static TheoryData<string, int, string, string> BadRequests => new()
    {
        { """{"model": "other", "prompt": "x"}""", 404, "model", "model_not_found" },
        { """{"model": "tiny"}""", 400, "prompt", "400" },
        { """{"prompt": "x", "temperature": -1}""", 400, "temperature", "400" },
        { """{"prompt": "x", "n": 0}""", 400, "n", "400" },
        { """{"prompt": "x", "logprobs": 21}""", 400, "logprobs", "400" },
        { """{"prompt": [1, 2, 999999]}""", 400, "prompt", "400" },
        { """{"prompt": "x", "max_tokens": 100000}""", 400, "prompt", "400" },
        { """{"prompt": "x", "stream": true}""", 400, "stream", "unsupported_parameter" },
        { """{"prompt": "x", "presence_penalty": 0.5}""", 400, "presence_penalty", "unsupported_parameter" },
        { """{"prompt": "x", "echo": true}""", 400, "echo", "unsupported_parameter" },
        { """{"prompt": "x", "stop": 3}""", 400, "stop", "400" },
        { """not json""", 400, "body", "400" },
        { """{"prompt": "x", "structured_outputs": {"json": {"type": "object"}}}""", 400, "structured_outputs.json", "unsupported_parameter" },
        { """{"prompt": "x", "guided_regex": "[0-9]+"}""", 400, "guided_regex", "unsupported_parameter" },
        { """{"prompt": "x", "structured_outputs": {"choice": []}}""", 400, "structured_outputs.choice", "400" },
        { """{"prompt": "x", "guided_choice": ["a", ""]}""", 400, "guided_choice", "400" },
        { """{"prompt": "x", "guided_choice": ["a"], "structured_outputs": {"choice": ["a"]}}""", 400, "guided_choice", "400" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task A_bad_request_is_an_OpenAI_error_naming_the_parameter(string body, int status, string param, string code)
    {
        await using var server = await Start();
        using var response = await _http.PostAsync(new Uri(server.BaseAddress, "v1/completions"), new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(status, (int)response.StatusCode);
        var error = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!;
        Assert.Equal(param, error["param"]!.GetValue<string>());
        Assert.Equal(code, error["code"]!.GetValue<string>());
        Assert.False(string.IsNullOrWhiteSpace(error["message"]!.GetValue<string>()));
        Assert.Equal((0, 0), server.BatchCounts); // refused before it reached the model
    }

    [Fact]
    public async Task Parameters_sent_at_their_neutral_value_are_accepted()
    {
        await using var server = await Start();
        var (status, _) = await Post(server, "v1/completions", new { prompt = "x", max_tokens = 2, presence_penalty = 0, frequency_penalty = 0.0, top_k = -1, logit_bias = new { } });
        Assert.Equal(HttpStatusCode.OK, status);
    }

    [Fact]
    public async Task Guided_choice_answers_what_the_generator_decodes_under_the_same_constraint_in_both_spellings()
    {
        await using var server = await Start();
        string[] choices = ["Yes", "No", "Maybe not"];
        int end = _tokenizer.SpecialTokens["<|im_end|>"];
        foreach (var prompt in new[] { "Is 7 prime?", "Is 8 prime? Think.", "q" })
        {
            var promptIds = _tokenizer.EncodeToIds(prompt).ToArray();
            var expected = TokenGenerator.Generate(_reference, [promptIds], new GenerationOptions(16, 0, 1, 0, [end], _tokenizer.PadId ?? 0,
                Choices: choices.Select(c => _tokenizer.EncodeToIds(c).ToArray()).ToList()))[0];
            Assert.Equal(FinishReason.Stop, expected.FinishReason);
            string expectedText = _tokenizer.Decode(expected.Tokens[..^1]);
            Assert.Contains(expectedText, choices);

            var (status, current) = await Post(server, "v1/completions", new { prompt, max_tokens = 16, temperature = 0, structured_outputs = new { choice = choices } });
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(expectedText, current["choices"]![0]!["text"]!.GetValue<string>());
            Assert.Equal("stop", current["choices"]![0]!["finish_reason"]!.GetValue<string>());
            var (_, legacy) = await Post(server, "v1/completions", new { prompt, max_tokens = 16, temperature = 0, guided_choice = choices });
            Assert.Equal(expectedText, legacy["choices"]![0]!["text"]!.GetValue<string>());
        }
        // Sampled, on chat completions: always one of the choices.
        for (int seed = 0; seed < 6; seed++)
        {
            var (status, chat) = await Post(server, "v1/chat/completions", new
            {
                messages = new[] { new { role = "user", content = "Yes or no?" } }, temperature = 1.5, seed, max_tokens = 16, structured_outputs = new { choice = choices },
            });
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Contains(chat["choices"]![0]!["message"]!["content"]!.GetValue<string>(), choices);
        }
    }

    [Fact]
    public async Task Stop_token_ids_and_min_tokens_reach_the_generator()
    {
        await using var server = await Start();
        const string prompt = "Count: 1 2 3";
        var promptIds = _tokenizer.EncodeToIds(prompt).ToArray();
        int end = _tokenizer.SpecialTokens["<|im_end|>"];
        var free = TokenGenerator.Generate(_reference, [promptIds], new GenerationOptions(12, 0, 1, 0, [end], _tokenizer.PadId ?? 0))[0];
        int stopAt = free.Tokens[1];               // a token greedy decoding produces second: asked to stop there
        foreach (int minTokens in new[] { 0, 4 })
        {
            var expected = TokenGenerator.Generate(_reference, [promptIds], new GenerationOptions(12, 0, 1, 0, [end, stopAt], _tokenizer.PadId ?? 0, MinNewTokens: minTokens))[0];
            var (status, body) = await Post(server, "v1/completions", new
            {
                prompt, max_tokens = 12, temperature = 0, stop_token_ids = new[] { stopAt }, min_tokens = minTokens, return_token_ids = true,
            });
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(expected.Tokens, Ids(body["choices"]![0]!["token_ids"]));
            Assert.Equal(expected.FinishReason, body["choices"]![0]!["finish_reason"]!.GetValue<string>());
        }
        var (_, zero) = await Post(server, "v1/completions", new { prompt, max_tokens = 12, temperature = 0, stop_token_ids = new[] { stopAt }, return_token_ids = true });
        Assert.Equal(stopAt, Ids(zero["choices"]![0]!["token_ids"])[^1]);
    }
}
