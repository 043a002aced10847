using System.Collections.Concurrent;

namespace IwSft.Runtime.Tests;

/// <summary>
/// The clock of a resilience pipeline (Polly) in tests. Time stands still, so nothing expires by itself however
/// slowly a loaded machine answers: a delay the pipeline asks for (retry backoff, a server's Retry-After) is
/// recorded in <see cref="Delays"/> and completes at once; an attempt timeout (a timer of exactly
/// <see cref="AttemptTimeout"/>) fires only when the test calls <see cref="TimeOutLatestAttempt"/>; a circuit
/// breaker's windows never pass. Tests count what happened instead of timing it.
/// </summary>
public sealed class TestClock(TimeSpan attemptTimeout) : TimeProvider
{
    static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    readonly object _gate = new();
    readonly List<ManualTimer> _timeouts = new();

    public TimeSpan AttemptTimeout => attemptTimeout;

    /// <summary>Every delay the pipeline asked for, in order.</summary>
    public ConcurrentQueue<TimeSpan> Delays { get; } = new();

    public override DateTimeOffset GetUtcNow() => Epoch;
    public override long GetTimestamp() => 0;

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        Arm(timer, dueTime);
        return timer;
    }

    /// <summary>A timer set (at creation or by Change) to <paramref name="dueTime"/>: pending, recorded and fired, or idle.</summary>
    void Arm(ManualTimer timer, TimeSpan dueTime)
    {
        lock (_gate)
        {
            _timeouts.Remove(timer);
            if (dueTime == attemptTimeout) _timeouts.Add(timer);
        }
        if (dueTime == attemptTimeout || dueTime == Timeout.InfiniteTimeSpan) return;
        Delays.Enqueue(dueTime);
        ThreadPool.QueueUserWorkItem(_ => timer.Fire());
    }

    /// <summary>Times out the attempt whose timeout timer was created last (with one call in flight: that call).</summary>
    public void TimeOutLatestAttempt()
    {
        ManualTimer latest;
        lock (_gate)
        {
            if (_timeouts.Count == 0) throw new InvalidOperationException("no attempt timeout is pending");
            latest = _timeouts[^1];
        }
        latest.Fire();
    }

    void Remove(ManualTimer t)
    {
        lock (_gate) _timeouts.Remove(t);
    }

    sealed class ManualTimer(TestClock clock, TimerCallback callback, object? state) : ITimer
    {
        public void Fire()
        {
            clock.Remove(this);
            callback(state);
        }

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            clock.Arm(this, dueTime);
            return true;
        }
        public void Dispose() => clock.Remove(this);
        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
