using System.Text.Json.Nodes;
using Apache.Arrow;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>Pauses a stage at a known point: the test awaits <see cref="Entered"/>, acts, then completes <see cref="Release"/>.</summary>
public sealed class Gate
{
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>Copies its input table; with a gate, it pauses after reading everything and before its output is committed.</summary>
public sealed class GatedCopy(string name, Probe probe, Gate? gate = null, int readBatches = int.MaxValue) : Stage<Empty>(name)
{
    public override string Kind => "test.gated-copy";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var w = ctx.WriteTable("numbers");
        int n = 0;
        await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken))
        {
            await w.WriteAsync(b, ctx.CancellationToken);
            if (++n == readBatches) break; // a stage that stops reading early
        }
        if (gate != null)
        {
            gate.Entered.TrySetResult();
            await gate.Release.Task.WaitAsync(ctx.CancellationToken);
        }
    }
}

/// <summary>Copies the files of a directory input (reads them through <see cref="IStageContext.InputDirectory"/>).</summary>
public sealed class DirCopy(string name, Probe probe) : Stage<Empty>(name)
{
    public override string Kind => "test.dir-copy";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Dir("dir")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("dir")];

    public override Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var src = ctx.InputDirectory("dir");
        foreach (var f in Directory.GetFiles(src)) File.Copy(f, Path.Combine(ctx.OutputDirectory("dir"), Path.GetFileName(f)));
        return Task.CompletedTask;
    }
}

/// <summary>Reads its input, then deletes the input's object file: another process removing an output mid-run.</summary>
public sealed class Vandal(string name, Probe probe) : Stage<Empty>(name)
{
    public override string Kind => "test.vandal";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("groups", "example_groups")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var input = (StoredTableReader)ctx.ReadTable("numbers");
        await foreach (var _ in input.ReadBatchesAsync(ctx.CancellationToken)) { }
        File.Delete(input.Path);
        var bb = new BatchBuilder(TableSchema.Get("example_groups"));
        bb.Set("group", 0).Set("count", input.RowCount).Set("sum_square", 0.0).EndRow();
        await ctx.WriteTable("groups").WriteAsync(bb.Build(), ctx.CancellationToken);
    }
}

/// <summary>Writes to /dev/full: the operating system's own "No space left on device".</summary>
public sealed class FillsDisk(string name, Probe probe) : Stage<Empty>(name)
{
    public override string Kind => "test.fills-disk";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("dump")];

    public override Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        using var full = new FileStream("/dev/full", FileMode.Open, FileAccess.Write);
        full.Write(new byte[1 << 16]);
        full.Flush();
        return Task.CompletedTask;
    }
}

/// <summary>Damage done to store files by the tests, the way a user, a bad disk or another tool would.</summary>
public static class Damage
{
    /// <summary>
    /// Flips one byte of a stored table so that it still parses but holds different values, then restores the
    /// file's mtime: the size and mtime stamps cannot notice, only the content hash can. Returns the offset.
    /// </summary>
    public static async Task<long> SilentBitRot(string parquet)
    {
        var original = await File.ReadAllBytesAsync(parquet);
        var mtime = File.GetLastWriteTimeUtc(parquet);
        var content = await Content(original);
        long dataEnd = original.Length - 8 - BitConverter.ToInt32(original, original.Length - 8); // where the footer starts
        for (long k = 0; k < dataEnd; k++)
        {
            long at = (dataEnd / 2 + k) % dataEnd; // a data page byte: from the middle on, then from the start
            if (at < 4) continue;                   // not the magic bytes
            var bytes = (byte[])original.Clone();
            bytes[at] ^= 0x01;
            string? now = null;
            try { now = await Content(bytes); } catch (Exception) { }
            if (now != null && now != content)
            {
                await File.WriteAllBytesAsync(parquet, bytes);
                File.SetLastWriteTimeUtc(parquet, mtime);
                return at;
            }
        }
        throw new InvalidOperationException("no single-byte flip keeps the file readable");
    }

    /// <summary>Every cell of a Parquet file's batches as text (read without verification).</summary>
    static async Task<string> Content(byte[] file)
    {
        var sb = new System.Text.StringBuilder();
        using var ms = new MemoryStream(file);
        await foreach (var b in ParquetTableFileReader.ReadBatchesAsync(ms, "memory"))
            for (int c = 0; c < b.ColumnCount; c++)
                for (int i = 0; i < b.Length; i++) sb.Append(CellValues.Get(b.Column(c), i)).Append('|');
        return sb.ToString();
    }

