using System.Text;
using Apache.Arrow;
using Apache.Arrow.Types;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages;

namespace IwSft.Pipelines.Example;

// Small real stages that exercise the engine: a source, a parallel record-wise transform, a filter with
// decisions, aggregations on two independent branches, and a directory artifact.

public sealed class GenerateConfig
{
    public long Count { get; set; } = 10_000;
    public int Seed { get; set; } = 1;
    public int Groups { get; set; } = 7;
}

/// <summary>Emits <c>count</c> rows: id, value = index, x = seeded uniform [0,1), group = value % groups.</summary>
public sealed class GenerateNumbers(string name, GenerateConfig? config = null) : Stage<GenerateConfig>(name, config)
{
    public override string Kind => "example.generate";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("numbers", "example_numbers")];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.Count < 0) throw new ArgumentException($"stage '{Name}': count must be >= 0, got {Config.Count}");
        if (Config.Groups <= 0) throw new ArgumentException($"stage '{Name}': groups must be > 0, got {Config.Groups}");
        var schema = TableSchema.Get("example_numbers").ToArrow();
        var writer = ctx.WriteTable("numbers");
        var rng = new Random(Config.Seed);
        int batchRows = ctx.Execution.BatchRows;
        for (long start = 0; start < Config.Count; start += batchRows)
        {
            ctx.CancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(batchRows, Config.Count - start);
            var ids = new StringArray.Builder();
            var values = new long[n];
            var xs = new double[n];
            var groups = new int[n];
            for (int i = 0; i < n; i++)
            {
                long v = start + i;
                ids.Append("n" + v.ToString("D9"));
                values[i] = v;
                xs[i] = rng.NextDouble();
                groups[i] = (int)(v % Config.Groups);
            }
            await writer.WriteAsync(new RecordBatch(schema, [ids.Build(), new Int64Array.Builder().AppendRange(values).Build(),
                new DoubleArray.Builder().AppendRange(xs).Build(), new Int32Array.Builder().AppendRange(groups).Build()], n), ctx.CancellationToken);
            ctx.ReportProgress(start + n, Config.Count);
        }
    }
}

public sealed class SquareConfig
{
    public long Offset { get; set; }
}

/// <summary>square = (value + offset)^2, computed batch by batch on a bounded, ordered Dataflow pipeline.</summary>
public sealed class SquareNumbers(string name, SquareConfig? config = null) : Stage<SquareConfig>(name, config)
{
    public override string Kind => "example.square";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("squared", "example_squared")];

    public override async Task RunAsync(IStageContext ctx)
    {
        var schema = TableSchema.Get("example_squared").ToArrow();
        long offset = Config.Offset;
        await StageDataflow.TransformAsync(ctx.ReadTable("numbers"), ctx.WriteTable("squared"), batch =>
        {
            var values = ((Int64Array)batch.Col("value")).Values;
            var squares = new long[batch.Length];
            for (int i = 0; i < squares.Length; i++) { long v = values[i] + offset; squares[i] = v * v; }
            return new RecordBatch(schema, [batch.Col("id"), batch.Col("value"), new Int64Array.Builder().AppendRange(squares).Build(), batch.Col("group")], batch.Length);
        }, ctx.Execution, ctx.CancellationToken, ctx);
    }
}

public sealed class FilterConfig
{
    public long Divisor { get; set; } = 3;
}

/// <summary>Drops numbers divisible by <c>divisor</c>, recording a decision for every row.</summary>
public sealed class DropMultiples(string name, FilterConfig? config = null) : Stage<FilterConfig>(name, config)
{
    public override string Kind => "example.drop-multiples";
    public override int Version => 1;
    public override bool WritesDecisions => true;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("squared", "example_squared")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("kept", "example_squared")];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.Divisor == 0) throw new ArgumentException($"stage '{Name}': divisor must not be 0");
        long divisor = Config.Divisor;
        await StageDataflow.TransformAsync(ctx.ReadTable("squared"), ctx.WriteTable("kept"), batch =>
        {
            var values = ((Int64Array)batch.Col("value")).Values;
            var ids = (StringArray)batch.Col("id");
            var keep = new List<int>(batch.Length);
            for (int i = 0; i < batch.Length; i++)
            {
                if (values[i] % divisor == 0) ctx.Decisions.Record(ids.GetString(i), false, "divisible", $"{values[i]} % {divisor} == 0");
                else { ctx.Decisions.Record(ids.GetString(i), true, "kept"); keep.Add(i); }
            }
            return RecordBatchRows.Take(batch, keep);
        }, ctx.Execution, ctx.CancellationToken, ctx);
    }
}

