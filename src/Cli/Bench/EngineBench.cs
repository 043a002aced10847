using System.Diagnostics;
using Apache.Arrow;
using IwSft.Pipelines.Example;
using IwSft.Runtime;

namespace IwSft.Cli.Bench;

/// <summary>
/// The engine's speed figures, each against a baseline from the same run: a no-op rerun of the 6-stage
/// example pipeline over 1M rows vs its first (computing) run, and the store's Parquet write and read
/// throughput vs a plain copy of the same file.
/// </summary>
public static class EngineBench
{
    public static async Task<BenchReport> RunAsync(BenchContext ctx)
    {
        long rows = ctx.Quick ? 100_000 : 1_000_000;
        var report = new BenchReport();
        var store = new ArtifactStore(Path.Combine(ctx.WorkDir, "store"));
        var runner = new PipelineRunner(store);

        var sw = Stopwatch.StartNew();
        var first = await runner.RunAsync(ExamplePipeline.Build("bench-engine", rows), ctx.CancellationToken);
        double firstS = sw.Elapsed.TotalSeconds;
        ctx.Log.WriteLine($"first run: {firstS:F2}s ({string.Join(", ", first.Stages.Values.Select(s => $"{s.Name} {s.Duration.TotalSeconds:F2}s"))})");

        // A no-op rerun from a freshly built pipeline object, as `iwsft run` would do.
        var noops = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            sw.Restart();
            var again = await runner.RunAsync(ExamplePipeline.Build("bench-engine", rows), ctx.CancellationToken);
            noops.Add(sw.Elapsed.TotalSeconds);
            if (again.Stages.Values.Any(s => s.Status != StageStatus.Cached)) throw new InvalidOperationException("no-op rerun recomputed a stage");
        }
        noops.Sort();
        double noop = noops[noops.Count / 2];
        report.Add("rows", rows).Add("stages", first.Stages.Count)
              .Add("first_run_s", firstS).Add("noop_rerun_s", noop).Add("noop_over_first_ratio", noop / firstS);

        // Store throughput on the generated table (id string, value int64, x float64, group int32).
        var source = store.OpenTable(ExamplePipeline.Build("bench-engine", rows), "generate.numbers");
        var batches = new List<RecordBatch>();
        await foreach (var b in source.ReadBatchesAsync(ctx.CancellationToken)) batches.Add(b);
        var path = store.ObjectPath(store.Resolve(ExamplePipeline.Build("bench-engine", rows), "generate.numbers"));
        double mb = new FileInfo(path).Length / 1e6;

        var writeTimes = new List<double>();
        var readTimes = new List<double>();
        var copyTimes = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            var bench = new ArtifactStore(Path.Combine(ctx.WorkDir, $"throughput-{i}"));
            sw.Restart();
            var a = await bench.ImportTableAsync(ToAsync(batches), batches[0].Schema, ct: ctx.CancellationToken);
            writeTimes.Add(sw.Elapsed.TotalSeconds);
            sw.Restart();
            long n = 0;
            await foreach (var b in bench.OpenTable(a, "t").ReadBatchesAsync(ctx.CancellationToken)) n += b.Length;
            readTimes.Add(sw.Elapsed.TotalSeconds);
            if (n != rows) throw new InvalidOperationException($"read {n} rows, wrote {rows}");
            var copy = Path.Combine(ctx.WorkDir, $"copy-{i}.parquet");
            sw.Restart();
            File.Copy(bench.ObjectPath(a), copy);
            using (var fs = new FileStream(copy, FileMode.Open, FileAccess.ReadWrite)) fs.Flush(flushToDisk: true);
            copyTimes.Add(sw.Elapsed.TotalSeconds);
        }
        double w = Median(writeTimes), r = Median(readTimes), c = Median(copyTimes);
        report.Add("parquet_mb", mb)
              .Add("store_write_mb_s", mb / w).Add("store_read_mb_s", mb / r).Add("file_copy_mb_s", mb / c)
              .Add("write_over_copy_time_ratio", w / c).Add("read_over_copy_time_ratio", r / c)
              .Add("store_write_rows_s", rows / w).Add("store_read_rows_s", rows / r);
        report.Notes.Add("no-op rerun: median of 5 reruns after one computing run; reads only lock/cache JSON and stat()s artifacts");
        report.Notes.Add("store write = Arrow→Parquet (snappy) + fsync + sha256 + rename; read = Parquet→Arrow batches; copy = File.Copy + fsync of the same file; medians of 3");
        return report;
    }

    static double Median(List<double> xs) { xs.Sort(); return xs[xs.Count / 2]; }

    static async IAsyncEnumerable<RecordBatch> ToAsync(IEnumerable<RecordBatch> batches)
    {
        foreach (var b in batches) { yield return b; await Task.CompletedTask; }
    }
}
