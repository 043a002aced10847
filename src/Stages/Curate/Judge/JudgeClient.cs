using IwSft.Runtime.Resilience;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Stages.Curate.Judge;

/// <summary>A failure worth retrying: 408, 429, 5xx, a reply that is not a chat completion. Carries Retry-After.</summary>
public sealed class TransientJudgeException(string message, TimeSpan? retryAfter = null, Exception? inner = null) : Exception(message, inner)
{
    public TimeSpan? RetryAfter { get; } = retryAfter;
}

/// <summary>A failure retrying cannot fix (other 4xx: bad key, bad model, bad request).</summary>
public sealed class PermanentJudgeException(string message) : Exception(message);

/// <summary>The judge's reply text could not be parsed into the feature (retried like a transient failure).</summary>
public sealed class UnparseableReplyException(string message) : Exception(message);

/// <summary>Thrown by the judge stage when a record cannot be scored; cached scores of other records are kept.</summary>
public sealed class JudgeFailedException(string message, Exception inner) : Exception(message, inner);

/// <summary>One OpenAI-compatible chat-completions call, with HTTP outcomes mapped to the exceptions above.</summary>
public sealed class JudgeClient : IDisposable
{
    readonly HttpClient _http;
    readonly JudgeConfig _config;
    readonly string? _apiKey;

    public JudgeClient(JudgeConfig config, string? apiKey)
    {
        _config = config;
        _apiKey = apiKey;
        Endpoint = new Uri(config.BaseUrl.TrimEnd('/') + "/v1/chat/completions");
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = Math.Max(1, config.MaxConcurrency), PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            // Per-attempt timeouts belong to the resilience pipeline.
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    public Uri Endpoint { get; }

    public string RequestBody(string userPrompt)
    {
        var messages = new JsonArray();
        if (_config.SystemPrompt != null) messages.Add(new JsonObject { ["role"] = "system", ["content"] = _config.SystemPrompt });
        messages.Add(new JsonObject { ["role"] = "user", ["content"] = userPrompt });
        var body = new JsonObject
        {
            ["model"] = _config.Model,
            ["messages"] = messages,
            ["temperature"] = _config.Temperature,
            ["max_tokens"] = _config.MaxTokens,
        };
        if (_config.GuidedChoice) body["structured_outputs"] = new JsonObject { ["choice"] = new JsonArray(JudgeReplyParser.Choices(_config.Kind).Select(c => (JsonNode)c).ToArray()) };
        return body.ToJsonString();
    }

    /// <summary>choices[0].message.content of one completion.</summary>
    public async Task<string> CompleteAsync(string userPrompt, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, Endpoint)
        {
            Content = new StringContent(RequestBody(userPrompt), Encoding.UTF8, "application/json"),
        };
        if (_apiKey != null) req.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        HttpResponseMessage? resp = null;
        string body;
        try
        {
            resp = await _http.SendAsync(req, HttpCompletionOption.ResponseContentRead, ct);
            body = await resp.Content.ReadAsStringAsync(ct);
        }
        catch (Exception e) when (e is HttpRequestException or IOException && !ct.IsCancellationRequested)
        {
            resp?.Dispose();
            // Transient (retried); the message names the endpoint and what went wrong on the wire.
            throw new HttpRequestException(e is HttpRequestException h ? h.HttpRequestError : HttpRequestError.ResponseEnded, $"POST {Endpoint}: {Cause(e)}", e);
        }
        using var _ = resp;
        int code = (int)resp.StatusCode;
        if (ServiceResilience.IsTransientStatus(resp.StatusCode))
            throw new TransientJudgeException($"HTTP {code} {resp.ReasonPhrase} from POST {Endpoint}: {Snippet(body)}", ServiceResilience.RetryAfter(resp, DateTimeOffset.UtcNow));
        if (code >= 400)
            throw new PermanentJudgeException($"HTTP {code} {resp.ReasonPhrase} from POST {Endpoint}: {Snippet(body)}");

        JsonNode? root;
        try { root = JsonNode.Parse(body); }
        catch (JsonException e) { throw new TransientJudgeException($"malformed reply from POST {Endpoint} (not JSON: {e.Message}): {Snippet(body)}", null, e); }
        if (root?["choices"] is not JsonArray { Count: > 0 } choices || choices[0]?["message"]?["content"] is not JsonValue content
            || content.GetValueKind() != JsonValueKind.String)
            throw new TransientJudgeException($"malformed reply from POST {Endpoint} (no choices[0].message.content string): {Snippet(body)}");
        return content.GetValue<string>();
    }

    /// <summary>What failed, in words, with the innermost system message (e.g. "Connection reset by peer").</summary>
    static string Cause(Exception e)
    {
        string what = (e as HttpRequestException)?.HttpRequestError switch
        {
            HttpRequestError.ResponseEnded => "the server closed the connection before its response was complete",
            HttpRequestError.ConnectionError => "the connection could not be made or was closed by the server",
            HttpRequestError.NameResolutionError => "the host name could not be resolved",
            HttpRequestError.SecureConnectionError => "the TLS connection could not be established",
            HttpRequestError.InvalidResponse => "the server sent an invalid HTTP response",
            _ => e is IOException ? "the connection broke while the response was read" : "the request failed",
        };
        var inner = e;
        while (inner.InnerException != null) inner = inner.InnerException;
        return $"{what} ({inner.Message})";
    }

    static string Snippet(string body) => body.Length <= 300 ? body : body[..300] + "…";

    public void Dispose() => _http.Dispose();
}