    /// <summary>Replaces one byte of a file, keeping its size and mtime.</summary>
    public static void FlipKeepingStamps(string file, long at)
    {
        var mtime = File.GetLastWriteTimeUtc(file);
        var bytes = File.ReadAllBytes(file);
        bytes[at] ^= 0x20;
        File.WriteAllBytes(file, bytes);
        File.SetLastWriteTimeUtc(file, mtime);
    }

    /// <summary>Every file under the store's objects/ (objects and sidecars), to compare before and after.</summary>
    public static SortedSet<string> ObjectFiles(ArtifactStore s) =>
        new(Directory.Exists(Path.Combine(s.Root, "objects"))
            ? Directory.EnumerateFileSystemEntries(Path.Combine(s.Root, "objects"), "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(s.Root, f))
            : [], StringComparer.Ordinal);

    /// <summary>Rewrites one output hash of a stage in the pipeline's lock.json.</summary>
    public static void SetLockOutputHash(ArtifactStore s, string pipeline, string stage, string output, string hash)
    {
        var path = s.LockPath(pipeline);
        var doc = JsonNode.Parse(File.ReadAllText(path))!;
        doc["stages"]![stage]!["outputs"]![output]!["hash"] = hash;
        File.WriteAllText(path, doc.ToJsonString());
    }
}

/// <summary>
/// Items 1–4 of issue 14, through the real <see cref="PipelineRunner"/>: gc beside runs, unreadable store
/// files, hashes that are not hashes, bit rot that size and mtime cannot see.
/// </summary>
public class StoreSafetyTests : StoreTest
{
    static readonly GcOptions NoGrace = new() { Grace = TimeSpan.Zero };

