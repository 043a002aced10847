using System.Net;
using IwSft.Runtime.Resilience;
using Polly.CircuitBreaker;

namespace IwSft.Runtime.Tests;

/// <summary>The engine's one service pipeline, driven by a scripted call and a clock that never moves by itself.</summary>
public class ResilienceTests
{
    sealed class Transient(TimeSpan? retryAfter = null) : Exception("transient") { public TimeSpan? RetryAfter { get; } = retryAfter; }
    sealed class Garbled() : Exception("reply did not parse");
    sealed class Permanent() : Exception("permanent");

    static readonly ServiceFailures Failures = new()
    {
        IsTransient = e => e is Transient or Garbled,
        CountsAgainstService = e => e is Transient,
        RetryAfter = e => (e as Transient)?.RetryAfter,
    };

    static readonly ServiceResilienceOptions Fast = new()
    {
        MaxRetryAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(50),
        AttemptTimeout = TimeSpan.FromHours(1), MinimumThroughput = 100,
    };

    /// <summary>Runs a call that throws the scripted exceptions in turn (null: succeed), counting attempts.</summary>
    sealed class Script(params Exception?[] outcomes)
    {
        public int Calls;
        public ValueTask<int> Call(CancellationToken _)
        {
            var e = outcomes[Math.Min(Calls++, outcomes.Length - 1)];
            return e is null ? ValueTask.FromResult(Calls) : throw e;
        }
    }

    static TestClock Clock() => new(Fast.AttemptTimeout);

    [Fact]
    public async Task TransientFailuresAreRetriedUntilSuccess()
    {
        var s = new Script(new Transient(), new Garbled(), null);
        var retries = new List<string>();
        Assert.Equal(3, await ServiceResilience.Create(Fast, Failures, retries.Add, Clock()).ExecuteAsync(s.Call));
        Assert.Equal(3, s.Calls);
        Assert.Equal(2, retries.Count);
        Assert.StartsWith("attempt 1 failed (transient)", retries[0]);
    }

    [Fact]
    public async Task ATransientFailureThatPersistsIsThrownAfterEveryAttempt()
    {
        var s = new Script(new Transient());
        await Assert.ThrowsAsync<Transient>(async () => await ServiceResilience.Create(Fast, Failures, null, Clock()).ExecuteAsync(s.Call));
        Assert.Equal(Fast.MaxRetryAttempts + 1, s.Calls);
    }

    [Fact]
    public async Task APermanentFailureIsNotRetried()
    {
        var s = new Script(new Permanent());
        await Assert.ThrowsAsync<Permanent>(async () => await ServiceResilience.Create(Fast, Failures, null, Clock()).ExecuteAsync(s.Call));
        Assert.Equal(1, s.Calls);
        Assert.False(ServiceResilience.IsTransient(new Permanent(), Failures));
        Assert.True(ServiceResilience.IsTransient(new BrokenCircuitException(), Failures));
    }

    [Fact]
    public async Task RetryAfterReplacesTheBackoffAndIsCapped()
    {
        var o = Fast with { MaxDelay = TimeSpan.FromSeconds(10), MaxRetryAfter = TimeSpan.FromSeconds(20) };
        var clock = Clock();
        await ServiceResilience.Create(o, Failures, null, clock).ExecuteAsync(new Script(new Transient(TimeSpan.FromSeconds(1)), null).Call);
        // The backoff alone would be about 1 ms: one wait of exactly the server's 1 s shows Retry-After was used.
        Assert.Equal(new[] { TimeSpan.FromSeconds(1) }, clock.Delays.ToArray());

        var capped = Clock();
        await ServiceResilience.Create(o, Failures, null, capped).ExecuteAsync(new Script(new Transient(TimeSpan.FromSeconds(600)), null).Call);
        Assert.Equal(new[] { TimeSpan.FromSeconds(20) }, capped.Delays.ToArray());
    }

    [Fact]
    public async Task TheCircuitOpensOnServiceFailuresButNotOnUnparseableReplies()
    {
        var o = Fast with { MaxRetryAttempts = 0, MinimumThroughput = 2, FailureRatio = 0.5, BreakDuration = TimeSpan.FromMinutes(1) };
        var garbled = new Script(new Garbled());
        var p = ServiceResilience.Create(o, Failures, null, Clock());
        for (int i = 0; i < 3; i++) await Assert.ThrowsAsync<Garbled>(async () => await p.ExecuteAsync(garbled.Call));
        Assert.Equal(3, garbled.Calls); // the service answered, so its circuit stays closed

        var down = new Script(new Transient());
        p = ServiceResilience.Create(o, Failures, null, Clock());
        for (int i = 0; i < 2; i++) await Assert.ThrowsAsync<Transient>(async () => await p.ExecuteAsync(down.Call));
        await Assert.ThrowsAsync<BrokenCircuitException>(async () => await p.ExecuteAsync(down.Call));
        Assert.Equal(2, down.Calls); // the third call never reached the service
    }

    [Theory]
    [InlineData(HttpStatusCode.RequestTimeout, true)]
    [InlineData(HttpStatusCode.TooManyRequests, true)]
    [InlineData(HttpStatusCode.InternalServerError, true)]
    [InlineData(HttpStatusCode.ServiceUnavailable, true)]
    [InlineData(HttpStatusCode.BadRequest, false)]
    [InlineData(HttpStatusCode.Unauthorized, false)]
    [InlineData(HttpStatusCode.NotFound, false)]
    public void OnlyTimeoutsThrottlingAndServerErrorsAreTransient(HttpStatusCode status, bool transient) =>
        Assert.Equal(transient, ServiceResilience.IsTransientStatus(status));

    [Fact]
    public void RetryAfterIsReadAsSecondsOrAsADate()
    {
        var now = new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);
        var seconds = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        seconds.Headers.Add("Retry-After", "7");
        Assert.Equal(TimeSpan.FromSeconds(7), ServiceResilience.RetryAfter(seconds, now));
        var date = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        date.Headers.Add("Retry-After", now.AddSeconds(30).ToString("R"));
        Assert.Equal(TimeSpan.FromSeconds(30), ServiceResilience.RetryAfter(date, now));
        var past = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
        past.Headers.Add("Retry-After", now.AddSeconds(-30).ToString("R"));
        Assert.Equal(TimeSpan.Zero, ServiceResilience.RetryAfter(past, now));
        Assert.Null(ServiceResilience.RetryAfter(new HttpResponseMessage(HttpStatusCode.TooManyRequests), now));
    }
}