public sealed class NoConfig;

/// <summary>Per-group count and sum of squares of the kept numbers.</summary>
public sealed class SumByGroup(string name) : Stage<NoConfig>(name)
{
    public override string Kind => "example.sum-by-group";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("rows", "example_squared")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("groups", "example_groups")];

    public override async Task RunAsync(IStageContext ctx)
    {
        var totals = new SortedDictionary<int, (long count, double sum)>();
        await foreach (var b in ctx.ReadTable("rows").ReadBatchesAsync(ctx.CancellationToken))
        {
            var squares = ((Int64Array)b.Col("square")).Values;
            var groups = ((Int32Array)b.Col("group")).Values;
            for (int i = 0; i < b.Length; i++)
            {
                var t = totals.GetValueOrDefault(groups[i]);
                totals[groups[i]] = (t.count + 1, t.sum + squares[i]);
            }
        }
        var bb = new BatchBuilder(TableSchema.Get("example_groups"));
        foreach (var (g, t) in totals) bb.Set("group", g).Set("count", t.count).Set("sum_square", t.sum).EndRow();
        await ctx.WriteTable("groups").WriteAsync(bb.Build(), ctx.CancellationToken);
        ctx.SetMetric("groups", totals.Count);
    }
}

public sealed class HistogramConfig
{
    public int Buckets { get; set; } = 10;
}

/// <summary>Counts x over equal-width buckets of [0, 1).</summary>
public sealed class Histogram(string name, HistogramConfig? config = null) : Stage<HistogramConfig>(name, config)
{
    public override string Kind => "example.histogram";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("numbers", "example_numbers")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("histogram", "example_histogram")];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.Buckets <= 0) throw new ArgumentException($"stage '{Name}': buckets must be > 0, got {Config.Buckets}");
        var counts = new long[Config.Buckets];
        await foreach (var b in ctx.ReadTable("numbers").ReadBatchesAsync(ctx.CancellationToken))
            foreach (var x in ((DoubleArray)b.Col("x")).Values)
                counts[Math.Clamp((int)(x * Config.Buckets), 0, Config.Buckets - 1)]++;
        var bb = new BatchBuilder(TableSchema.Get("example_histogram"));
        for (int i = 0; i < counts.Length; i++) bb.Set("bucket", i).Set("lower", (double)i / Config.Buckets).Set("count", counts[i]).EndRow();
        await ctx.WriteTable("histogram").WriteAsync(bb.Build(), ctx.CancellationToken);
    }
}

/// <summary>Joins both branches into a small text report (a directory artifact).</summary>
public sealed class WriteReport(string name) : Stage<NoConfig>(name)
{
    public override string Kind => "example.report";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [PortSpec.Table("groups", "example_groups"), PortSpec.Table("histogram", "example_histogram")];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("report")];

    public override async Task RunAsync(IStageContext ctx)
    {
        var sb = new StringBuilder("group\tcount\tsum_square\n");
        await foreach (var b in ctx.ReadTable("groups").ReadBatchesAsync(ctx.CancellationToken))
            for (int i = 0; i < b.Length; i++) sb.Append($"{b.GetInt32("group", i)}\t{b.GetInt64("count", i)}\t{b.GetDouble("sum_square", i):R}\n");
        sb.Append("\nbucket\tlower\tcount\n");
        await foreach (var b in ctx.ReadTable("histogram").ReadBatchesAsync(ctx.CancellationToken))
            for (int i = 0; i < b.Length; i++) sb.Append($"{b.GetInt32("bucket", i)}\t{b.GetDouble("lower", i):R}\t{b.GetInt64("count", i)}\n");
        await File.WriteAllTextAsync(Path.Combine(ctx.OutputDirectory("report"), "report.tsv"), sb.ToString(), ctx.CancellationToken);
    }
}
