using System.Diagnostics;

namespace IwSft.Pipelines.Tests;

/// <summary>Runs the built <c>iwsft</c> as a real child process (exit code, stdout, stderr), as a user would.</summary>
static class CliProcess
{
    static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(10);

    public static (int Code, string Stdout, string Stderr) Run(string workingDirectory, IDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "iwsft.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["CI"] = "1"; // plain progress lines, never the live terminal display
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        // A hang guard, not a speed limit: a demo run on a loaded 2-core machine can take minutes.
        if (!p.WaitForExit(HangGuard))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"iwsft {string.Join(' ', args)} still running after {HangGuard}");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
