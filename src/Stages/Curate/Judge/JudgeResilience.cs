using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace IwSft.Stages.Curate.Judge;

/// <summary>
/// The judge client's Polly 8 pipeline, outermost first: retry (exponential backoff with jitter; a server's
/// Retry-After, capped, replaces the computed delay) → circuit breaker (opens when the failure ratio of
/// transient failures is too high, so a dead endpoint is not hammered) → per-attempt timeout.
/// Only transient failures are retried; <see cref="PermanentJudgeException"/> passes straight through.
/// </summary>
public static class JudgeResilience
{
    public static bool IsTransient(Exception e) =>
        e is TransientJudgeException or UnparseableReplyException or TimeoutRejectedException or BrokenCircuitException or HttpRequestException;

    /// <param name="time">The clock of timeouts, backoff delays and the breaker's windows (tests inject one that
    /// never moves by itself, so that no test outcome depends on how fast a loaded machine answers).</param>
    public static ResiliencePipeline Create(JudgeResilienceConfig c, Action<string>? onRetry = null, TimeProvider? time = null)
    {
        var transient = new PredicateBuilder().Handle<Exception>(IsTransient);
        var maxRetryAfter = TimeSpan.FromSeconds(c.MaxRetryAfterSeconds);
        return new ResiliencePipelineBuilder { TimeProvider = time ?? TimeProvider.System }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = transient,
                MaxRetryAttempts = c.MaxRetryAttempts,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(c.BaseDelaySeconds),
                MaxDelay = TimeSpan.FromSeconds(c.MaxDelaySeconds),
                DelayGenerator = args => new ValueTask<TimeSpan?>(
                    args.Outcome.Exception is TransientJudgeException { RetryAfter: { } ra } ? (ra < maxRetryAfter ? ra : maxRetryAfter) : null),
                OnRetry = args =>
                {
                    onRetry?.Invoke($"attempt {args.AttemptNumber + 1} failed ({args.Outcome.Exception?.Message}); retrying in {args.RetryDelay.TotalSeconds:F2}s");
                    return ValueTask.CompletedTask;
                },
            })
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(e => e is TransientJudgeException or TimeoutRejectedException or HttpRequestException),
                FailureRatio = c.BreakerFailureRatio,
                MinimumThroughput = c.BreakerMinimumThroughput,
                SamplingDuration = TimeSpan.FromSeconds(c.BreakerSamplingSeconds),
                BreakDuration = TimeSpan.FromSeconds(c.BreakerBreakSeconds),
            })
            .AddTimeout(TimeSpan.FromSeconds(c.AttemptTimeoutSeconds))
            .Build();
    }
}
