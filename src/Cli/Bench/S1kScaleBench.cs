using System.Diagnostics;
using IwSft.Runtime;
using IwSft.Stages.Curate.Filter;
using IwSft.Stages.Curate.Format;
using IwSft.Stages.Curate.Select;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Ingest;
using Parquet;

namespace IwSft.Cli.Bench;

/// <summary>
/// The data stages of the s1k pipeline from ingest to format, without the judges and models: ingest of the pool
/// (s1's published mapping) and of the benchmarks → decontaminate (s1's chained 8-grams) → trace_tokens (cl100k_base)
/// → filter (missing features, weird strings) → select (1K, s1's math rule; no judged attempt_correct here) → format.
/// The domain is the pool's <c>cot_type</c> (s1 took it from a judge).
/// </summary>
public static class S1kScalePipeline
{
    public static readonly string[] DataStages = ["ingest", "benchmarks", "decontaminate", "trace_tokens", "filter", "select", "format"];

    public static Pipeline Build(string name, string poolPath, IReadOnlyList<(string Path, string Name)> benchmarks, int blockSize = 32768)
    {
        var p = new Pipeline(name, "s1k data stages at scale (bench s1k-scale)");
        var pool = p.Add(new IngestStage("ingest", new IngestConfig
        {
            Sources = [new IngestSource
            {
                Path = poolPath, Name = "full59k", Question = "question", Solution = "solution", Trace = "thinking_trajectories",
                Attempt = "attempt", SourceColumn = "source_type", Answer = "", Domain = "cot_type",
            }],
        }));
        var tests = p.Add(new IngestStage("benchmarks", new IngestConfig
        {
            Mode = IngestMode.Benchmark,
            Sources = benchmarks.Select(b => new IngestSource { Path = b.Path, Name = b.Name, Question = "problem" }).ToList(),
        }));
        var clean = p.Add(new DecontaminateStage("decontaminate", new DecontaminateConfig { BenchmarkInputs = ["benchmarks"] }));
        clean.From(DecontaminateStage.CandidatesInput, pool[pool.MainOutput]).From("benchmarks", tests[tests.MainOutput]);
        var lengths = p.Add(new TokenLengthStage("trace_tokens", new TokenLengthConfig { Tokenizer = "cl100k_base" }));
        lengths.From("records", clean[DecontaminateStage.CleanOutput]);
        var filter = p.Add(new FilterStage("filter", new FilterConfig { RequiredColumns = ["question", "trace", "attempt", "domain", "trace_tokens"] }));
        filter.From("records", lengths["records"]);
        var select = p.Add(new S1kSelectStage("select", new SelectConfig
        {
            BenchmarkRules = [new() { Name = "math_long_trace", SourcePattern = "(?i)^(.*/)?(open)?(ai)?math$", MinTraceLengthExclusive = 5600 }],
        }));
        select.From("records", filter["records"]);
        var format = p.Add(new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", BlockSize = blockSize }));
        format.From("records", select["records"]);
        return p;
    }
}

/// <summary>Peak resident memory of this process (Linux: <c>VmHWM</c>, reset through <c>/proc/self/clear_refs</c>).</summary>
public static class PeakMemory
{
    /// <summary>Resets the kernel's peak (VmHWM) to the current RSS; false where the kernel does not allow it.</summary>
    public static bool Reset()
    {
        try { File.WriteAllText("/proc/self/clear_refs", "5"); return true; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    public static long PeakBytes() => StatusKb("VmHWM:") * 1024;
    public static long CurrentBytes() => StatusKb("VmRSS:") * 1024;

    static long StatusKb(string key)
    {
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(key, StringComparison.Ordinal));
            return line is null ? 0 : long.Parse(line[key.Length..].Trim().Split(' ')[0]);
        }
        catch (IOException) { return 0; }
    }

    /// <summary>Runs <paramref name="work"/> and returns its result, time and the process's peak RSS while it ran (plus the RSS before).</summary>
    public static async Task<(T Result, double Seconds, long PeakBytes, long StartBytes)> MeasureAsync<T>(Func<Task<T>> work)
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        long start = CurrentBytes();
        bool reset = Reset();
        // Where the peak cannot be reset, sample the RSS instead (a lower bound of the peak).
        long sampled = start;
        using var stop = new CancellationTokenSource();
        var sampler = reset ? Task.CompletedTask : Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                sampled = Math.Max(sampled, CurrentBytes());
                try { await Task.Delay(20, stop.Token); } catch (OperationCanceledException) { }
            }
        });
        var sw = Stopwatch.StartNew();
        var result = await work();
        double seconds = sw.Elapsed.TotalSeconds;
        stop.Cancel();
        await sampler;
        return (result, seconds, reset ? PeakBytes() : sampled, start);
    }
}

