using System.Text.Json.Nodes;
using Apache.Arrow;
using Apache.Arrow.Types;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>
/// Derived tables (<see cref="IStageContext.DeriveTable"/>) through the real runner: what a reader sees equals the rows
/// written in full, the stored file holds only row numbers and new columns and names the plain base, a table derived
/// from a derived one points at the same base, and the store's safety holds across the link: gc keeps a base whatever
/// keeps its derived table, a missing base makes the derived table missing (so the runner recomputes), and a damaged
/// base fails the reading stage and is moved aside.
/// </summary>
public class DerivedTableTests : StoreTest
{
    public sealed class DeriveConfig
    {
        public long Modulus { get; set; } = 3;
        public string Tag { get; set; } = "t1";
        /// <summary>Hand the writer a wrapped reader, so the engine writes the rows in full (the path outside the engine).</summary>
        public bool Materialize { get; set; }
    }

    /// <summary>
    /// Keeps rows whose value is not a multiple of the modulus, doubles <c>x</c> (a replaced column) and adds a string
    /// column named by the tag; reads only <c>value</c> and <c>x</c>.
    /// </summary>
    public sealed class DeriveKeep(string name, Probe probe, DeriveConfig? config = null) : Stage<DeriveConfig>(name, config)
    {
        public override string Kind => "test.derive";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("kept", "example_numbers")];

        public override async Task RunAsync(IStageContext ctx)
        {
            probe.Ran(Name);
            var input = ctx.ReadTable("numbers");
            await using var w = ctx.DeriveTable("kept", Config.Materialize ? new Wrapped(input) : input);
            var x = new Field("x", DoubleType.Default, false);
            var tag = new Field(Config.Tag, StringType.Default, true);
            long first = 0;
            await foreach (var b in input.ReadColumnsAsync(["value", "x"], ctx.CancellationToken))
            {
                var rows = new List<long>();
                var xs = new DoubleArray.Builder();
                var tags = new StringArray.Builder();
                for (int i = 0; i < b.Length; i++)
                {
                    long v = b.GetInt64("value", i)!.Value;
                    if (v % Config.Modulus == 0) continue;
                    rows.Add(first + i);
                    xs.Append(b.GetDouble("x", i)!.Value * 2);
                    if (v % 7 == 0) tags.AppendNull(); else tags.Append($"{Config.Tag}:{v}");
                }
                var columns = new RecordBatch(new Schema.Builder().Field(x).Field(tag).Build(), [xs.Build(), tags.Build()], rows.Count);
                if (rows.Count > 0) await w.WriteRowsAsync(rows, columns, ctx.CancellationToken);
                first += b.Length;
            }
        }

