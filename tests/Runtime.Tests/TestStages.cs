using System.Collections.Concurrent;
using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Runtime.Tests;

/// <summary>Counts stage executions and record computations (not part of any configuration, so not of any key).</summary>
public sealed class Probe
{
    public ConcurrentDictionary<string, int> Runs { get; } = new();
    public int RunsOf(string stage) => Runs.GetValueOrDefault(stage);
    public int Computed;
    public void Ran(string stage) => Runs.AddOrUpdate(stage, 1, (_, n) => n + 1);
}

public sealed class SourceConfig
{
    public long Count { get; set; } = 100;
    public long Start { get; set; }
}

/// <summary>Rows value = Start..Start+Count-1, id "r{value}", x = value / 10, group = value % 3.</summary>
public sealed class NumbersSource(string name, Probe probe, SourceConfig? config = null) : Stage<SourceConfig>(name, config)
{
    public override string Kind => "test.source";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var w = ctx.WriteTable("numbers");
        var bb = new BatchBuilder(TableSchema.Get("example_numbers"));
        for (long v = Config.Start; v < Config.Start + Config.Count; v++)
        {
            bb.Set("id", $"r{v}").Set("value", v).Set("x", v / 10.0).Set("group", (int)(v % 3)).EndRow();
            if (bb.Count == ctx.Execution.BatchRows) await w.WriteAsync(bb.Build(), ctx.CancellationToken);
        }
        if (bb.Count > 0) await w.WriteAsync(bb.Build(), ctx.CancellationToken);
    }

    public static IEnumerable<long> Values(long start, long count) => Enumerable.Range(0, (int)count).Select(i => start + i);
}

public sealed class AddConfig
{
    public long Delta { get; set; } = 1;
    public bool Fail { get; set; }
}

/// <summary>value += delta (through StageDataflow); throws after its first batch when Fail is set.</summary>
public sealed class AddDelta(string name, Probe probe, AddConfig? config = null, int version = 1) : Stage<AddConfig>(name, config)
{
    public int CodeVersion { get; set; } = version;
    public override string Kind => "test.add";
    public override int Version => CodeVersion;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        long delta = Config.Delta;
        int batches = 0;
        await StageDataflow.TransformAsync(ctx.ReadTable("numbers"), ctx.WriteTable("numbers"), b =>
        {
            if (Config.Fail && Interlocked.Increment(ref batches) > 1) throw new InvalidOperationException("boom: configured to fail");
            var values = ((Int64Array)b.Col("value")).Values.ToArray().Select(v => v + delta);
            return new RecordBatch(b.Schema, [b.Col("id"), new Int64Array.Builder().AppendRange(values).Build(), b.Col("x"), b.Col("group")], b.Length);
        }, ctx.Execution with { MaxDegreeOfParallelism = 2 }, ctx.CancellationToken);
    }
}

public sealed class Empty;

/// <summary>Per group: count and sum of value (in sum_square).</summary>
public sealed class SumValues(string name, Probe probe) : Stage<Empty>(name)
{
    public override string Kind => "test.sum";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("groups", "example_groups")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var sums = new SortedDictionary<int, (long n, double s)>();
        await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken))
            for (int i = 0; i < b.Length; i++)
            {
                int g = b.GetInt32("group", i)!.Value;
                var t = sums.GetValueOrDefault(g);
                sums[g] = (t.n + 1, t.s + b.GetInt64("value", i)!.Value);
            }
        var bb = new BatchBuilder(TableSchema.Get("example_groups"));
        foreach (var (g, t) in sums) bb.Set("group", g).Set("count", t.n).Set("sum_square", t.s).EndRow();
        await ctx.WriteTable("groups").WriteAsync(bb.Build(), ctx.CancellationToken);
        ctx.SetMetric("groups", sums.Count);
    }
}

public sealed class KeepConfig
{
    public long Modulus { get; set; } = 2;
}

