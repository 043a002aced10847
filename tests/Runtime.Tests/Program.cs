namespace IwSft.Runtime.Tests;

/// <summary>
/// Entry point of this test assembly when run as a program (`dotnet IwSft.Runtime.Tests.dll crash-child ...`):
/// the crash tests spawn it as a child process to SIGKILL it mid-write. The test host does not use it.
/// </summary>
public static class Program
{
    public static int Main(string[] args) =>
        args.Length > 0 && args[0] == CrashChild.Verb ? CrashChild.RunChild(args)
            : args.Length > 0 && args[0] == MemoCrashChild.Verb ? MemoCrashChild.RunChild(args)
            : throw new ArgumentException($"usage: dotnet IwSft.Runtime.Tests.dll {CrashChild.Verb}|{MemoCrashChild.Verb} <store> <ready-file>");
}