/// <summary>
/// <c>iwsft bench s1k-scale</c>: generates (or reuses, in a cache directory outside the repository) a pool shaped like
/// s1's 59K pool, then in one process times (1) one plain Parquet.Net read of the whole pool, (2) a plain copy of the file,
/// (3) the data stages ingest → decontaminate → trace_tokens → filter → select → format through the real
/// <see cref="PipelineRunner"/> on a fresh store, each with the process's peak RSS. Ratios are against (1) and (2) of the
/// same run.
/// </summary>
public static class S1kScaleBench
{
    public const int FullRows = 58_986;
    public const int FullTraceKb = 150;

    public static async Task<BenchReport> RunAsync(BenchContext ctx)
    {
        int rows = ctx.Rows ?? (ctx.Quick ? 2_000 : FullRows);
        int traceKb = ctx.TraceKb ?? (ctx.Quick ? 20 : FullTraceKb);
        long batchBytes = ctx.BatchMb is { } mb ? (long)(mb * (1 << 20)) : ExecutionOptions.DefaultBatchBytes;
        var data = BenchCatalog.DataRoot() ?? throw new InvalidOperationException(
            "bench s1k-scale mixes in real question text: set IWSFT_DATA or run from a checkout with ../shared/data");
        var cache = ctx.CacheDir ?? Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x
            : Path.Combine(Path.GetTempPath(), "iwsft-cache"), "s1k-scale");
        double groupMb = ctx.PoolRowGroupMb ?? 64;
        var pool = Path.Combine(cache, $"pool-v1-{rows}x{traceKb}kb" + (groupMb == 64 ? "" : $"-rg{groupMb:0.###}mb") + ".parquet");
        var benchmarks = new List<(string, string)>
        {
            (Path.Combine(data, "benchmarks", "aime24.jsonl"), "aime24"), (Path.Combine(data, "benchmarks", "math500.jsonl"), "math500"),
        };
        var report = new BenchReport();

        var sw = Stopwatch.StartNew();
        S1kPoolInfo? info = null;
        if (!File.Exists(pool))
        {
            ctx.Log.WriteLine($"generating {rows} rows, traces of {traceKb} KB on average → {pool}");
            info = await S1kScalePool.WriteAsync(pool, rows, traceKb * 1024,
                S1kScalePool.ReadQuestions(Path.Combine(data, "candidates", "gsm8k_train.jsonl"), "question"),
                benchmarks.SelectMany(b => S1kScalePool.ReadQuestions(b.Item1, "problem")).ToList(), (long)(groupMb * (1 << 20)), ctx.CancellationToken);
            report.Notes.Add($"pool generated in {sw.Elapsed.TotalSeconds:F0}s: {info.RowGroups} row groups, {info.BenchmarkCopies} benchmark copies, {info.DuplicateRows} duplicates, {info.SourceCount} sources");
        }
        else report.Notes.Add($"pool reused from {pool} (deterministic: same rows and trace size give the same file)");
        long fileBytes = new FileInfo(pool).Length;
        ctx.Log.WriteLine($"pool: {pool} ({fileBytes / 1e9:F2} GB)");

        Directory.CreateDirectory(ctx.WorkDir);
        var plain = (Result: (Rows: 0L, Chars: 0L), Seconds: double.NaN, PeakBytes: 0L, StartBytes: 0L);
        var copy = (Result: 0, Seconds: double.NaN, PeakBytes: 0L, StartBytes: 0L);
        if (!ctx.PipelineOnly)
        {
            // (1) One plain Parquet.Net read of every column of every row group (what any reader of the file must at least do).
            plain = await PeakMemory.MeasureAsync(() => PlainReadAsync(pool, ctx.CancellationToken));
            ctx.Log.WriteLine($"plain Parquet.Net read: {plain.Seconds:F1}s, {plain.Result.Rows} rows, {plain.Result.Chars / 1e9:F2} G chars, peak RSS {plain.PeakBytes / 1e6:F0} MB");
            // (2) A plain copy of the file (read + write of its bytes, nothing decoded).
            var copyPath = Path.Combine(ctx.WorkDir, "copy.parquet");
            copy = await PeakMemory.MeasureAsync(async () => { await CopyAsync(pool, copyPath, ctx.CancellationToken); return 0; });
            File.Delete(copyPath);
            ctx.Log.WriteLine($"plain copy: {copy.Seconds:F1}s");
        }

