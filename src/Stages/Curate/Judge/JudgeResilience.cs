using IwSft.Runtime.Resilience;
using Polly;

namespace IwSft.Stages.Curate.Judge;

/// <summary>
/// The judge's settings and failure classes for the engine's one service pipeline (<see cref="ServiceResilience"/>).
/// A reply that does not parse is retried but does not count against the server's health;
/// <see cref="PermanentJudgeException"/> (a 4xx) passes straight through.
/// </summary>
public static class JudgeResilience
{
    public static readonly ServiceFailures Failures = new()
    {
        IsTransient = e => e is TransientJudgeException or UnparseableReplyException or HttpRequestException,
        CountsAgainstService = e => e is TransientJudgeException or HttpRequestException,
        RetryAfter = e => (e as TransientJudgeException)?.RetryAfter,
    };

    public static bool IsTransient(Exception e) => ServiceResilience.IsTransient(e, Failures);

    public static ResiliencePipeline Create(JudgeResilienceConfig c, Action<string>? onRetry = null, TimeProvider? time = null) =>
        ServiceResilience.Create(Options(c), Failures, onRetry, time);

    public static ServiceResilienceOptions Options(JudgeResilienceConfig c) => new()
    {
        MaxRetryAttempts = c.MaxRetryAttempts,
        BaseDelay = TimeSpan.FromSeconds(c.BaseDelaySeconds),
        MaxDelay = TimeSpan.FromSeconds(c.MaxDelaySeconds),
        MaxRetryAfter = TimeSpan.FromSeconds(c.MaxRetryAfterSeconds),
        AttemptTimeout = TimeSpan.FromSeconds(c.AttemptTimeoutSeconds),
        FailureRatio = c.BreakerFailureRatio,
        MinimumThroughput = c.BreakerMinimumThroughput,
        SamplingDuration = TimeSpan.FromSeconds(c.BreakerSamplingSeconds),
        BreakDuration = TimeSpan.FromSeconds(c.BreakerBreakSeconds),
    };
}