        sealed class Wrapped(ITableReader inner) : ITableReader
        {
            public string Artifact => inner.Artifact;
            public Schema Schema => inner.Schema;
            public long RowCount => inner.RowCount;
            public string ContentHash => inner.ContentHash;
            public IAsyncEnumerable<RecordBatch> ReadBatchesAsync(CancellationToken cancellationToken = default) => inner.ReadBatchesAsync(cancellationToken);
        }
    }

    /// <summary>Copies every column of its input into a plain table (a stage downstream of a derived table).</summary>
    public sealed class CopyAll(string name, Probe probe) : Stage<Empty>(name)
    {
        public override string Kind => "test.copy-all";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("copy", "example_numbers")];

        public override async Task RunAsync(IStageContext ctx)
        {
            probe.Ran(Name);
            var w = ctx.WriteTable("copy");
            await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken)) await w.WriteAsync(b, ctx.CancellationToken);
        }
    }

    const int Count = 250;
    static readonly RunOptions SmallBatches = new() { Execution = new ExecutionOptions { BatchRows = 16 } };

    Pipeline Build(bool materialize = false)
    {
        var p = new Pipeline("derived");
        var src = p.Add(new NumbersSource("src", Probe, new SourceConfig { Count = Count }));
        var d1 = p.Add(new DeriveKeep("d1", Probe, new DeriveConfig { Modulus = 3, Tag = "t1", Materialize = materialize })).From("numbers", src["numbers"]);
        var d2 = p.Add(new DeriveKeep("d2", Probe, new DeriveConfig { Modulus = 5, Tag = "t2", Materialize = materialize })).From("numbers", d1["kept"]);
        p.Add(new CopyAll("copy", Probe)).From("numbers", d2["kept"]);
        return p;
    }

    /// <summary>The rows d2 must hold, cell by cell, as text (column order id, value, x, group, t1, t2).</summary>
    static List<string> Expected() =>
        Enumerable.Range(0, Count).Where(v => v % 3 != 0 && v % 5 != 0)
            .Select(v => $"r{v}|{v}|{v / 10.0 * 4}|{v % 3}|{(v % 7 == 0 ? "null" : $"t1:{v}")}|{(v % 7 == 0 ? "null" : $"t2:{v}")}").ToList();

    static string Errors(RunResult r) => string.Join("; ", r.Stages.Values.Where(s => s.Error != null).Select(s => $"{s.Name}: {s.Error}"));

    async Task<List<string>> Rows(ITableReader reader, IReadOnlyList<string>? columns = null)
    {
        var rows = new List<string>();
        var batches = columns is null ? reader.ReadBatchesAsync() : reader.ReadColumnsAsync(columns);
        await foreach (var b in batches)
            for (int i = 0; i < b.Length; i++)
                rows.Add(string.Join("|", Enumerable.Range(0, b.ColumnCount).Select(c => CellValues.Get(b.Column(c), i)?.ToString() ?? "null")));
        return rows;
    }

    [Fact]
    public async Task A_derived_table_reads_as_the_rows_it_stands_for_and_stores_only_row_numbers_and_new_columns()
    {
        var p = Build();
        var r = await Run(p, SmallBatches);
        Assert.True(r.Succeeded, Errors(r));

        var d2 = Store.OpenTable(p, "d2.kept");
        Assert.Equal(["id", "value", "x", "group", "t1", "t2"], d2.Schema.FieldsList.Select(f => f.Name));
        Assert.Equal(Expected(), await Rows(d2));
        Assert.Equal(Expected().Count, d2.RowCount);
        // Projections: stored columns only, base columns only, and both in a new order.
        Assert.Equal(Expected().Select(e => e.Split('|')[5]), await Rows(d2, ["t2"]));
        Assert.Equal(Expected().Select(e => e.Split('|')[1] + "|" + e.Split('|')[0]), await Rows(d2, ["value", "id"]));
        Assert.Equal(Expected().Select(e => $"{e.Split('|')[4]}|{e.Split('|')[3]}|{e.Split('|')[2]}"), await Rows(d2, ["t1", "group", "x"]));
        // The stage after it reads the same rows and writes them in full.
        Assert.Equal(Expected(), await Rows(Store.OpenTable(p, "copy.copy")));

        // d2's file: row numbers and the columns d1 and d2 wrote, pointing at src's table (not at d1's).
        var src = Store.Resolve(p, "src.numbers");
        var (physical, rows, metadata) = await ParquetTableFileReader.ReadFooterAsync(Store.ObjectPath(Store.Resolve(p, "d2.kept")));
        Assert.Equal([DerivedTable.RowColumn, "x", "t1", "t2"], physical.FieldsList.Select(f => f.Name));
        Assert.Equal(Expected().Count, rows);
        Assert.Equal(src.Hash, metadata[DerivedTable.BaseKey]);
        var (d1Physical, _, d1Metadata) = await ParquetTableFileReader.ReadFooterAsync(Store.ObjectPath(Store.Resolve(p, "d1.kept")));
        Assert.Equal([DerivedTable.RowColumn, "x", "t1"], d1Physical.FieldsList.Select(f => f.Name));
        Assert.Equal(src.Hash, d1Metadata[DerivedTable.BaseKey]);
        Assert.True(Store.Resolve(p, "d2.kept").Bytes < src.Bytes);
    }

    [Fact]
    public async Task Written_in_full_outside_the_engine_it_is_the_same_table()
    {
        var derived = Build();
        Assert.True((await Run(derived, SmallBatches)).Succeeded);
        using var other = new ArtifactStoreDir();
        var full = Build(materialize: true);
        var r = await new PipelineRunner(other.Store, SmallBatches).RunAsync(full);
        Assert.True(r.Succeeded, Errors(r));
        foreach (var output in new[] { "d1.kept", "d2.kept" })
        {
            var plain = other.Store.OpenTable(full, output);
            var (physical, _, metadata) = await ParquetTableFileReader.ReadFooterAsync(other.Store.ObjectPath(other.Store.Resolve(full, output)));
            Assert.False(metadata.ContainsKey(DerivedTable.BaseKey));
            Assert.Equal(plain.Schema.FieldsList.Select(f => f.Name), physical.FieldsList.Select(f => f.Name));
            Assert.Equal(await Rows(plain), await Rows(Store.OpenTable(derived, output)));
            Assert.Equal(plain.Schema.FieldsList.Select(f => (f.Name, f.DataType.TypeId, f.IsNullable)),
                Store.OpenTable(derived, output).Schema.FieldsList.Select(f => (f.Name, f.DataType.TypeId, f.IsNullable)));
        }
        // Same logical content, different stored form: the downstream copies are byte-identical tables.
        Assert.Equal(other.Store.Resolve(full, "copy.copy").Hash, Store.Resolve(derived, "copy.copy").Hash);
    }

    sealed class ArtifactStoreDir : IDisposable
    {
        readonly string _dir = Directory.CreateTempSubdirectory("iwsft-derived-").FullName;
        public ArtifactStore Store => new(Path.Combine(_dir, "store"));
        public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }
    }

    /// <summary>Drops a stage's entry from the pipeline's lock, as if the lock no longer named its output.</summary>
    void Forget(string stage)
    {
        var path = Store.LockPath("derived");
        var doc = JsonNode.Parse(File.ReadAllText(path))!;
        doc["stages"]!.AsObject().Remove(stage);
        File.WriteAllText(path, doc.ToJsonString());
    }

    [Fact]
    public async Task Gc_keeps_the_base_of_a_derived_table_it_keeps_and_deletes_it_with_the_last_table_that_needs_it()
    {
        var p = Build();
        Assert.True((await Run(p, SmallBatches)).Succeeded);
        var src = Store.Resolve(p, "src.numbers");
        var d1 = Store.Resolve(p, "d1.kept");
        var d2 = Store.Resolve(p, "d2.kept");
        Forget("src");
        Forget("d1");
        Forget("copy");

        Store.CollectGarbage(new GcOptions { Grace = TimeSpan.Zero });
        Assert.False(File.Exists(Store.ObjectPath(d1)));          // named by nothing, needed by nothing
        Assert.True(File.Exists(Store.ObjectPath(src)));          // named by nothing, but d2 reads it
        Assert.Equal(ArtifactHealth.Ok, Store.Verify(d2, fullHash: true));
        Assert.Equal(Expected(), await Rows(Store.OpenTable(d2, "d2.kept")));

        // The sidecar is a cache: without it gc reads the base from the table's footer.
        File.Delete(Store.MetaPathOf(d2.Hash));
        Store.CollectGarbage(new GcOptions { Grace = TimeSpan.Zero });
        Assert.True(File.Exists(Store.ObjectPath(src)));

        Forget("d2");
        Store.CollectGarbage(new GcOptions { Grace = TimeSpan.Zero });
        Assert.False(File.Exists(Store.ObjectPath(d2)));
        Assert.False(File.Exists(Store.ObjectPath(src)));
    }

    [Fact]
    public async Task A_recent_derived_table_keeps_an_old_base_through_the_grace_period()
    {
        var p = Build();
        Assert.True((await Run(p, SmallBatches)).Succeeded);
        var src = Store.Resolve(p, "src.numbers");
        var d2 = Store.Resolve(p, "d2.kept");
        foreach (var f in Directory.GetFiles(Path.GetDirectoryName(Store.ObjectPath(src))!, src.Hash + "*"))
            File.SetLastWriteTimeUtc(f, DateTime.UtcNow.AddDays(-2));
        foreach (var s in new[] { "src", "d1", "d2", "copy" }) Forget(s);

        var gc = Store.CollectGarbage(new GcOptions { Grace = TimeSpan.FromHours(1) });
        Assert.True(File.Exists(Store.ObjectPath(d2)));
        Assert.True(File.Exists(Store.ObjectPath(src)));
        Assert.Equal(0, gc.ObjectsDeleted);
    }

    [Fact]
    public async Task A_missing_base_makes_the_derived_table_missing_and_a_rerun_recomputes_it()
    {
        var p = Build();
        Assert.True((await Run(p, SmallBatches)).Succeeded);
        var src = Store.Resolve(p, "src.numbers");
        var d2 = Store.Resolve(p, "d2.kept");
        File.Delete(Store.ObjectPath(src));

        Assert.Equal(ArtifactHealth.Missing, Store.Verify(d2));
        var e = await Assert.ThrowsAsync<FileNotFoundException>(async () => await Rows(Store.OpenTable(d2, "d2.kept")));
        Assert.Contains(src.Hash[..12], e.Message);
        Assert.Contains("missing", e.Message);

        var again = await Run(p, SmallBatches);
        Assert.True(again.Succeeded, Errors(again));
        Assert.Equal(StageStatus.Ran, again.Stages["src"].Status);
        Assert.Equal(src.Hash, Store.Resolve(p, "src.numbers").Hash); // deterministic: the same base again
        Assert.Equal(Expected(), await Rows(Store.OpenTable(p, "d2.kept")));
        Assert.Equal(Expected(), await Rows(Store.OpenTable(p, "copy.copy")));
    }

    [Fact]
    public async Task A_damaged_base_fails_the_stage_reading_through_it_and_is_moved_aside()
    {
        var p = Build();
        Assert.True((await Run(p, SmallBatches)).Succeeded);
        var src = Store.Resolve(p, "src.numbers");
        var d2 = Store.Resolve(p, "d2.kept");
        // Damage a byte of the base's 'x' pages: readers of d2 never decode them (d2 stores its own x), so only the
        // hash check can notice.
        long at;
        await using (var reader = await Parquet.ParquetReader.CreateAsync(Store.ObjectPath(src)))
        {
            var x = reader.Schema.GetDataFields().Single(f => f.Name == "x");
            using var rg = reader.OpenRowGroupReader(0);
            at = rg.GetMetadata(x)!.MetaData!.DataPageOffset + 20;
        }
        Damage.FlipKeepingStamps(Store.ObjectPath(src), at);

        var e = await Assert.ThrowsAsync<StageFailedException>(() => Run(p, SmallBatches with { Force = ["copy"] }));
        Assert.Equal("copy", e.Stage);
        var corrupt = Assert.IsType<ArtifactCorruptException>(e.InnerException);
        Assert.Contains($"d2.kept → base table ({src.Hash[..12]}) is corrupt", corrupt.Message);
        Assert.False(File.Exists(Store.ObjectPath(src)));                  // quarantined
        Assert.Equal(ArtifactHealth.Missing, Store.Verify(d2));

        var again = await Run(p, SmallBatches);
        Assert.True(again.Succeeded, Errors(again));
        Assert.Equal(Expected(), await Rows(Store.OpenTable(p, "copy.copy")));
    }
}