/// <summary>Keeps rows with value % modulus != 0, recording every decision.</summary>
public sealed class KeepOdd(string name, Probe probe, KeepConfig? config = null) : Stage<KeepConfig>(name, config)
{
    public override string Kind => "test.keep";
    public override int Version => 1;
    public override bool WritesDecisions => true;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("kept", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var bb = new BatchBuilder(TableSchema.Get("example_numbers"));
        await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken))
            for (int i = 0; i < b.Length; i++)
            {
                long v = b.GetInt64("value", i)!.Value;
                var id = b.GetString("id", i)!;
                if (v % Config.Modulus == 0) { ctx.Decisions.Record(id, false, "multiple", $"{v} % {Config.Modulus} == 0"); continue; }
                ctx.Decisions.Record(id, true, "kept");
                bb.Set("id", id).Set("value", v).Set("x", b.GetDouble("x", i)).Set("group", b.GetInt32("group", i)).EndRow();
            }
        await ctx.WriteTable("kept").WriteAsync(bb.Build(), ctx.CancellationToken);
    }
}

/// <summary>A record-wise stage: value*value per record, memoised by record id; counts real computations.</summary>
public sealed class SquareMemo(string name, Probe probe) : Stage<Empty>(name)
{
    public override string Kind => "test.square-memo";
    public override int Version => 1;
    public override bool IsRecordWise => true;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        var bb = new BatchBuilder(TableSchema.Get("example_numbers"));
        await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken))
            for (int i = 0; i < b.Length; i++)
            {
                var id = b.GetString("id", i)!;
                long v = b.GetInt64("value", i)!.Value;
                if (!ctx.Memo.TryGet(id, out var cached))
                {
                    Interlocked.Increment(ref probe.Computed);
                    cached = (v * v).ToString();
                    await ctx.Memo.PutAsync(id, cached, ctx.CancellationToken);
                }
                bb.Set("id", id).Set("value", long.Parse(cached)).Set("x", b.GetDouble("x", i)).Set("group", b.GetInt32("group", i)).EndRow();
            }
        await ctx.WriteTable("numbers").WriteAsync(bb.Build(), ctx.CancellationToken);
    }
}

/// <summary>Reads an external file; its content is part of the key.</summary>
public sealed class ReadsFile(string name, Probe probe, string path) : Stage<Empty>(name)
{
    public override string Kind => "test.reads-file";
    public override int Version => 1;
    public override IEnumerable<string> ExternalInputs => [path];
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("copy")];

    public override Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        File.Copy(path, Path.Combine(ctx.OutputDirectory("copy"), "copy.txt"));
        return Task.CompletedTask;
    }
}

/// <summary>Writes its own kind. Instances with different kinds share class, code, configuration and (if so named) name.</summary>
public sealed class NamesItsKind(string name, Probe probe, string kind) : Stage<Empty>(name)
{
    public override string Kind => kind;
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("out")];

    public override Task RunAsync(IStageContext ctx)
    {
        probe.Ran(Name);
        File.WriteAllText(Path.Combine(ctx.OutputDirectory("out"), "kind.txt"), Kind);
        return Task.CompletedTask;
    }
}

/// <summary>Test helpers: a temp store per test.</summary>
public abstract class StoreTest : IDisposable
{
    protected readonly string Dir = Directory.CreateTempSubdirectory("iwsft-engine-").FullName;
    protected readonly Probe Probe = new();
    protected ArtifactStore Store => new(Path.Combine(Dir, "store"));
    public virtual void Dispose() { try { Directory.Delete(Dir, recursive: true); } catch (IOException) { } }

    protected Task<RunResult> Run(Pipeline p, RunOptions? o = null, CancellationToken ct = default) =>
        new PipelineRunner(Store, o ?? new RunOptions()).RunAsync(p, ct);

    protected static IReadOnlyDictionary<string, StageStatus> Statuses(RunResult r) => r.Stages.ToDictionary(kv => kv.Key, kv => kv.Value.Status);

    protected async Task<List<long>> Values(Pipeline p, string output)
    {
        var list = new List<long>();
        await foreach (var b in Store.OpenTable(p, output).ReadBatchesAsync())
            for (int i = 0; i < b.Length; i++) list.Add(b.GetInt64("value", i)!.Value);
        return list;
    }
}
