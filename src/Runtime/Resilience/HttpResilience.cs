using System.Net;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace IwSft.Runtime.Resilience;

/// <summary>Resilience settings for stages that call HTTP services (an LLM endpoint, a grader).</summary>
public sealed record HttpResilienceOptions
{
    /// <summary>Retries after the first attempt.</summary>
    public int MaxRetryAttempts { get; init; } = 5;
    /// <summary>First backoff delay; doubles each retry (exponential), with jitter.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);
    public bool UseJitter { get; init; } = true;
    /// <summary>Use the server's Retry-After (429/503) instead of the computed backoff, capped at <see cref="MaxDelay"/>.</summary>
    public bool HonourRetryAfter { get; init; } = true;
    /// <summary>Timeout of one attempt.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>Circuit breaker: open when this share of calls in the sampling window failed...</summary>
    public double FailureRatio { get; init; } = 0.5;
    /// <summary>...and at least this many calls were made in it.</summary>
    public int MinimumThroughput { get; init; } = 10;
    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long the circuit stays open before a trial call.</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(30);
}

/// <summary>A call that failed for good (retries exhausted, circuit open, or a non-retryable status).</summary>
public sealed class ServiceCallException(string message, HttpStatusCode? status, Exception? inner = null) : Exception(message, inner)
{
    public HttpStatusCode? Status { get; } = status;
}

/// <summary>
/// Builds the Polly pipeline used around HTTP calls: retry (exponential backoff + jitter, honouring
/// Retry-After) → circuit breaker → per-attempt timeout. Retries transient outcomes only: network errors,
/// attempt timeouts, 408, 429 and 5xx.
/// </summary>
public static class HttpResilience
{
    public static bool IsTransient(HttpResponseMessage r) =>
        r.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)r.StatusCode >= 500;

    /// <summary>The server-requested delay (Retry-After as seconds or an HTTP date), if any.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage r, DateTimeOffset? now = null)
    {
        var h = r.Headers.RetryAfter;
        if (h is null) return null;
        if (h.Delta is { } d) return d < TimeSpan.Zero ? TimeSpan.Zero : d;
        if (h.Date is { } date)
        {
            var wait = date - (now ?? DateTimeOffset.UtcNow);
            return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
        }
        return null;
    }

    public static ResiliencePipeline<HttpResponseMessage> Create(HttpResilienceOptions? options = null, TimeProvider? time = null)
    {
        var o = options ?? new HttpResilienceOptions();
        var handle = new PredicateBuilder<HttpResponseMessage>()
            .Handle<HttpRequestException>()
            .Handle<TimeoutRejectedException>()
            .HandleResult(IsTransient);
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (time != null) builder.TimeProvider = time;
        if (o.MaxRetryAttempts > 0)
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = handle,
                MaxRetryAttempts = o.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = o.UseJitter,
                Delay = o.BaseDelay,
                MaxDelay = o.MaxDelay,
                DelayGenerator = args =>
                {
                    TimeSpan? d = o.HonourRetryAfter && args.Outcome.Result is { } r && RetryAfter(r) is { } ra
                        ? (ra > o.MaxDelay ? o.MaxDelay : ra) : null;
                    return ValueTask.FromResult(d);
                },
                OnRetry = args =>
                {
                    args.Outcome.Result?.Dispose(); // the failed response is not returned to anyone
                    return ValueTask.CompletedTask;
                },
            });
        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions<HttpResponseMessage>
            {
                ShouldHandle = handle,
                FailureRatio = o.FailureRatio,
                MinimumThroughput = o.MinimumThroughput,
                SamplingDuration = o.SamplingDuration,
                BreakDuration = o.BreakDuration,
            })
            .AddTimeout(o.AttemptTimeout)
            .Build();
    }

    /// <summary>
    /// Sends a request through <paramref name="pipeline"/> (a fresh request per attempt) and returns a
    /// successful response; anything else becomes a <see cref="ServiceCallException"/> with a clear message.
    /// </summary>
    public static async Task<HttpResponseMessage> SendAsync(HttpClient client, Func<HttpRequestMessage> request,
        ResiliencePipeline<HttpResponseMessage> pipeline, CancellationToken ct = default)
    {
        int attempts = 0;
        string target;
        using (var first = request()) target = $"{first.Method} {first.RequestUri}";
        HttpResponseMessage response;
        try
        {
            response = await pipeline.ExecuteAsync(async token =>
            {
                attempts++;
                using var req = request();
                return await client.SendAsync(req, HttpCompletionOption.ResponseContentRead, token);
            }, ct);
        }
        catch (BrokenCircuitException e)
        {
            throw new ServiceCallException($"{target}: circuit open after repeated failures ({e.Message}); not calling the service until it recovers", null, e);
        }
        catch (TimeoutRejectedException e)
        {
            throw new ServiceCallException($"{target}: timed out on each of {attempts} attempt(s)", null, e);
        }
        catch (HttpRequestException e)
        {
            throw new ServiceCallException($"{target}: request failed after {attempts} attempt(s): {e.Message}", e.StatusCode, e);
        }
        if (response.IsSuccessStatusCode) return response;
        var status = response.StatusCode;
        string body = "";
        try { body = await response.Content.ReadAsStringAsync(ct); } catch (HttpRequestException) { }
        response.Dispose();
        if (body.Length > 300) body = body[..300] + "...";
        throw new ServiceCallException($"{target}: HTTP {(int)status} {status} after {attempts} attempt(s){(body.Length > 0 ? ": " + body : "")}", status);
    }
}