    Pipeline Build(long count = 100, Gate? gate = null, int readBatches = int.MaxValue)
    {
        var p = new Pipeline("safe");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = count }));
        p.Add(new GatedCopy("copy", Probe, gate, readBatches)).From("numbers", src["numbers"]);
        p.Add(new SumValues("sum", Probe)).From("numbers", p.Get("copy")["numbers"]);
        return p;
    }

    static RunOptions SmallBatches => new() { Execution = new ExecutionOptions { BatchRows = 1000 } };

    /// <summary>Waits until the gated stage is paused, or fails if the run ended without reaching it.</summary>
    internal static async Task Paused(Gate gate, Task run)
    {
        if (await Task.WhenAny(gate.Entered.Task, run) == run)
        {
            await run;
            Assert.Fail("the run ended without reaching the gate");
        }
    }

    static RunOptions ForceCopy => new() { Force = ["copy"] };

    // ------------------------------------------------------------------ 1. gc during a run

    [Fact]
    public async Task GcRefusesWhileARunIsInProgressAndTheRunsOutputsSurvive()
    {
        await Run(Build(count: 100));
        await Run(Build(count: 200));            // the lock now holds count=200; count=100 lives only in the run cache
        var before = Damage.ObjectFiles(Store);

        var gate = new Gate();
        var running = Run(Build(count: 100, gate), ForceCopy); // reuses src from the cache, then pauses inside copy
        await Paused(gate, running);
        var e = Assert.Throws<StoreBusyException>(() => Store.CollectGarbage(NoGrace));
        Assert.Contains("in use", e.Message);
        Assert.Equal(before, Damage.ObjectFiles(Store)); // nothing deleted, not even the reused count=100 objects
        gate.Release.SetResult();
        var r = await running;

        Assert.Equal(StageStatus.Cached, r.Stages["src"].Status);
        foreach (var s in r.Stages.Values)
            foreach (var o in s.Outputs.Values) Assert.Equal(ArtifactHealth.Ok, Store.Verify(o, fullHash: true));
        var gc = Store.CollectGarbage(NoGrace);   // after the run: the count=200 results go
        Assert.True(gc.ObjectsDeleted > 0);
        Assert.True(new PipelineRunner(Store).Status(Build(count: 100)).UpToDate);
    }

    [Fact]
    public async Task WithoutTheLockGcStillSparesObjectsPinnedByALiveRunAndObjectsInsideTheGracePeriod()
    {
        await Run(Build(count: 100));
        await Run(Build(count: 200));
        var gate = new Gate();
        var running = Run(Build(count: 100, gate), ForceCopy);
        await Paused(gate, running);
        var src100 = Store.TryGetCacheEntry(Store.ReadLock("safe").Stages["src"].Key)!; // the running run already recorded src
        // Bypass the store lock, as a second defence must hold on its own, and take away the lock file's reference
        // too (a user deleting pipelines/safe/): only the run's in-flight record still names what it uses.
        File.Delete(Store.LockPath("safe"));
        var r = new GarbageCollector(Store, NoGrace).Run();
        Assert.True(r.KeptInFlight > 0);
        Assert.True(File.Exists(Store.ObjectPath(src100.Outputs["numbers"])));
        gate.Release.SetResult();
        var done = await running;
        Assert.Equal(ArtifactHealth.Ok, Store.Verify(done.Stages["src"].Outputs["numbers"], fullHash: true));

        await Run(Build(count: 300));
        var young = new GarbageCollector(Store, new GcOptions()).Run(); // default grace: an hour
        Assert.Equal(0, young.ObjectsDeleted);
        Assert.True(young.KeptRecent > 0);
        Assert.Empty(Directory.GetFiles(Path.Combine(Store.Root, "inflight"))); // finished runs leave no record
    }

    [Fact]
    public async Task ARunNeverSucceedsWithAnOutputThatIsGoneWhenItEnds()
    {
        var p = new Pipeline("lost");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 50 }));
        p.Add(new Vandal("vandal", Probe)).From("numbers", src["numbers"]);
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(p));
        Assert.Equal("src", e.Stage);
        Assert.Contains("output src.numbers", e.Message);
        Assert.Contains("missing at the end of the run", e.Message);
        Assert.Equal(StageStatus.Failed, e.Result.Stages["src"].Status);
        Assert.Equal(["artifact numbers missing"], new PipelineRunner(Store).Status(p)["src"].Reasons);
    }

    // ------------------------------------------------------------------ 2. unreadable store files

    [Theory]
    [InlineData("{ \"pipeline\": \"safe\", \"stages\": ")]           // torn
    [InlineData("null")]
    [InlineData("{\"pipeline\":\"safe\",\"stages\":{\"src\":null}}")]  // a null stage entry
    [InlineData("{\"pipeline\":\"safe\",\"stages\":null}")]
    public async Task AnUnreadableLockIsAnErrorNamingTheFileAndGcDeletesNothing(string content)
    {
        await Run(Build(count: 100));
        await Run(Build(count: 200));
        File.WriteAllText(Store.LockPath("safe"), content);
        var before = Damage.ObjectFiles(Store);

        var gc = Assert.Throws<StoreFileCorruptException>(() => Store.CollectGarbage(NoGrace));
        Assert.Contains(Store.LockPath("safe"), gc.Message);
        Assert.Contains("gc deleted nothing", gc.Message);
        Assert.Equal(before, Damage.ObjectFiles(Store));

        var status = Assert.Throws<StoreFileCorruptException>(() => new PipelineRunner(Store).Status(Build(count: 200)));
        Assert.Contains(Store.LockPath("safe"), status.Message);
        Assert.Contains(Store.LockPath("safe"), (await Assert.ThrowsAsync<StoreFileCorruptException>(() => Run(Build(count: 200)))).Message);
        Assert.Equal(content, File.ReadAllText(Store.LockPath("safe")));  // the run did not overwrite it
    }

    [Fact]
    public async Task AnUnreadableCacheEntryIsAnErrorNamingTheFileNotACacheMiss()
    {
        var r = await Run(Build(count: 100));
        await Run(Build(count: 200));
        var key = r.Stages["copy"].Key!;
        var entry = Path.Combine(Store.Root, "cache", key[..2], key + ".json");
        File.WriteAllText(entry, "{\"key\": \"" + key + "\", \"outputs\": {\"numbers\": 7}}");
        var before = Damage.ObjectFiles(Store);

        Assert.Contains(entry, Assert.Throws<StoreFileCorruptException>(() => Store.CollectGarbage(NoGrace)).Message);
        Assert.Equal(before, Damage.ObjectFiles(Store));
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(count: 100)));
        Assert.Equal("copy", e.Stage);
        Assert.Contains(entry, e.Message);
    }

    // ------------------------------------------------------------------ 3. hashes from disk

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task AHashThatIsNotAHashNeverBecomesAPath(bool inLock)
    {
        var r = await Run(Build(count: 100));
        // A file outside the store, named as the store would name an object and its sidecar.
        var outside = Path.Combine(Dir, "outside");
        Directory.CreateDirectory(outside);
        var victim = Path.Combine(outside, "victim");
        File.WriteAllText(victim + ".parquet", "precious");
        File.WriteAllText(victim + ".meta.json", "{}");
        // objects/<hash[..2]>/<hash>.parquet with hash = "../x": objects/../../x.parquet, i.e. relative to the store root.
        var evil = Path.GetRelativePath(Store.Root, victim).Replace('\\', '/');
        Assert.StartsWith("..", evil);

        var key = r.Stages["src"].Key!;
        var entry = Path.Combine(Store.Root, "cache", key[..2], key + ".json");
        if (inLock) Damage.SetLockOutputHash(Store, "safe", "src", "numbers", evil);
        else
        {
            var doc = JsonNode.Parse(File.ReadAllText(entry))!;
            doc["outputs"]!["numbers"]!["hash"] = evil;
            File.WriteAllText(entry, doc.ToJsonString());
        }
        var named = inLock ? Store.LockPath("safe") : entry;

        if (inLock)
        {
            var show = Assert.Throws<StoreFileCorruptException>(() => Store.Resolve(Build(), "src.numbers"));
            Assert.Contains(named, show.Message);
            Assert.Contains("is not a hash", show.Message);
            Assert.Throws<StoreFileCorruptException>(() => new PipelineRunner(Store).Status(Build()));
        }
        else Assert.Contains(named, (await Assert.ThrowsAsync<StageFailedException>(() => Run(Build()))).Message);
        Assert.Contains(named, Assert.Throws<StoreFileCorruptException>(() => Store.CollectGarbage(NoGrace)).Message);
        Assert.Equal("precious", File.ReadAllText(victim + ".parquet"));
        Assert.True(File.Exists(victim + ".meta.json"));
        Assert.False(Directory.Exists(Path.Combine(Store.Root, "quarantine")));
        Assert.Throws<InvalidDataException>(() => Store.ObjectPath(new ArtifactRef(evil, ArtifactKind.Table, 1, 1)));
    }

    // ------------------------------------------------------------------ 4. bit rot

    [Fact]
    public async Task BitRotWithUnchangedSizeAndMtimeFailsTheReaderNamingTheArtifact()
    {
        var clean = await Run(Build(count: 5000), SmallBatches);
        var src = clean.Stages["src"].Outputs["numbers"];
        await Damage.SilentBitRot(Store.ObjectPath(src));
        Assert.Equal(ArtifactHealth.Ok, Store.Verify(src)); // the stamps cannot tell

        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(count: 5000), SmallBatches with { Force = ["copy"] }));
        Assert.Equal("copy", e.Stage);
        Assert.Contains("src.numbers", e.Message);
        Assert.Contains("corrupt", e.Message);
        Assert.False(File.Exists(Store.ObjectPath(src)));  // moved to quarantine/
        Assert.Single(Directory.GetFiles(Path.Combine(Store.Root, "quarantine")));
        Assert.Equal(clean.Stages["copy"].Outputs["numbers"], Store.ReadLock("safe").Stages["copy"].Outputs["numbers"]); // nothing committed

        var again = await Run(Build(count: 5000), SmallBatches);  // the producer is recomputed, the rest matches the clean run
        Assert.Equal(StageStatus.Ran, again.Stages["src"].Status);
        Assert.Equal(src, again.Stages["src"].Outputs["numbers"]);
        Assert.Equal(clean.Stages["sum"].Outputs["groups"].Hash, again.Stages["sum"].Outputs["groups"].Hash);
    }

    [Fact]
    public async Task ADamagedFooterIsCaughtBeforeTheParquetReaderParsesIt()
    {
        var clean = await Run(Build(count: 5000), SmallBatches);
        var src = clean.Stages["src"].Outputs["numbers"];
        var path = Store.ObjectPath(src);
        Damage.FlipKeepingStamps(path, new FileInfo(path).Length - 9); // the footer's last byte (Parquet.Net can hang on it)
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(count: 5000), SmallBatches with { Force = ["copy"] }));
        Assert.Equal("copy", e.Stage);
        Assert.IsType<ArtifactCorruptException>(e.InnerException);
        Assert.Contains("src.numbers", e.Message);
    }

    [Fact]
    public async Task AStageThatStopsReadingEarlyStillHasItsInputVerifiedBeforeAnythingIsCommitted()
    {
        var clean = await Run(Build(count: 5000), SmallBatches);
        var src = clean.Stages["src"].Outputs["numbers"];
        await Damage.SilentBitRot(Store.ObjectPath(src));
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(count: 5000, readBatches: 1), SmallBatches with { Force = ["copy"] }));
        Assert.Equal("copy", e.Stage);
        Assert.Contains("src.numbers", e.Message);
    }

    [Fact]
    public async Task VerifyingWhileReadingReadsAlmostNothingTwice()
    {
        var r = await Run(Build(count: 20_000), SmallBatches);
        var a = r.Stages["src"].Outputs["numbers"];
        var reader = (StoredTableReader)Store.OpenTable(a, "src.numbers");
        long rows = 0;
        await foreach (var b in reader.ReadBatchesAsync()) rows += b.Length;
        Assert.Equal(20_000, rows);
        Assert.True(reader.Verified);
        // Only the footer (and the 4-byte header, read with it) is hashed after the row groups: well under a tenth of the file.
        Assert.InRange(reader.LastCatchUpBytes, 1, new FileInfo(reader.Path).Length / 10);
    }

    [Fact]
    public async Task VerifyReHashesEveryArtifactAndExternalFileAKeyDependsOn()
    {
        var clean = await Run(Build(count: 5000), SmallBatches);
        await Damage.SilentBitRot(Store.ObjectPath(clean.Stages["sum"].Outputs["groups"]));
        Assert.True(new PipelineRunner(Store).Status(Build(count: 5000)).UpToDate);       // the documented fast path
        var verified = new PipelineRunner(Store, new RunOptions { VerifyHashes = true }).Status(Build(count: 5000));
        Assert.Equal(["artifact groups corrupt"], verified["sum"].Reasons);
        var rerun = await Run(Build(count: 5000), SmallBatches with { VerifyHashes = true });
        Assert.Equal(StageStatus.Ran, rerun.Stages["sum"].Status);
        Assert.Equal(clean.Stages["sum"].Outputs["groups"], rerun.Stages["sum"].Outputs["groups"]);

        // An external file edited in place with its size and mtime restored.
        var file = Path.Combine(Dir, "ext.txt");
        File.WriteAllText(file, "one");
        Pipeline P() { var p = new Pipeline("ext"); p.Add(new ReadsFile("read", Probe, file)); return p; }
        await Run(P());
        Damage.FlipKeepingStamps(file, 0);
        Assert.True(new PipelineRunner(Store).Status(P()).UpToDate);
        Assert.Equal([$"external file changed: {file}"], new PipelineRunner(Store, new RunOptions { VerifyHashes = true }).Status(P())["read"].Reasons);
    }

    // ------------------------------------------------------------------ 11. disk full, leftovers of dead processes

    [Fact]
    public async Task ADiskFullErrorNamesTheStageEvenWhenTheManifestCannotBeWrittenEither()
    {
        var p = new Pipeline("full");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 10 }));
        p.Add(new FillsDisk("dump", Probe)).From("numbers", src["numbers"]);
        // The disk is "full" for the manifest too: its directory cannot be created.
        Directory.CreateDirectory(Store.PipelineDir("full"));
        File.WriteAllText(Store.RunsDir("full"), "not a directory");
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(p));
        Assert.Equal("dump", e.Stage);
        Assert.StartsWith("stage 'dump' failed: No space left on device", e.Message);
        Assert.StartsWith("(not written: ", e.Result.ManifestPath);
        Assert.Equal(["src"], Store.ReadLock("full").Stages.Keys);
    }

    static int DeadPid()
    {
        using var p = System.Diagnostics.Process.Start("true")!;
        p.WaitForExit();
        return p.Id;
    }

    [Fact]
    public async Task GcRemovesTempFilesAndRunRecordsOfDeadProcessesOnly()
    {
        var r = await Run(Build(count: 100));
        int dead = DeadPid(), alive = Environment.ProcessId;
        var key = r.Stages["src"].Key!;
        var hash = r.Stages["src"].Outputs["numbers"].Hash;
        var leftovers = new[]
        {
            Path.Combine(Store.Root, "cache", key[..2], $"{key}.json.tmp-{dead}-0123456789abcdef"),
            Path.Combine(Store.PipelineDir("safe"), $"lock.json.tmp-{dead}-0123456789abcdef"),
            Path.Combine(Store.Root, "objects", hash[..2], $"{hash}.meta.json.tmp-{dead}-0123456789abcdef"),
            Path.Combine(Store.Root, $"filehashes.json.tmp-{dead}-0123456789abcdef"),
        };
        var live = Path.Combine(Store.PipelineDir("safe"), $"lock.json.tmp-{alive}-0123456789abcdef");
        foreach (var f in leftovers.Append(live)) File.WriteAllText(f, "half");
        // A run record of a dead process pins an object no lock references: the pin dies with the process.
        var orphan = (await Run(Build(count: 200))).Stages["src"].Outputs["numbers"];
        await Run(Build(count: 100));
        Directory.CreateDirectory(Path.Combine(Store.Root, "inflight"));
        var record = Path.Combine(Store.Root, "inflight", "dead-run.json");
        File.WriteAllText(record, $"{{\"run_id\":\"dead-run\",\"pipeline\":\"safe\",\"pid\":{dead},\"hashes\":[\"{orphan.Hash}\"]}}");

        var gc = Store.CollectGarbage(NoGrace);
        Assert.Equal(4, gc.TempFilesDeleted);
        Assert.All(leftovers, f => Assert.False(File.Exists(f)));
        Assert.True(File.Exists(live));
        Assert.False(File.Exists(record));
        Assert.False(File.Exists(Store.ObjectPath(orphan)));
        Assert.Equal(0, gc.KeptInFlight);
    }

    // ------------------------------------------------------------------ fault injection, items 1-4

    /// <summary>
    /// Rounds of injected faults on one store, every kind in turn, with configurations drawn from a seeded random
    /// source: gc while a run is paused mid-stage, an unreadable lock or cache entry, a lock or cache entry whose
    /// hash points outside the store, and bit rot that keeps size and mtime. After each fault and its documented
    /// repair, a run must produce exactly what a clean store produces, every artifact must verify in full, and
    /// the file outside the store must be untouched. Bounded by the number of rounds, not by time.
    /// </summary>
    [Fact]
    public async Task FaultInjectionRoundsNeverLoseDataTrustCorruptBytesOrTouchFilesOutsideTheStore()
    {
        const int rounds = 12;
        var rng = new Random(14);
        var counts = new long[] { 1000, 2000, 3000 };
        var clean = new ArtifactStore(Path.Combine(Dir, "clean"));
        var reference = new Dictionary<long, string>();
        foreach (var c in counts)
            reference[c] = (await new PipelineRunner(clean, SmallBatches).RunAsync(Build(c))).Stages["sum"].Outputs["groups"].Hash;
        var victim = Path.Combine(Dir, "outside", "victim");
        Directory.CreateDirectory(Path.GetDirectoryName(victim)!);
        File.WriteAllText(victim + ".parquet", "precious");
        var evil = Path.GetRelativePath(Store.Root, victim).Replace('\\', '/');
        var faults = new Dictionary<string, int>();

        async Task<RunResult> Good(long count, RunOptions? o = null)
        {
            var r = await Run(Build(count), (o ?? SmallBatches) with { Execution = SmallBatches.Execution });
            Assert.Equal(reference[count], r.Stages["sum"].Outputs["groups"].Hash);
            foreach (var s in r.Stages.Values)
                foreach (var a in s.Outputs.Values) Assert.Equal(ArtifactHealth.Ok, Store.Verify(a, fullHash: true));
            return r;
        }

        await Good(counts[0]);
        for (int round = 0; round < rounds; round++)
        {
            long count = counts[rng.Next(counts.Length)];
            var last = await Good(count);
            string kind;
            switch (round % 4)
            {
                case 0: // gc while a run is paused inside a stage, reusing cached objects the lock no longer names
                {
                    kind = "gc during a run";
                    long other = counts.First(c => c != count);
                    var gate = new Gate();
                    var running = Run(Build(other, gate), SmallBatches with { Force = ["copy"] });
                    await Paused(gate, running);
                    var before = Damage.ObjectFiles(Store);
                    Assert.Throws<StoreBusyException>(() => Store.CollectGarbage(NoGrace));
                    Assert.Equal(before, Damage.ObjectFiles(Store));
                    gate.Release.SetResult();
                    await running;
                    Store.CollectGarbage(NoGrace); // after the run: allowed, and must keep what the lock names
                    count = other;
                    break;
                }
                case 1: // an unreadable lock or cache entry: everything refuses, gc deletes nothing; repair = delete the file
                {
                    bool inLock = rng.Next(2) == 0;
                    kind = inLock ? "unreadable lock" : "unreadable cache entry";
                    var key = last.Stages["copy"].Key!;
                    var file = inLock ? Store.LockPath("safe") : Path.Combine(Store.Root, "cache", key[..2], key + ".json");
                    File.WriteAllText(file, rng.Next(2) == 0 ? "{\"stages\": {\"src\": null}" : "null");
                    var before = Damage.ObjectFiles(Store);
                    Assert.Contains(file, Assert.Throws<StoreFileCorruptException>(() => Store.CollectGarbage(NoGrace)).Message);
                    Assert.Equal(before, Damage.ObjectFiles(Store));
                    if (inLock) Assert.Throws<StoreFileCorruptException>(() => new PipelineRunner(Store).Status(Build(count)));
                    else Assert.Contains(file, (await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(count), SmallBatches))).Message);
                    File.Delete(file);
                    break;
                }
                case 2: // a hash that names a file outside the store
                {
                    bool inLock = rng.Next(2) == 0;
                    kind = inLock ? "hostile hash in lock" : "hostile hash in cache entry";
                    var key = last.Stages["src"].Key!;
                    var file = inLock ? Store.LockPath("safe") : Path.Combine(Store.Root, "cache", key[..2], key + ".json");
                    if (inLock) Damage.SetLockOutputHash(Store, "safe", "src", "numbers", evil);
                    else
                    {
                        var doc = JsonNode.Parse(File.ReadAllText(file))!;
                        doc["outputs"]!["numbers"]!["hash"] = evil;
                        File.WriteAllText(file, doc.ToJsonString());
                    }
                    Assert.Throws<StoreFileCorruptException>(() => Store.CollectGarbage(NoGrace));
                    if (inLock) Assert.Throws<StoreFileCorruptException>(() => Store.Resolve(Build(count), "src.numbers"));
                    else await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(count), SmallBatches));
                    File.Delete(file);
                    break;
                }
                default: // bit rot with size and mtime kept, in an intermediate table or in the final one
                {
                    bool intermediate = rng.Next(2) == 0;
                    kind = intermediate ? "bit rot in an input" : "bit rot in a final output";
                    var a = last.Stages[intermediate ? "src" : "sum"].Outputs[intermediate ? "numbers" : "groups"];
                    await Damage.SilentBitRot(Store.ObjectPath(a));
                    if (intermediate)
                    {
                        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(count), SmallBatches with { Force = ["copy"] }));
                        Assert.IsType<ArtifactCorruptException>(e.InnerException);
                    }
                    else
                    {
                        Assert.True(new PipelineRunner(Store).Status(Build(count)).UpToDate); // the fast path cannot see it
                        Assert.Equal(StageState.Stale, new PipelineRunner(Store, new RunOptions { VerifyHashes = true }).Status(Build(count))["sum"].State);
                    }
                    break;
                }
            }
            faults[kind] = faults.GetValueOrDefault(kind) + 1;
            await Good(count);
            Assert.Equal("precious", File.ReadAllText(victim + ".parquet"));
        }
        Assert.Equal(rounds, faults.Values.Sum());
        Assert.Equal(rounds / 4, faults["gc during a run"]);
    }

    [Fact]
    public async Task ACorruptDirectoryInputFailsTheStageThatWouldReadIt()
    {
        var file = Path.Combine(Dir, "ext.txt");
        File.WriteAllText(file, "a checkpoint");
        Pipeline P() { var p = new Pipeline("dir"); var r = p.Add(new ReadsFile("read", Probe, file)); p.Add(new DirCopy("use", Probe)).From("dir", r["copy"]); return p; }
        var clean = await Run(P());
        var dir = Store.ObjectPath(clean.Stages["read"].Outputs["copy"]);
        Damage.FlipKeepingStamps(Path.Combine(dir, "copy.txt"), 3);
        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(P(), new RunOptions { Force = ["use"] }));
        Assert.Equal("use", e.Stage);
        Assert.Contains("read.copy", e.Message);
        Assert.Contains("corrupt", e.Message);
        var again = await Run(P());
        Assert.Equal(StageStatus.Ran, again.Stages["read"].Status);
        Assert.Equal(clean.Stages["use"].Outputs["dir"], again.Stages["use"].Outputs["dir"]);
    }
}
