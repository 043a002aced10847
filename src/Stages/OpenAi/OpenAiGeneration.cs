using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using IwSft.Runtime.Resilience;
using IwSft.Text;
using Polly;

using IwSft.Stages.Evaluate;

namespace IwSft.Stages.OpenAi;

/// <summary>Where the generations come from when they come from a server speaking the OpenAI protocol (vLLM, SGLang, <c>iwsft serve</c>).</summary>
public sealed class OpenAiGenerationConfig
{
    /// <summary>The server's address, without <c>/v1</c>.</summary>
    public string BaseUrl { get; set; } = "http://127.0.0.1:8000";
    /// <summary>The served model to ask; null: the one whose <c>/v1/models</c> <c>root</c> is the checkpoint directory.</summary>
    public string? Model { get; set; }
    /// <summary>Environment variable holding an API key (null: none, e.g. a local server).</summary>
    public string? ApiKeyEnv { get; set; }
    public int MaxConcurrency { get; set; } = 16;
    public ServiceResilienceOptions Resilience { get; set; } = new();
}

/// <summary>A reply worth retrying (408, 429, 5xx, a reply that is not a completion), with the server's Retry-After.</summary>
public sealed class TransientGenerationException(string message, TimeSpan? retryAfter = null) : Exception(message)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>A server answered <c>/v1/models</c>, but none of its models is the checkpoint asked for.</summary>
public sealed class CheckpointNotServedException(string message) : InvalidOperationException(message);

/// <summary>
/// One client of an OpenAI-compatible server: the HTTP client, the engine's service resilience pipeline (retries with
/// jitter, Retry-After, attempt timeout, circuit breaker) and the check that the served model is the checkpoint.
/// </summary>
public sealed class OpenAiConnection : IDisposable
{
    static readonly ServiceFailures Failures = new()
    {
        IsTransient = e => e is TransientGenerationException or HttpRequestException,
        CountsAgainstService = e => e is TransientGenerationException or HttpRequestException,
        RetryAfter = e => (e as TransientGenerationException)?.RetryAfter,
    };

    readonly HttpClient _http;
    readonly ResiliencePipeline _resilience;

    public OpenAiConnection(OpenAiGenerationConfig config, TimeProvider? time = null)
    {
        Config = config;
        // Per-attempt timeouts belong to the resilience pipeline.
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Math.Max(1, config.MaxConcurrency) })
        {
            BaseAddress = new Uri(config.BaseUrl.TrimEnd('/') + "/"), Timeout = Timeout.InfiniteTimeSpan,
        };
        if (config.ApiKeyEnv is { } env)
        {
            var key = Environment.GetEnvironmentVariable(env);
            if (key is null) { _http.Dispose(); throw new InvalidOperationException($"environment variable {env} (the API key of {config.BaseUrl}) is not set"); }
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        }
        _resilience = ServiceResilience.Create(config.Resilience, Failures, time: time);
    }

    public OpenAiGenerationConfig Config { get; }

    /// <summary>Runs <paramref name="work"/> over the items with at most <see cref="OpenAiGenerationConfig.MaxConcurrency"/> requests in flight; results in item order.</summary>
    public async Task<TResult[]> ForEachAsync<TItem, TResult>(IReadOnlyList<TItem> items, Func<int, TItem, CancellationToken, Task<TResult>> work, CancellationToken ct)
    {
        using var slots = new SemaphoreSlim(Math.Max(1, Config.MaxConcurrency));
        return await Task.WhenAll(items.Select(async (item, i) =>
        {
            await slots.WaitAsync(ct);
            try { return await work(i, item, ct); }
            finally { slots.Release(); }
        }));
    }

    /// <summary>The served model to ask for <paramref name="checkpointDirectory"/>: the configured one, or the one whose <c>root</c> is that directory.</summary>
    public string ResolveModel(string checkpointDirectory, CancellationToken ct)
    {
        string checkpoint = Path.GetFullPath(checkpointDirectory).TrimEnd('/');
        var models = SendAsync(HttpMethod.Get, "v1/models", null, ct).GetAwaiter().GetResult();
        var served = (models["data"] as JsonArray ?? throw new InvalidOperationException($"{Config.BaseUrl}/v1/models: no 'data' list"))
            .Select(m => (Id: m?["id"]?.GetValue<string>() ?? "", Root: m?["root"]?.GetValue<string>())).ToList();
        string listed = string.Join(", ", served.Select(m => $"'{m.Id}' (root {m.Root ?? "none"})"));
        if (Config.Model is { } named)
            return served.Any(m => m.Id == named) ? named : throw new InvalidOperationException($"{Config.BaseUrl} does not serve model '{named}'; it serves {listed}");
        var match = served.Where(m => m.Root is { } r && Path.GetFullPath(r).TrimEnd('/') == checkpoint).ToList();
        return match.Count == 1 ? match[0].Id : throw new CheckpointNotServedException(
            $"{Config.BaseUrl} serves {listed}, none of them checkpoint {checkpoint}: serve it there (iwsft serve DIR, vllm serve DIR) or name the model to ask ('model')");
    }

    /// <summary>One call: 408/429/5xx and non-JSON replies are retried (honouring Retry-After); other 4xx fail at once.</summary>
    public async Task<JsonNode> SendAsync(HttpMethod method, string path, JsonObject? body, CancellationToken ct)
    {
        var uri = new Uri(_http.BaseAddress!, path);
        return await _resilience.ExecuteAsync(async token =>
        {
            using var request = new HttpRequestMessage(method, uri);
            if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = await _http.SendAsync(request, token);
            string text = await response.Content.ReadAsStringAsync(token);
            string where = $"{method} {uri}";
            if (ServiceResilience.IsTransientStatus(response.StatusCode))
                throw new TransientGenerationException($"HTTP {(int)response.StatusCode} from {where}: {Snippet(text)}", ServiceResilience.RetryAfter(response, DateTimeOffset.UtcNow));
            if ((int)response.StatusCode >= 400)
                throw new InvalidOperationException($"HTTP {(int)response.StatusCode} from {where}: {Snippet(text)}");
            try { return JsonNode.Parse(text) ?? throw new TransientGenerationException($"empty reply from {where}"); }
            catch (JsonException e) { throw new TransientGenerationException($"reply from {where} is not JSON ({e.Message}): {Snippet(text)}"); }
        }, ct);
    }

    /// <summary>vLLM's guided choice (its <c>structured_outputs</c> extension since 0.12; older servers named it <c>guided_choice</c>).</summary>
    public static JsonObject GuidedChoice(IEnumerable<string> choices) =>
        new() { ["choice"] = new JsonArray(choices.Select(c => (JsonNode)c).ToArray()) };

    public static string Snippet(string body) => body.Length <= 300 ? body : body[..300] + "…";

    public void Dispose() => _http.Dispose();
}

