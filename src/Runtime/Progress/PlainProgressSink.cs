using System.Collections.Concurrent;
using System.Diagnostics;

namespace IwSft.Runtime.Progress;

/// <summary>Progress as periodic log lines (CI, redirected output): start, at most one line per interval per stage, finish.</summary>
public sealed class PlainProgressSink(TextWriter output, TimeSpan? interval = null) : IProgressSink
{
    readonly TimeSpan _interval = interval ?? TimeSpan.FromSeconds(5);
    readonly ConcurrentDictionary<string, (Stopwatch clock, TimeSpan lastPrint)> _stages = new();
    readonly object _gate = new();

    void Line(string text) { lock (_gate) output.WriteLine($"[{DateTime.Now:HH:mm:ss}] {text}"); }

    public void RunStarted(string pipeline, IReadOnlyList<string> stages) => Line($"run {pipeline}: {stages.Count} stages ({string.Join(" ", stages)})");

    public void StageStarted(string stage)
    {
        _stages[stage] = (Stopwatch.StartNew(), TimeSpan.Zero);
        Line($"{stage}: started");
    }

    public void StageProgress(string stage, long done, long? total, string unit)
    {
        if (!_stages.TryGetValue(stage, out var s)) return;
        var now = s.clock.Elapsed;
        if (now - s.lastPrint < _interval) return;
        _stages[stage] = (s.clock, now);
        Line($"{stage}: {ProgressMath.Describe(done, total, unit, now)}");
    }

    public void StageLog(string stage, string message) => Line($"{stage}: {message}");

    public void StageFinished(StageResult r)
    {
        var rows = r.Rows.Count == 0 ? "" : " " + string.Join(", ", r.Rows.Select(kv => $"{kv.Key}={kv.Value:N0} rows"));
        var text = r.Status switch
        {
            StageStatus.Ran => $"ran in {r.Duration.TotalSeconds:F2}s ({r.Reason}){rows}",
            StageStatus.Cached => $"cached{rows}",
            StageStatus.Skipped => $"skipped ({r.Reason})",
            _ => $"FAILED: {r.Error}",
        };
        Line($"{r.Name}: {text}");
    }

    public void RunFinished(RunResult r) =>
        Line($"run {r.Pipeline} {(r.Succeeded ? "finished" : "failed")} in {r.Duration.TotalSeconds:F2}s; manifest {r.ManifestPath}");
}

internal static class ProgressMath
{
    public static string Describe(long done, long? total, string unit, TimeSpan elapsed)
    {
        double rate = elapsed.TotalSeconds > 0 ? done / elapsed.TotalSeconds : 0;
        var s = total is > 0 ? $"{done:N0}/{total:N0} {unit} ({100.0 * done / total.Value:F0}%)" : $"{done:N0} {unit}";
        s += $", {rate:N0} {unit}/s";
        if (total is > 0 && rate > 0 && done < total) s += $", ETA {TimeSpan.FromSeconds((total.Value - done) / rate):hh\\:mm\\:ss}";
        return s;
    }
}
