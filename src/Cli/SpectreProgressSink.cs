using System.Collections.Concurrent;
using IwSft.Runtime;
using Spectre.Console;

namespace IwSft.Cli;

/// <summary>
/// Live progress bars (rows, rows/s, ETA per stage) for an interactive terminal. Rendering runs on its own
/// task between <see cref="RunStarted"/> and <see cref="RunFinished"/>.
/// </summary>
public sealed class SpectreProgressSink : IProgressSink
{
    readonly IAnsiConsole _console;
    readonly ConcurrentDictionary<string, ProgressTask> _tasks = new();
    readonly TaskCompletionSource _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    readonly TaskCompletionSource<ProgressContext> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    Task? _render;

    public SpectreProgressSink(IAnsiConsole? console = null) => _console = console ?? AnsiConsole.Console;

    /// <summary>True when stdout is an interactive terminal (not redirected, not CI).</summary>
    public static bool IsInteractive =>
        !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("CI") is null && AnsiConsole.Profile.Capabilities.Interactive;

    public void RunStarted(string pipeline, IReadOnlyList<string> stages)
    {
        _console.MarkupLine($"[bold]run[/] {Markup.Escape(pipeline)}: {stages.Count} stages");
        _render = _console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RowsColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async ctx =>
            {
                _ready.TrySetResult(ctx);
                while (!_finished.Task.IsCompleted)
                {
                    ctx.Refresh();
                    await Task.WhenAny(_finished.Task, Task.Delay(150));
                }
                ctx.Refresh();
            });
    }

    ProgressTask? TaskFor(string stage)
    {
        if (_tasks.TryGetValue(stage, out var t)) return t;
        if (!_ready.Task.IsCompleted) _ready.Task.Wait(TimeSpan.FromSeconds(2));
        if (!_ready.Task.IsCompletedSuccessfully) return null;
        return _tasks.GetOrAdd(stage, s => _ready.Task.Result.AddTask(Markup.Escape(s), maxValue: 1));
    }

    public void StageStarted(string stage)
    {
        var t = TaskFor(stage);
        if (t != null) t.IsIndeterminate = true;
    }

    public void StageProgress(string stage, long done, long? total, string unit)
    {
        var t = TaskFor(stage);
        if (t == null) return;
        if (total is > 0) { t.IsIndeterminate = false; t.MaxValue = total.Value; t.Value = Math.Min(done, total.Value); }
        else { t.IsIndeterminate = true; t.MaxValue = Math.Max(done, 1); t.Value = 0; }
        t.State.Update<long>("done", _ => done);
    }

    public void StageLog(string stage, string message) => _console.MarkupLine($"[grey]{Markup.Escape(stage)}:[/] {Markup.Escape(message)}");

    public void StageFinished(StageResult r)
    {
        var t = TaskFor(r.Name);
        if (t == null) return;
        var status = r.Status switch
        {
            StageStatus.Ran => "[green]ran[/]",
            StageStatus.Cached => "[blue]cached[/]",
            StageStatus.Skipped => "[grey]skipped[/]",
            _ => "[red]FAILED[/]",
        };
        t.Description = $"{Markup.Escape(r.Name)} {status}";
        t.IsIndeterminate = false;
        t.Value = t.MaxValue;
        t.StopTask();
    }

    public void RunFinished(RunResult r)
    {
        _finished.TrySetResult();
        _render?.GetAwaiter().GetResult();
        foreach (var s in r.Stages.Values.Where(s => s.Status == StageStatus.Failed))
            _console.MarkupLine($"[red]{Markup.Escape(s.Name)} failed:[/] {Markup.Escape(s.Error ?? "")}");
        _console.MarkupLine($"{(r.Succeeded ? "[green]done[/]" : "[red]failed[/]")} in {r.Duration.TotalSeconds:F2}s; manifest {Markup.Escape(r.ManifestPath)}");
    }

    /// <summary>Rows done and rows/s from the task state.</summary>
    sealed class RowsColumn : ProgressColumn
    {
        public override Spectre.Console.Rendering.IRenderable Render(Spectre.Console.Rendering.RenderOptions options, ProgressTask task, TimeSpan deltaTime)
        {
            long done = task.State.Get<long>("done");
            var unit = "rows";
            var rate = task.ElapsedTime is { TotalSeconds: > 0 } e ? done / e.TotalSeconds : 0;
            return new Markup($"{done:N0} {Markup.Escape(unit)} [grey]{rate:N0}/s[/]");
        }
    }
}
