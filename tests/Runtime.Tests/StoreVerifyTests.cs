using System.Text.Json.Nodes;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>Writes two files into a directory output.</summary>
public sealed class DirSource(string name, Probe probe) : Stage<Empty>(name)
{
    public override string Kind => "test.dir-source";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("dir")];

    public override Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var dir = ctx.OutputDirectory("dir");
        File.WriteAllText(Path.Combine(dir, "weights.bin"), "0123456789abcdef");
        File.WriteAllText(Path.Combine(dir, "config.json"), "{\"layers\": 2}");
        return Task.CompletedTask;
    }
}

/// <summary>Sums column 'value' reading only that column (a column-projected read, as decontamination's first pass).</summary>
public sealed class SumOneColumn(string name, Probe probe) : Stage<Empty>(name)
{
    public override string Kind => "test.sum-one-column";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("groups", "example_groups")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        long sum = 0, rows = 0;
        await foreach (var b in ctx.ReadTable("numbers").ReadColumnsAsync(["value"], ctx.CancellationToken))
        {
            Assert.Equal(["value"], b.Schema.FieldsList.Select(f => f.Name));
            for (int i = 0; i < b.Length; i++) sum += b.GetInt64("value", i)!.Value;
            rows += b.Length;
        }
        var bb = new BatchBuilder(TableSchema.Get("example_groups"));
        bb.Set("group", 0).Set("count", rows).Set("sum_square", (double)sum).EndRow();
        await ctx.WriteTable("groups").WriteAsync(bb.Build(), ctx.CancellationToken);
    }
}

