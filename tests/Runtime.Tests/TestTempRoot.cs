using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace IwSft.Tests;

/// <summary>
/// Everything a test process puts in the temp directory (<c>Path.GetTempPath</c>, <c>Directory.CreateTempSubdirectory</c>,
/// and the child processes it starts, which inherit <c>TMPDIR</c>) goes under one folder per test process, deleted when
/// the process exits; folders of test processes that were killed are deleted by the next one. So a test run leaves
/// nothing behind in the machine's temp directory, whether or not each test cleans up after itself.
/// </summary>
static class TestTempRoot
{
    const string Prefix = "iwsft-t-"; // short: some tests print paths under it into fixed-width tables
    const string Marker = "IWSFT_TEST_TMP_ROOT";

#pragma warning disable CA2255 // a test assembly is the host here
    [ModuleInitializer]
    internal static void Configure()
    {
        if (Environment.GetEnvironmentVariable(Marker) is { Length: > 0 }) return; // started by a test process: inside its folder already
        var system = Path.GetTempPath();
        DeleteAbandoned(system);
        // Named by the process id alone: a folder left under this id belonged to a process that is gone.
        var root = Path.Combine(system, $"{Prefix}{Environment.ProcessId}");
        Delete(root);
        Directory.CreateDirectory(root);
        Environment.SetEnvironmentVariable("TMPDIR", root);
        Environment.SetEnvironmentVariable(Marker, root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Delete(root);
    }
#pragma warning restore CA2255

    static void DeleteAbandoned(string system)
    {
        foreach (var dir in Directory.GetDirectories(system, Prefix + "*"))
        {
            if (int.TryParse(Path.GetFileName(dir)[Prefix.Length..], out int pid) && pid != Environment.ProcessId && !IsAlive(pid)) Delete(dir);
        }
    }

    static bool IsAlive(int pid)
    {
        try { using var p = Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static void Delete(string dir)
    {
        try { Directory.Delete(dir, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
