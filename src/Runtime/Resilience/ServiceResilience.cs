using System.Net;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace IwSft.Runtime.Resilience;

/// <summary>Retry, circuit-breaker and timeout settings for a stage that calls a service (a judge, a model server).</summary>
public sealed record ServiceResilienceOptions
{
    /// <summary>Retries after the first attempt.</summary>
    public int MaxRetryAttempts { get; init; } = 5;
    /// <summary>First backoff delay; doubles each retry (exponential), with jitter.</summary>
    public TimeSpan BaseDelay { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>Upper bound on a server's Retry-After, which replaces the computed backoff when present.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>Timeout of one attempt.</summary>
    public TimeSpan AttemptTimeout { get; init; } = TimeSpan.FromSeconds(120);
    /// <summary>Circuit breaker: open when this share of calls in the sampling window failed...</summary>
    public double FailureRatio { get; init; } = 0.5;
    /// <summary>...and at least this many calls were made in it.</summary>
    public int MinimumThroughput { get; init; } = 20;
    public TimeSpan SamplingDuration { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>How long the circuit stays open before a trial call (Polly's minimum is 0.5 s).</summary>
    public TimeSpan BreakDuration { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>How a caller's exceptions are classified: what is retried, what counts against the service's health.</summary>
public sealed record ServiceFailures
{
    /// <summary>Worth another attempt (a dropped connection, a 429 or 5xx, a reply that did not parse).</summary>
    public required Func<Exception, bool> IsTransient { get; init; }
    /// <summary>Says the service is unwell (opens the breaker); a reply that does not parse is transient but does not.</summary>
    public required Func<Exception, bool> CountsAgainstService { get; init; }
    /// <summary>The server's requested delay carried by an exception, if any.</summary>
    public Func<Exception, TimeSpan?> RetryAfter { get; init; } = _ => null;
}

/// <summary>
/// The one Polly 8 pipeline every service call goes through, outermost first: retry (exponential backoff with
/// jitter; a server's Retry-After, capped, replaces the computed delay) → circuit breaker (so a dead endpoint
/// is not hammered) → per-attempt timeout. An attempt timeout and an open circuit are transient by construction.
/// </summary>
public static class ServiceResilience
{
    /// <param name="time">The clock of timeouts, delays and the breaker's windows (tests inject one that never moves
    /// by itself, so no outcome depends on how fast a loaded machine answers).</param>
    public static ResiliencePipeline Create(ServiceResilienceOptions o, ServiceFailures failures, Action<string>? onRetry = null, TimeProvider? time = null)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time ?? TimeProvider.System };
        if (o.MaxRetryAttempts > 0)
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => IsTransient(e, failures)),
                MaxRetryAttempts = o.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = o.BaseDelay,
                MaxDelay = o.MaxDelay,
                DelayGenerator = args => new ValueTask<TimeSpan?>(
                    args.Outcome.Exception is { } e && failures.RetryAfter(e) is { } ra ? (ra < o.MaxRetryAfter ? ra : o.MaxRetryAfter) : null),
                OnRetry = args =>
                {
                    onRetry?.Invoke($"attempt {args.AttemptNumber + 1} failed ({args.Outcome.Exception?.Message}); retrying in {args.RetryDelay.TotalSeconds:F2}s");
                    return ValueTask.CompletedTask;
                },
            });
        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is TimeoutRejectedException || failures.CountsAgainstService(e)),
                FailureRatio = o.FailureRatio,
                MinimumThroughput = o.MinimumThroughput,
                SamplingDuration = o.SamplingDuration,
                BreakDuration = o.BreakDuration,
            })
            .AddTimeout(o.AttemptTimeout)
            .Build();
    }

    /// <summary>Whether the pipeline retries <paramref name="e"/> (so a final failure was "after all attempts").</summary>
    public static bool IsTransient(Exception e, ServiceFailures failures) =>
        e is TimeoutRejectedException or BrokenCircuitException || failures.IsTransient(e);

    /// <summary>An HTTP status worth retrying: 408, 429 and 5xx.</summary>
    public static bool IsTransientStatus(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>The server-requested delay (Retry-After as seconds or an HTTP date, never negative), if any.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        var h = response.Headers.RetryAfter;
        if (h?.Delta is { } d) return d < TimeSpan.Zero ? TimeSpan.Zero : d;
        if (h?.Date is { } date) return date - now is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        return null;
    }
}
