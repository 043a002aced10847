using System.Diagnostics;

namespace IwSft.Pipelines.Tests;

/// <summary>Runs the built <c>iwsft</c> as a real child process (exit code, stdout, stderr), as a user would.</summary>
static class CliProcess
{
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
        Assert.True(p.WaitForExit(120_000), "iwsft timed out");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
