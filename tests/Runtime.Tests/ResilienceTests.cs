using System.Net;
using IwSft.Runtime.Resilience;

namespace IwSft.Runtime.Tests;

public class ResilienceTests
{
    /// <summary>A real HttpMessageHandler that answers from a script and records every call.</summary>
    sealed class ScriptedHandler(params Func<HttpResponseMessage>[] script) : HttpMessageHandler
    {
        public int Calls;
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var i = Interlocked.Increment(ref Calls) - 1;
            return Task.FromResult(script[Math.Min(i, script.Length - 1)]());
        }
    }

    static readonly HttpResilienceOptions Fast = new()
    {
        MaxRetryAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(1), MaxDelay = TimeSpan.FromMilliseconds(50),
        AttemptTimeout = TimeSpan.FromHours(1), MinimumThroughput = 100,
    };

    /// <summary>A clock that never moves by itself: no attempt times out, and delays are counted, not waited.</summary>
    static TestClock Clock() => new(Fast.AttemptTimeout);

    static HttpResponseMessage Status(HttpStatusCode s) => new(s) { Content = new StringContent($"status {(int)s}") };

    [Fact]
    public async Task TransientFailuresAreRetriedUntilSuccess()
    {
        var h = new ScriptedHandler(() => Status(HttpStatusCode.ServiceUnavailable), () => Status(HttpStatusCode.BadGateway), () => Status(HttpStatusCode.OK));
        using var client = new HttpClient(h);
        using var r = await HttpResilience.SendAsync(client, () => new HttpRequestMessage(HttpMethod.Get, "http://svc/x"), HttpResilience.Create(Fast, Clock()));
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        Assert.Equal(3, h.Calls);
    }

    [Fact]
    public async Task PermanentFailureIsAClearErrorAfterAllAttempts()
    {
        var h = new ScriptedHandler(() => Status(HttpStatusCode.InternalServerError));
        using var client = new HttpClient(h);
        var e = await Assert.ThrowsAsync<ServiceCallException>(() =>
            HttpResilience.SendAsync(client, () => new HttpRequestMessage(HttpMethod.Post, "http://svc/score"), HttpResilience.Create(Fast, Clock())));
        Assert.Equal("POST http://svc/score: HTTP 500 InternalServerError after 4 attempt(s): status 500", e.Message);
        Assert.Equal(4, h.Calls);
    }

    [Fact]
    public async Task ClientErrorsAreNotRetried()
    {
        var h = new ScriptedHandler(() => Status(HttpStatusCode.BadRequest));
        using var client = new HttpClient(h);
        await Assert.ThrowsAsync<ServiceCallException>(() =>
            HttpResilience.SendAsync(client, () => new HttpRequestMessage(HttpMethod.Get, "http://svc/x"), HttpResilience.Create(Fast, Clock())));
        Assert.Equal(1, h.Calls);
    }

    [Fact]
    public void RetryAfterIsReadAsSecondsOrAsADate()
    {
        var seconds = Status(HttpStatusCode.TooManyRequests);
        seconds.Headers.Add("Retry-After", "7");
        Assert.Equal(TimeSpan.FromSeconds(7), HttpResilience.RetryAfter(seconds));
        var date = Status(HttpStatusCode.TooManyRequests);
        var now = new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);
        date.Headers.Add("Retry-After", now.AddSeconds(30).ToString("R"));
        Assert.Equal(TimeSpan.FromSeconds(30), HttpResilience.RetryAfter(date, now));
        Assert.Null(HttpResilience.RetryAfter(Status(HttpStatusCode.TooManyRequests)));
    }

    [Fact]
    public async Task A429WaitsForRetryAfterInsteadOfTheBackoff()
    {
        var h = new ScriptedHandler(() => { var r = Status(HttpStatusCode.TooManyRequests); r.Headers.Add("Retry-After", "1"); return r; }, () => Status(HttpStatusCode.OK));
        using var client = new HttpClient(h);
        var o = Fast with { MaxDelay = TimeSpan.FromSeconds(10) };
        var clock = Clock();
        using var r = await HttpResilience.SendAsync(client, () => new HttpRequestMessage(HttpMethod.Get, "http://svc/x"), HttpResilience.Create(o, clock));
        Assert.Equal(2, h.Calls);
        // The backoff alone would be ~1 ms: one wait of exactly the server's 1 s shows Retry-After was used.
        Assert.Equal(new[] { TimeSpan.FromSeconds(1) }, clock.Delays.ToArray());

        // ... capped at MaxDelay.
        var capped = Clock();
        var h2 = new ScriptedHandler(() => { var r = Status(HttpStatusCode.TooManyRequests); r.Headers.Add("Retry-After", "600"); return r; }, () => Status(HttpStatusCode.OK));
        using var client2 = new HttpClient(h2);
        using var r2 = await HttpResilience.SendAsync(client2, () => new HttpRequestMessage(HttpMethod.Get, "http://svc/x"), HttpResilience.Create(o, capped));
        Assert.Equal(new[] { TimeSpan.FromSeconds(10) }, capped.Delays.ToArray());
    }

    [Fact]
    public async Task TheCircuitOpensAfterRepeatedFailures()
    {
        var h = new ScriptedHandler(() => Status(HttpStatusCode.ServiceUnavailable));
        using var client = new HttpClient(h);
        var pipeline = HttpResilience.Create(Fast with { MaxRetryAttempts = 0, MinimumThroughput = 2, FailureRatio = 0.5, BreakDuration = TimeSpan.FromMinutes(1) }, Clock());
        for (int i = 0; i < 2; i++)
            await Assert.ThrowsAsync<ServiceCallException>(() => HttpResilience.SendAsync(client, () => new HttpRequestMessage(HttpMethod.Get, "http://svc/x"), pipeline));
        var e = await Assert.ThrowsAsync<ServiceCallException>(() => HttpResilience.SendAsync(client, () => new HttpRequestMessage(HttpMethod.Get, "http://svc/x"), pipeline));
        Assert.Contains("circuit open", e.Message);
        Assert.Equal(2, h.Calls); // the third call never reached the service
    }
}