        // (3) The pipeline's data stages on a fresh store.
        var store = new ArtifactStore(Path.Combine(ctx.WorkDir, "store"));
        var execution = new ExecutionOptions { BatchBytes = batchBytes };
        var pipeline = S1kScalePipeline.Build("s1k-scale", pool, benchmarks);
        var run = await PeakMemory.MeasureAsync(() => new PipelineRunner(store, new RunOptions { Execution = execution }).RunAsync(pipeline, ctx.CancellationToken));
        var result = run.Result;
        if (!result.Succeeded) throw new InvalidOperationException("pipeline failed: " + string.Join("; ", result.Stages.Values.Where(s => s.Error != null).Select(s => $"{s.Name}: {s.Error}")));
        foreach (var s in S1kScalePipeline.DataStages)
            ctx.Log.WriteLine($"  {s}: {result.Stages[s].Duration.TotalSeconds:F1}s, rows {string.Join(", ", result.Stages[s].Rows.Select(r => $"{r.Key} {r.Value}"))}");
        ctx.Log.WriteLine($"pipeline: {run.Seconds:F1}s, peak RSS {run.PeakBytes / 1e6:F0} MB (from {run.StartBytes / 1e6:F0} MB)");

        // (4) After the pipeline (so its memory does not count there): cl100k's speed on traces already in memory, all
        // threads, and from it the time any pipeline needs just to count the tokens trace_tokens counted — a floor no
        // stage design can go under on this machine.
        var (sampleChars, sampleTokens, sampleSeconds) = await TokenizerRateAsync(pool, 256L << 20, ctx.CancellationToken);
        double tokensPerSecond = sampleTokens / sampleSeconds;
        double countedTokens = result.Stages["trace_tokens"].Metrics.GetValueOrDefault("tokens.total");
        double floorS = countedTokens / tokensPerSecond;
        ctx.Log.WriteLine($"cl100k on {sampleChars / 1e6:F0} M chars of traces in memory, {Environment.ProcessorCount} threads: {sampleChars / 1e6 / sampleSeconds:F1} M chars/s, "
                          + $"{tokensPerSecond / 1e6:F2} M tokens/s → counting trace_tokens' {countedTokens / 1e6:F0} M tokens takes ≥ {floorS:F0}s");

