using System.Diagnostics;
using Apache.Arrow;

namespace IwSft.Runtime.Tests;

/// <summary>
/// A child process (this test assembly run as a program, see <see cref="CrashChild"/>) is SIGKILLed while a stage
/// is writing; the store must hold nothing the next run trusts, and the next run must produce what an
/// uninterrupted run produces.
/// </summary>
public class CrashTests : StoreTest
{
    [Fact]
    public async Task ASigkilledRunLeavesNoTrustedArtifactAndTheNextRunMatchesAnUninterruptedOne()
    {
        var store = Path.Combine(Dir, "store");
        var ready = Path.Combine(Dir, "child-ready");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { typeof(CrashChild).Assembly.Location, CrashChild.Verb, store, ready }) psi.ArgumentList.Add(a);
        using (var child = Process.Start(psi)!)
        {
            var sw = Stopwatch.StartNew();
            while (!File.Exists(ready) && !child.HasExited && sw.Elapsed < HangGuard.Limit) await Task.Delay(20);
            Assert.True(File.Exists(ready), $"child never reached the slow write: {(child.HasExited ? await child.StandardError.ReadToEndAsync() : $"still running after {HangGuard.Limit}")}");
            child.Kill(); // SIGKILL on Unix
            await child.WaitForExitAsync();
        }

        var s = new ArtifactStore(store);
        var afterKill = s.ReadLock(CrashChild.PipelineName);
        Assert.Equal(["src"], afterKill.Stages.Keys);        // the source finished; the slow stage did not commit
        var partial = Directory.GetFiles(Path.Combine(store, "tmp"), "*.parquet", SearchOption.AllDirectories);
        Assert.NotEmpty(partial);                              // the half-written file exists, but only in tmp/
        Assert.Equal(StageState.Stale, new PipelineRunner(s).Status(CrashChild.Build(slow: false))["copy"].State);

        var resumed = await new PipelineRunner(s).RunAsync(CrashChild.Build(slow: false));
        Assert.Equal(StageStatus.Cached, resumed.Stages["src"].Status);
        Assert.Equal(StageStatus.Ran, resumed.Stages["copy"].Status);
        Assert.Empty(Directory.GetDirectories(Path.Combine(store, "tmp"))); // the dead process's temp dir was cleaned

        var clean = await new PipelineRunner(new ArtifactStore(Path.Combine(Dir, "clean"))).RunAsync(CrashChild.Build(slow: false));
        Assert.Equal(clean.Stages["copy"].Outputs["numbers"].Hash, resumed.Stages["copy"].Outputs["numbers"].Hash);
        Assert.Equal(CrashChild.Rows, resumed.Stages["copy"].Rows["numbers"]);
    }
}

/// <summary>The child side: runs src → copy, where copy hangs after writing a few batches.</summary>
public static class CrashChild
{
    public const string Verb = "crash-child";
    public const string PipelineName = "crash";
    public const long Rows = 60_000;

    public static Pipeline Build(bool slow, string? readyFile = null)
    {
        var p = new Pipeline(PipelineName);
        var src = p.Add(new NumbersSource("src", new Probe(), new SourceConfig { Count = Rows }));
        p.Add(new HangingCopy("copy", slow, readyFile)).From("numbers", src["numbers"]);
        return p;
    }

    public static int RunChild(string[] args)
    {
        var (store, ready) = (args[1], args[2]);
        new PipelineRunner(new ArtifactStore(store), new RunOptions { Execution = new ExecutionOptions { BatchRows = 4096 } })
            .RunAsync(Build(slow: true, ready)).GetAwaiter().GetResult();
        return 0;
    }

    /// <summary>Copies its input; in the child it signals after 5 batches (a row group is on disk) and then hangs.</summary>
    sealed class HangingCopy(string name, bool slow, string? readyFile) : Stage<Empty>(name)
    {
        public override string Kind => "test.copy";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var w = ctx.WriteTable("numbers");
            int n = 0;
            await foreach (RecordBatch b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken))
            {
                await w.WriteAsync(b, ctx.CancellationToken);
                if (slow && ++n == 5)
                {
                    File.WriteAllText(readyFile!, "writing");
                    await Task.Delay(TimeSpan.FromMinutes(5), ctx.CancellationToken);
                }
            }
        }
    }
}
