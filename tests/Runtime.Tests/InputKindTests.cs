using System.Diagnostics;

namespace IwSft.Runtime.Tests;

/// <summary>Issue 14 item 9: a FIFO or a device as an input is a one-line error, never a hang.</summary>
public class InputKindTests : StoreTest
{
    string MakeFifo(string name)
    {
        var path = Path.Combine(Dir, name);
        using var p = Process.Start("mkfifo", [path]);
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
        return path;
    }

    static Pipeline Reading(string path) { var p = new Pipeline("kinds"); p.Add(new ReadsFile("read", new Probe(), path)); return p; }

    [Fact]
    public async Task AFifoAsAnExternalInputIsAnErrorNamingItNotAHang()
    {
        var fifo = MakeFifo("pipe.jsonl");
        // If the engine opened the FIFO to hash it, this writer would get in, write nothing and close, and the
        // run would go on with an empty "file": either way the test ends.
        var writer = Task.Run(() => { using var w = new FileStream(fifo, FileMode.Open, FileAccess.Write); });
        var run = Run(Reading(fifo));
        await Task.WhenAny(run, writer);
        var e = await Assert.ThrowsAsync<StageFailedException>(() => run);
        Assert.Equal($"stage 'read' failed: external input '{fifo}' is a FIFO (named pipe), not a regular file or a directory: inputs must be regular files or directories of regular files", e.Message);
        using (new FileStream(fifo, FileMode.Open, FileAccess.Read)) { } // let the writer go
        await writer;
    }

    [Fact]
    public void ADeviceAsAnExternalInputIsAnErrorNamingIt()
    {
        var e = Assert.Throws<InvalidDataException>(() => new PipelineRunner(Store).Status(Reading("/dev/zero")));
        Assert.Contains("'/dev/zero' is a character device", e.Message);
    }

    [Fact]
    public async Task ADirectoryInputHoldingAFifoIsAnErrorNamingTheFifo()
    {
        var dir = Path.Combine(Dir, "inputs");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "a.txt"), "a");
        Directory.Move(MakeFifo("p"), Path.Combine(dir, "b.fifo"));
        var writer = Task.Run(() => { using var w = new FileStream(Path.Combine(dir, "b.fifo"), FileMode.Open, FileAccess.Write); });
        var status = Task.Run(() => new PipelineRunner(Store).Status(Reading(dir)));
        await Task.WhenAny(status, writer);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => status);
        Assert.Contains($"'{Path.Combine(dir, "b.fifo")}' is a FIFO (named pipe)", e.Message);
        using (new FileStream(Path.Combine(dir, "b.fifo"), FileMode.Open, FileAccess.Read)) { }
        await writer;
    }
}