/// <summary>
/// <see cref="ArtifactStore.Verify"/> and the reads that check content, on real store objects: what an intact, a
/// touched, a rotted table and a rotted directory come to, in a writable store (quarantined, stamps refreshed) and a
/// read-only one (reported, left in place), and a column-projected read of rotted bytes failing its stage afterwards.
/// </summary>
public class StoreVerifyTests : StoreTest
{
    Pipeline Table(long count = 500) { var p = new Pipeline("verify"); p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = count })); return p; }

    async Task<ArtifactRef> Produce(Pipeline p, string stage, string output)
    {
        var run = await Run(p);
        Assert.True(run.Succeeded);
        return run.Stages[stage].Outputs[output];
    }

    JsonObject Meta(ArtifactStore store, ArtifactRef a) => JsonNode.Parse(File.ReadAllText(store.MetaPathOf(a.Hash)))!.AsObject();

    [Fact]
    public async Task A_touched_but_intact_table_is_ok_and_its_stamps_are_refreshed_so_the_next_check_is_cheap()
    {
        var a = await Produce(Table(), "src", "numbers");
        var store = Store;
        string path = store.ObjectPath(a);
        var later = File.GetLastWriteTimeUtc(path).AddMinutes(5);
        File.SetLastWriteTimeUtc(path, later);
        Assert.NotEqual(later.Ticks, Meta(store, a)["mtime_ticks"]!.GetValue<long>());

        Assert.Equal(ArtifactHealth.Ok, store.Verify(a));
        Assert.Equal(later.Ticks, Meta(store, a)["mtime_ticks"]!.GetValue<long>());
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task A_rotted_table_is_corrupt_moved_to_quarantine_and_no_longer_trusted()
    {
        var a = await Produce(Table(), "src", "numbers");
        var store = Store;
        string path = store.ObjectPath(a);
        await Damage.SilentBitRot(path);
        Assert.Equal(ArtifactHealth.Ok, store.Verify(a));               // size and mtime stamps cannot see it
        Assert.Equal(ArtifactHealth.Corrupt, store.Verify(a, fullHash: true));
        Assert.False(File.Exists(path));
        Assert.False(File.Exists(store.MetaPathOf(a.Hash)));
        Assert.Single(Directory.GetFiles(store.QuarantineDir), f => Path.GetFileName(f).StartsWith(Path.GetFileName(path) + ".", StringComparison.Ordinal));
        Assert.Equal(ArtifactHealth.Missing, store.Verify(a, fullHash: true));
        // The next run recomputes it.
        Assert.Equal(StageStatus.Ran, (await Run(Table())).Stages["src"].Status);
    }

    [Fact]
    public async Task A_changed_file_in_a_directory_artifact_moves_the_directory_to_quarantine()
    {
        var p = new Pipeline("verify-dir");
        p.Add(new DirSource("dir", Probe));
        var a = await Produce(p, "dir", "dir");
        var store = Store;
        string path = store.ObjectPath(a);
        Damage.FlipKeepingStamps(Path.Combine(path, "weights.bin"), 3);
        Assert.Equal(ArtifactHealth.Corrupt, store.Verify(a, fullHash: true));
        Assert.False(Directory.Exists(path));
        Assert.Single(Directory.GetDirectories(store.QuarantineDir), d => Path.GetFileName(d).StartsWith(Path.GetFileName(path) + ".", StringComparison.Ordinal));
        Assert.False(File.Exists(store.MetaPathOf(a.Hash)));
    }

    [Fact]
    public async Task A_read_only_store_reports_rot_and_leaves_everything_in_place()
    {
        var a = await Produce(Table(), "src", "numbers");
        var readOnly = ArtifactStore.OpenReadOnly(Path.Combine(Dir, "store"));
        string path = readOnly.ObjectPath(a);
        string meta = File.ReadAllText(readOnly.MetaPathOf(a.Hash));
        File.SetLastWriteTimeUtc(path, File.GetLastWriteTimeUtc(path).AddMinutes(5));
        Assert.Equal(ArtifactHealth.Ok, readOnly.Verify(a));
        Assert.Equal(meta, File.ReadAllText(readOnly.MetaPathOf(a.Hash)));   // intact: its stamps stay as they are

        await Damage.SilentBitRot(path);
        Assert.Equal(ArtifactHealth.Corrupt, readOnly.Verify(a, fullHash: true));
        Assert.True(File.Exists(path));                                     // a writing process moves it aside
        Assert.Equal(meta, File.ReadAllText(readOnly.MetaPathOf(a.Hash)));
        Assert.False(Directory.Exists(readOnly.QuarantineDir));
        var e = Assert.Throws<ArtifactCorruptException>(() => readOnly.VerifyContent(a, "src.numbers"));
        Assert.Contains("src.numbers", e.Message);
        Assert.True(File.Exists(path));
    }

    [Fact]
    public async Task A_missing_object_is_named_with_what_to_do()
    {
        var a = await Produce(Table(), "src", "numbers");
        var store = Store;
        File.Delete(store.ObjectPath(a));
        var e = Assert.Throws<FileNotFoundException>(() => store.VerifyContent(a, "src.numbers"));
        Assert.Equal($"artifact src.numbers ({a.Hash[..12]}) is missing from store {store.Root}; rerun the pipeline to recompute it", e.Message);
    }

    [Fact]
    public async Task A_column_projected_read_of_rotted_bytes_fails_its_stage_after_it_ran_and_quarantines_the_input()
    {
        Pipeline Build()
        {
            var p = new Pipeline("verify");
            var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = 500 }));
            p.Add(new SumOneColumn("sum", Probe)).From("numbers", src["numbers"]);
            return p;
        }
        var first = await Run(Build());
        Assert.True(first.Succeeded);
        // The projected read saw every row's value: 0 + 1 + … + 499.
        await foreach (var b in Store.OpenTable(Build(), "sum.groups").ReadBatchesAsync())
            Assert.Equal((500L, 124_750.0), (b.GetInt64("count", 0), b.GetDouble("sum_square", 0)));
        var a = first.Stages["src"].Outputs["numbers"];
        await Damage.SilentBitRot(Store.ObjectPath(a));

        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(Build(), new RunOptions { Force = ["sum"] }));
        Assert.Equal("sum", e.Stage);
        Assert.IsType<ArtifactCorruptException>(e.InnerException);
        Assert.False(File.Exists(Store.ObjectPath(a)));
        // Nothing computed from the rotted bytes was stored: the rerun recomputes the source (the same content at the
        // same address), and the sum the first run computed from the intact bytes stands.
        var again = await Run(Build());
        Assert.Equal((StageStatus.Ran, StageStatus.Cached), (again.Stages["src"].Status, again.Stages["sum"].Status));
        Assert.Equal(a, again.Stages["src"].Outputs["numbers"]);
        Assert.Equal(first.Stages["sum"].Outputs["groups"], again.Stages["sum"].Outputs["groups"]);
    }
}