        double Stage(string name) => result.Stages[name].Duration.TotalSeconds;
        long Rows(string stage, string output) => result.Stages[stage].Rows.GetValueOrDefault(output);
        double tokensS = Stage("trace_tokens");
        report.Add("rows", rows).Add("trace_kb_mean", traceKb);
        long? text = info?.TextBytes ?? (ctx.PipelineOnly ? null : plain.Result.Chars);
        if (text is long t) report.Add("pool_text_gb", t / 1e9);
        report.Add("pool_file_gb", fileBytes / 1e9).Add("pool_row_group_mb", groupMb).Add("batch_mb", batchBytes / (double)(1 << 20));
        if (!ctx.PipelineOnly)
            report.Add("plain_read_s", plain.Seconds).Add("plain_read_peak_rss_mb", plain.PeakBytes / 1e6).Add("plain_copy_s", copy.Seconds);
        report.Add("pipeline_s", run.Seconds).Add("pipeline_peak_rss_mb", run.PeakBytes / 1e6).Add("pipeline_start_rss_mb", run.StartBytes / 1e6);
        foreach (var s in S1kScalePipeline.DataStages) report.Add($"stage.{s}_s", Stage(s));
        report.Add("tokenizer_chars_per_s", sampleChars / sampleSeconds).Add("tokenizer_tokens_per_s", tokensPerSecond)
            .Add("trace_tokens_counted", countedTokens).Add("tokenizer_floor_s", floorS);
        if (!ctx.PipelineOnly)
            report.Add("tokenizer_floor_over_plain_read", floorS / plain.Seconds)
                .Add("pipeline_over_plain_read", run.Seconds / plain.Seconds)
                .Add("pipeline_without_trace_tokens_over_plain_read", (run.Seconds - tokensS) / plain.Seconds)
                .Add("pipeline_over_plain_copy", run.Seconds / copy.Seconds);
        report
            .Add("ingested", Rows("ingest", IngestStage.CandidatesOutput)).Add("clean", Rows("decontaminate", DecontaminateStage.CleanOutput))
            .Add("contaminated", result.Stages["decontaminate"].Metrics.GetValueOrDefault("contaminated"))
            .Add("filtered", Rows("filter", "records")).Add("selected", Rows("select", "records")).Add("sequences", Rows("format", "sequences"));
        report.Notes.Add("peak RSS = the process's VmHWM while the step ran (reset before it through /proc/self/clear_refs), managed and native memory together");
        report.Notes.Add("pipeline_s includes the store's work (Parquet writes, content hashes, manifests); trace_tokens is cl100k_base over every trace, a tokenizer cost rather than a data-plumbing one, hence the ratio without it");
        return report;
    }

    /// <summary>Every value of every column chunk through Parquet.Net's raw column reader (decompressed and decoded to chars).</summary>
    static async Task<(long Rows, long Chars)> PlainReadAsync(string path, CancellationToken ct)
    {
        long rows = 0, chars = 0;
        await using var reader = await ParquetReader.CreateAsync(path, null, ct);
        var fields = reader.Schema.GetDataFields();
        for (int g = 0; g < reader.RowGroupCount; g++)
        {
            using var rg = reader.OpenRowGroupReader(g);
            rows += rg.RowCount;
            foreach (var f in fields)
            {
                long n = rg.GetMetadata(f)?.MetaData?.NumValues ?? 0;
                var def = f.MaxDefinitionLevel > 0 ? new int[n] : null;
                var rep = f.MaxRepetitionLevel > 0 ? new int[n] : null;
                var t = Nullable.GetUnderlyingType(f.ClrType) ?? f.ClrType;
                if (t == typeof(string) || t == typeof(ReadOnlyMemory<char>))
                {
                    var values = new ReadOnlyMemory<char>[n];
                    await rg.ReadRawAsync<ReadOnlyMemory<char>>(f, values, def is null ? (Memory<int>?)null : def, rep is null ? (Memory<int>?)null : rep, ct);
                    foreach (var v in values) chars += v.Length;
                }
                else await rg.ReadRawAsync<int>(f, new int[n], def is null ? (Memory<int>?)null : def, rep is null ? (Memory<int>?)null : rep, ct);
            }
        }
        return (rows, chars);
    }

    /// <summary>
    /// Reads the pool's first traces (<c>thinking_trajectories</c> joined with "\n", as ingest maps them) until
    /// <paramref name="minChars"/> characters, then times cl100k_base counts of them on all threads (a fresh tokenizer,
    /// as a stage has). Returns the characters, tokens and seconds of the counting alone.
    /// </summary>
    static async Task<(long Chars, long Tokens, double Seconds)> TokenizerRateAsync(string path, long minChars, CancellationToken ct)
    {
        var traces = new List<string>();
        long chars = 0;
        await using (var reader = await ParquetReader.CreateAsync(path, null, ct))
        {
            var leaf = reader.Schema.GetDataFields().Single(f => f.Path.ToString().StartsWith("thinking_trajectories", StringComparison.Ordinal));
            for (int g = 0; g < reader.RowGroupCount && chars < minChars; g++)
            {
                using var rg = reader.OpenRowGroupReader(g);
                long n = rg.GetMetadata(leaf)?.MetaData?.NumValues ?? 0;
                var values = new ReadOnlyMemory<char>[n];
                var def = new int[n];
                var rep = new int[n];
                await rg.ReadRawAsync<ReadOnlyMemory<char>>(leaf, values, def, rep, ct);
                // Repetition level 0 starts a row; values are dense (present items only).
                var row = new List<ReadOnlyMemory<char>>();
                for (int i = 0, v = 0; i <= n; i++)
                {
                    if (i == n || (rep[i] == 0 && i > 0))
                    {
                        var text = string.Join("\n", row);
                        traces.Add(text);
                        chars += text.Length;
                        row.Clear();
                        if (i == n) break;
                    }
                    if (def[i] == leaf.MaxDefinitionLevel) row.Add(values[v++]);
                }
            }
        }
        var tok = IwSft.Text.HfTokenizer.Cl100kBase();
        var counts = new long[traces.Count];
        var sw = Stopwatch.StartNew();
        Parallel.For(0, traces.Count, new ParallelOptions { CancellationToken = ct }, r => counts[r] = tok.CountTokens(traces[r], allowSpecial: false));
        return (chars, counts.Sum(), sw.Elapsed.TotalSeconds);
    }

    static async Task CopyAsync(string from, string to, CancellationToken ct)
    {
        await using (var src = new FileStream(from, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20, FileOptions.SequentialScan))
        await using (var dst = new FileStream(to, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            await src.CopyToAsync(dst, 1 << 20, ct);
            dst.Flush(flushToDisk: true);
        }
    }
}