/// <summary>
/// Generations from an OpenAI-compatible server (<c>/v1/completions</c>). The prompt goes as token ids of the
/// checkpoint's own tokenizer, so the server cannot tokenise it differently, and the ids it returns
/// (<c>return_token_ids</c>, vLLM's and <c>iwsft serve</c>'s extension) must decode locally to the text it returns:
/// a server running another tokenizer is an error, not a silent skew. The served model must be this checkpoint
/// (<see cref="OpenAiConnection.ResolveModel"/>). Each request carries its own seed and n = 1, so a sample is the
/// same whatever else the server is batching.
/// </summary>
public sealed class OpenAiCompletionGeneratorFactory(OpenAiGenerationConfig config, TimeProvider? time = null) : ICompletionGeneratorFactory
{
    public ICompletionGenerator Open(string checkpointDirectory, string? tokenizerDirectory, CancellationToken cancellationToken) =>
        Open(config, time, checkpointDirectory, tokenizerDirectory, cancellationToken);

    internal static ICompletionGenerator Open(OpenAiGenerationConfig config, TimeProvider? time, string checkpointDirectory, string? tokenizerDirectory, CancellationToken cancellationToken)
    {
        var tokenizer = HfTokenizer.Load(tokenizerDirectory ?? checkpointDirectory);
        var connection = new OpenAiConnection(config, time);
        try { return new OpenAiCompletionGenerator(connection, connection.ResolveModel(checkpointDirectory, cancellationToken), tokenizer); }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    /// <summary>The backend decides the text (the server's kernels and dtype), so it is part of the key; the address, concurrency and retries are not.</summary>
    public JsonNode KeyIdentity() => new JsonObject { ["backend"] = "openai", ["model"] = config.Model };

    sealed class OpenAiCompletionGenerator(OpenAiConnection connection, string model, HfTokenizer tokenizer) : ICompletionGenerator
    {
        public IReadOnlyList<GeneratedSample> Generate(IReadOnlyList<GenerationRequest> requests, GenerationSettings settings, CancellationToken cancellationToken) =>
            connection.ForEachAsync(requests, (i, r, ct) => CompleteAsync(i, r, settings, ct), cancellationToken).GetAwaiter().GetResult();

        async Task<GeneratedSample> CompleteAsync(int index, GenerationRequest request, GenerationSettings settings, CancellationToken ct)
        {
            var ids = tokenizer.EncodeToIds(request.Prompt);
            var body = new JsonObject
            {
                ["model"] = model, ["prompt"] = new JsonArray(ids.Select(id => (JsonNode)id).ToArray()), ["max_tokens"] = settings.MaxNewTokens,
                ["temperature"] = settings.Temperature, ["top_p"] = settings.TopP, ["seed"] = request.Seed, ["n"] = 1, ["return_token_ids"] = true,
            };
            if (settings.Choices is { } guided) body["structured_outputs"] = OpenAiConnection.GuidedChoice(guided);
            var extraStops = StopIds(settings);
            if (extraStops.Length > 0)
            {
                body["stop_token_ids"] = new JsonArray(extraStops.Select(id => (JsonNode)id).ToArray());
                body["skip_special_tokens"] = false;    // the text is continued by the caller (budget forcing), so keep it whole
            }
            if (settings.MinNewTokens > 0) body["min_tokens"] = settings.MinNewTokens;
            string server = connection.Config.BaseUrl;
            var reply = await connection.SendAsync(HttpMethod.Post, "v1/completions", body, ct);
            if (reply["choices"] is not JsonArray { Count: > 0 } choices || choices[0]?["text"] is not JsonValue text || text.GetValueKind() != JsonValueKind.String)
                throw new InvalidOperationException($"request {index}: the reply of {server}/v1/completions has no choices[0].text");
            string completion = text.GetValue<string>();
            if (choices[0]!["token_ids"] is not JsonArray tokenIds)
                throw new InvalidOperationException($"request {index}: {server} returned no token_ids (return_token_ids), so its tokenisation cannot be checked");
            var generated = tokenIds.Select(t => t!.GetValue<int>()).ToArray();
            // Servers differ only in whether special tokens inside the text are kept (iwsft serve, like the in-process
            // backend) or skipped (vLLM's default); the stop token that ended generation is never text.
            string kept = tokenizer.Decode(EndsInStop(generated, extraStops) ? generated[..^1] : generated), skipped = tokenizer.Decode(generated, skipSpecial: true);
            if (completion != kept && completion != skipped)
                throw new InvalidOperationException(
                    $"request {index}: tokenizer mismatch: {server} answered '{OpenAiConnection.Snippet(completion)}' but its token ids decode to '{OpenAiConnection.Snippet(kept)}' with the checkpoint's tokenizer");
            string? finish = choices[0]!["finish_reason"] is JsonValue f && f.GetValueKind() == JsonValueKind.String ? f.GetValue<string>() : null;
            return new GeneratedSample(completion, generated.Length, finish);
        }

        int[] StopIds(GenerationSettings settings) => (settings.StopTokens ?? []).Select(t => tokenizer.SpecialTokens.TryGetValue(t, out var id) ? id
            : throw new ArgumentException($"stop token '{t}' is not a special token of the checkpoint's tokenizer")).ToArray();

        bool EndsInStop(int[] ids, int[] extraStops) => ids.Length > 0 && (tokenizer.SpecialTokens.TryGetValue(tokenizer.EosToken, out var eos) && ids[^1] == eos
            || tokenizer.SpecialTokens.TryGetValue(QwenChatTemplate.ImEnd, out var end) && ids[^1] == end || extraStops.Contains(ids[^1]));

        public void Dispose() => connection.Dispose();
    }
}

/// <summary>
/// Several OpenAI-compatible servers, one model each (vLLM serves one checkpoint per process): each checkpoint is
/// generated on the server whose <c>/v1/models</c> lists it as <c>root</c>, so a batch evaluation of a base and a trained
/// model can use one server per checkpoint. The servers' addresses and settings decide nothing (not in any key).
/// </summary>
public sealed class OpenAiServersGeneratorFactory(IReadOnlyList<OpenAiGenerationConfig> servers, TimeProvider? time = null) : ICompletionGeneratorFactory
{
    public ICompletionGenerator Open(string checkpointDirectory, string? tokenizerDirectory, CancellationToken cancellationToken)
    {
        if (servers.Count == 0) throw new InvalidOperationException("no servers configured");
        var misses = new List<string>();
        foreach (var server in servers)
        {
            try { return OpenAiCompletionGeneratorFactory.Open(server, time, checkpointDirectory, tokenizerDirectory, cancellationToken); }
            catch (CheckpointNotServedException e) { misses.Add(e.Message); }
        }
        throw new InvalidOperationException($"no configured server serves checkpoint {Path.GetFullPath(checkpointDirectory)}: {string.Join("; ", misses)}");
    }

    /// <summary>Like one server's: the backend decides the text; which server holds which checkpoint does not.</summary>
    public JsonNode KeyIdentity() => new JsonObject { ["backend"] = "openai", ["model"] = null };
}
