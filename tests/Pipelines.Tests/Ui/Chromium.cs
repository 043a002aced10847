using System.Diagnostics;
using IwSft.Stages.Tests;

namespace IwSft.Pipelines.Tests.Ui;

/// <summary>
/// Headless Chromium for the browser tests. Absent: the test is skipped with the reason, except with CI=true
/// (<see cref="SharedData.InCi"/>), where it runs and fails saying chromium is missing (.ci/run installs it).
/// </summary>
static class Chromium
{
    static readonly Lazy<string?> PathLazy = new(() =>
        new[] { "chromium", "chromium-browser", "google-chrome" }
            .SelectMany(name => (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Select(dir => System.IO.Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists));

    public static string? Path => PathLazy.Value;

    public const string Missing = "chromium is missing: install it (Debian: apt-get install -y chromium; .ci/run does this) to run the browser tests";

    public static string? SkipReason => Path is null && !SharedData.InCi ? Missing + "; with CI=true this test fails instead" : null;

    /// <summary>A hang guard, not a speed limit: Chromium's start on a loaded 2-core machine can take a while.</summary>
    static readonly TimeSpan HangGuard = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Runs chromium headless with its own profile directory; returns what it wrote to stdout. Its output goes to files,
    /// not pipes: Chromium's crash handler outlives it holding inherited pipes, so a pipe's end would never come.
    /// Killed (whole tree) past the hang guard.
    /// </summary>
    public static string Run(string workDir, params string[] args)
    {
        var exe = Path ?? throw new Xunit.Sdk.XunitException(Missing);
        string id = Guid.NewGuid().ToString("N")[..8], outFile = System.IO.Path.Combine(workDir, $"chromium-{id}.out"), errFile = System.IO.Path.Combine(workDir, $"chromium-{id}.err");
        var psi = new ProcessStartInfo("/bin/sh") { WorkingDirectory = workDir };
        foreach (var a in new[] { "-c", "out=$1; err=$2; shift 2; exec \"$@\" >\"$out\" 2>\"$err\"", "sh", outFile, errFile, exe,
                                  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                                  "--disable-extensions", "--disable-background-networking", $"--user-data-dir={System.IO.Path.Combine(workDir, "profile")}" }.Concat(args))
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (!p.WaitForExit(HangGuard))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            Assert.Fail($"chromium {string.Join(' ', args)} still running after {HangGuard}; killed. stderr: {File.ReadAllText(errFile)}");
        }
        Assert.True(p.ExitCode == 0, $"chromium {string.Join(' ', args)} exited {p.ExitCode}: {File.ReadAllText(errFile)}");
        return File.ReadAllText(outFile);
    }
}

/// <summary>A fact that needs Chromium: skipped (with the reason) where it is absent, except in CI, where it fails.</summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public ChromiumFactAttribute()
    {
        if (Chromium.SkipReason is { } reason) Skip = reason;
    }
}
