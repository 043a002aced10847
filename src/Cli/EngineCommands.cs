using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using IwSft.Cli.Bench;
using IwSft.Gpu;
using IwSft.Pipelines;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Progress;
using Spectre.Console;

namespace IwSft.Cli;

/// <summary>The engine's commands: run, status, dag, why, show, gc, bench.</summary>
public static class EngineCommands
{
    public static IEnumerable<Command> All(PipelineRegistry pipelines) => [Run(pipelines), Status(pipelines), Dag(pipelines), Why(pipelines), Show(pipelines), Gc(), BenchCommand()];

    static Argument<string> PipelineArg() => new("pipeline") { Description = "Pipeline name (see `iwsft list`)." };
    static Option<string?> StoreOpt() => new("--store") { Description = "Artifact store directory (default: .iwsft in the current directory)." };
    static Option<bool> QuickOpt() => new("--quick") { Description = "Build the pipeline's small variant (tests, smoke runs)." };

    static ArtifactStore OpenStore(string? dir) => new(dir ?? ArtifactStore.DefaultRoot);

    static Pipeline Build(PipelineRegistry pipelines, string name, bool quick, string? paramsFile = null, string? store = null) =>
        pipelines.Build(name, new PipelineBuildOptions { Quick = quick, ParamsFile = paramsFile, StoreRoot = store });

    /// <summary>Runs an action; user errors (bad names, bad input, failed stages) print one line to stderr, exit 1.</summary>
    internal static async Task<int> Guard(Func<Task<int>> action)
    {
        try { return await action(); }
        catch (OperationCanceledException) { Console.Error.WriteLine("cancelled"); return 130; }
        catch (StageFailedException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            Console.Error.WriteLine($"manifest: {e.Result.ManifestPath}");
            return 1;
        }
        catch (Exception e) when (e is ArgumentException or KeyNotFoundException or InvalidOperationException or FileNotFoundException
                                      or DirectoryNotFoundException or InvalidDataException or SchemaMismatchException or FormatException or IOException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
    }

    static Command Run(PipelineRegistry pipelines)
    {
        var pipeline = PipelineArg();
        var force = new Option<string[]>("--force") { Description = "Recompute this stage even if cached (repeatable).", AllowMultipleArgumentsPerToken = false };
        var forceRecords = new Option<string[]>("--force-records") { Description = "Recompute this stage and every one of its memoised records (judge answers, log-probs, samples) (repeatable)." };
        var until = new Option<string?>("--until") { Description = "Run only this stage and the stages it depends on." };
        var set = new Option<string[]>("--set") { Description = "Override a configuration value: <stage>.<key>=<value> (repeatable; value is JSON or a plain string)." };
        var store = StoreOpt();
        var quick = QuickOpt();
        var verify = new Option<bool>("--verify") { Description = "Re-hash every artifact instead of trusting size + mtime." };
        var plain = new Option<bool>("--plain") { Description = "Plain progress lines even on a terminal." };
        var paramsFile = new Option<string?>("--params") { Description = "Parameters file of a pipeline driven by one (eval: checkpoints, benchmarks, generation, thresholds)." };
        var junit = new Option<string?>("--junit") { Description = "eval: write JUnit XML, one test case per checkpoint × benchmark (failing where a threshold fails)." };
        var summaryJson = new Option<string?>("--summary-json") { Description = "eval: write accuracy, pass@k, Wilson 95% interval and n per checkpoint × benchmark, with the commit and store keys." };
        var baseline = new Option<string?>("--baseline") { Description = "eval: summary file (or store) of an earlier run, for max_drop (overrides thresholds.baseline)." };
        var c = new Command("run", "Run a pipeline, recomputing only stages whose cache key changed.") { pipeline, force, forceRecords, until, set, store, quick, verify, plain, paramsFile, junit, summaryJson, baseline };
        c.SetAction((pr, ct) => Guard(async () =>
        {
            // Before any tensor work and before the stages start: libtorch's thread count is the host's to set.
            TorchThreads.ConfigureProcess(TorchThreads.PipelineRun);
            string name = pr.GetValue(pipeline)!;
            var p = Build(pipelines, name, pr.GetValue(quick), pr.GetValue(paramsFile), pr.GetValue(store));
            IProgressSink sink = !pr.GetValue(plain) && SpectreProgressSink.IsInteractive ? new SpectreProgressSink() : new PlainProgressSink(Console.Out);
            var runner = new PipelineRunner(OpenStore(pr.GetValue(store)), new RunOptions
            {
                Force = pr.GetValue(force) ?? [], ForceRecords = pr.GetValue(forceRecords) ?? [], Until = pr.GetValue(until), Overrides = pr.GetValue(set) ?? [],
                Progress = sink, VerifyHashes = pr.GetValue(verify),
            });
            var r = await runner.RunAsync(p, ct);
            PrintRunSummary(r);
            if (name == "eval" && pr.GetValue(until) is null)
                return await EvalCiCommands.AfterRunAsync(OpenStore(pr.GetValue(store)), p.Name, pr.GetValue(paramsFile) ?? IwSft.Pipelines.Eval.EvalPipeline.DefaultParamsFile,
                    pr.GetValue(junit), pr.GetValue(summaryJson), pr.GetValue(baseline), ct);
            if (pr.GetValue(junit) is not null || pr.GetValue(summaryJson) is not null || pr.GetValue(baseline) is not null)
                throw new ArgumentException("--junit, --summary-json and --baseline apply to `iwsft run eval` (without --until)");
            return 0;
        }));
        return c;
    }

    static void PrintRunSummary(RunResult r)
    {
        var t = new Table().AddColumns("stage", "status", "rows", "time", "reason");
        foreach (var s in r.Stages.Values)
            t.AddRow(Markup.Escape(s.Name), s.Status.ToString().ToLowerInvariant(),
                Markup.Escape(string.Join(" ", s.Rows.Select(kv => $"{kv.Key}={kv.Value:N0}"))),
                s.Status == StageStatus.Ran ? $"{s.Duration.TotalSeconds:F2}s" : "", Markup.Escape(s.Reason));
        AnsiConsole.Write(t);
    }

    static Command Status(PipelineRegistry pipelines)
    {
        var pipeline = PipelineArg();
        var store = StoreOpt();
        var quick = QuickOpt();
        var verify = new Option<bool>("--verify") { Description = "Re-hash every artifact instead of trusting size + mtime." };
        // Same overrides as `run --set`, so a planned change can be previewed before running it.
        var set = new Option<string[]>("--set") { Description = "Preview a configuration override: <stage>.<key>=<value> (repeatable), as `run --set` would apply it." };
        var c = new Command("status", "Show which stages are up to date and why the others would rerun.") { pipeline, store, quick, verify, set };
        c.SetAction(pr => Guard(() =>
        {
            var p = Build(pipelines, pr.GetValue(pipeline)!, pr.GetValue(quick), store: pr.GetValue(store));
            var report = new PipelineRunner(OpenStore(pr.GetValue(store)), new RunOptions { VerifyHashes = pr.GetValue(verify), Overrides = pr.GetValue(set) ?? [] }).Status(p);
            foreach (var s in report.Stages) Console.WriteLine($"{s.Stage,-24} {StatusText(s)}");
            return Task.FromResult(0);
        }).GetAwaiter().GetResult());
        return c;
    }

    static Command Dag(PipelineRegistry pipelines)
    {
        var pipeline = PipelineArg();
        var quick = QuickOpt();
        var c = new Command("dag", "Print the pipeline's stages in dependency order with their inputs and outputs.") { pipeline, quick };
        c.SetAction(pr => Guard(() =>
        {
            var p = Build(pipelines, pr.GetValue(pipeline)!, pr.GetValue(quick));
            var tree = new Tree($"[bold]{Markup.Escape(p.Name)}[/] {Markup.Escape(p.Description)}");
            foreach (var s in PipelineRunner.Order(p))
            {
                var node = tree.AddNode($"[bold]{Markup.Escape(s.Name)}[/] ({Markup.Escape(s.Kind)} v{s.Version})");
                foreach (var (input, src) in s.Bindings) node.AddNode($"in  {Markup.Escape(input)} ← {Markup.Escape(src.ToString())}");
                foreach (var o in s.Outputs) node.AddNode($"out {Markup.Escape(o.Name)} ({o.Kind.ToString().ToLowerInvariant()}{(o.Schema is null ? "" : ", schema " + Markup.Escape(o.Schema))})");
                if (s.WritesDecisions) node.AddNode("out decisions (table, schema decisions)");
                node.AddNode($"config {Markup.Escape(s.ConfigJson().ToJsonString())}");
            }
            AnsiConsole.Write(tree);
            return Task.FromResult(0);
        }).GetAwaiter().GetResult());
        return c;
    }

    static Command Why(PipelineRegistry pipelines)
    {
        var pipeline = PipelineArg();
        var record = new Argument<string>("record-id") { Description = "The record id (as in the decisions tables)." };
        var store = StoreOpt();
        var quick = QuickOpt();
        var c = new Command("why", "Explain where a record was kept or dropped, stage by stage.") { pipeline, record, store, quick };
        c.SetAction((pr, ct) => Guard(async () =>
        {
            var p = Build(pipelines, pr.GetValue(pipeline)!, pr.GetValue(quick), store: pr.GetValue(store));
            var w = await new PipelineRunner(OpenStore(pr.GetValue(store))).WhyAsync(p, pr.GetValue(record)!, ct);
            foreach (var s in w.StagesNotMaterialised) Console.WriteLine($"{s,-24} (no decisions materialised yet: run the pipeline)");
            if (!w.Found)
            {
                Console.Error.WriteLine(WhyNotFound(w));
                return 1;
            }
            foreach (var d in w.Decisions) Console.WriteLine($"{d.Stage,-24} {WhyVerdict(w, d)} {WhyReason(d)}");
            Console.WriteLine(WhyConclusion(w));
            return 0;
        }));
        return c;
    }

    /// <summary>What <c>status</c> prints after the stage name (the web view shows the same text).</summary>
    internal static string StatusText(StageStatusEntry s) => s.State == StageState.UpToDate ? "up to date" : $"stale: {string.Join("; ", s.Reasons)}";

    internal static string WhyNotFound(WhyReport w) =>
        $"error: record '{w.RecordId}' is in no decisions table of pipeline '{w.Pipeline}'" +
        (w.StagesNotMaterialised.Count > 0 ? $" (not materialised yet: {string.Join(", ", w.StagesNotMaterialised)})" : "");

    /// <summary>A stage that kept one occurrence of the id and dropped others dropped duplicates, not the record.</summary>
    internal static string WhyVerdict(WhyReport w, RecordDecision d) =>
        d.Kept ? "kept   " : w.Decisions.Any(k => k.Stage == d.Stage && k.Kept) ? "DROPPED (another occurrence)" : "DROPPED";

    internal static string WhyReason(RecordDecision d) => $"{d.Reason}{(d.Detail is null ? "" : " — " + d.Detail)}";

    /// <summary>The last line of <c>why</c>: where the record was dropped, or that every stage kept it.</summary>
    internal static string WhyConclusion(WhyReport w)
    {
        if (w.DroppedAt is { } at) return $"'{w.RecordId}' was dropped at stage '{at}': {w.Decisions.First(d => d.Stage == at && !d.Kept).Reason}";
        var duplicates = w.Decisions.Where(d => !d.Kept).GroupBy(d => d.Stage).Select(g => $"{g.Count()} at '{g.Key}'").ToList();
        return $"'{w.RecordId}' was kept by every filtering stage" +
               (duplicates.Count > 0 ? $" (other occurrences of the same id were dropped: {string.Join(", ", duplicates)})" : "");
    }

    static Command Show(PipelineRegistry pipelines)
    {
        var pipeline = PipelineArg();
        var target = new Argument<string>("stage") { Description = "<stage> or <stage>.<output> (default: the stage's first output)." };
        var format = new Option<string>("--format") { Description = "table, jsonl or csv.", DefaultValueFactory = _ => "table" };
        format.AcceptOnlyFromAmong("table", "jsonl", "csv");
        var limit = new Option<int>("--limit") { Description = "Rows to print (0 = all).", DefaultValueFactory = _ => 20 };
        var store = StoreOpt();
        var quick = QuickOpt();
        var c = new Command("show", "Print a materialised table (or list a directory artifact).") { pipeline, target, format, limit, store, quick };
        c.SetAction((pr, ct) => Guard(async () =>
        {
            var p = Build(pipelines, pr.GetValue(pipeline)!, pr.GetValue(quick), store: pr.GetValue(store));
            var st = OpenStore(pr.GetValue(store));
            using var shared = st.LockShared(ct); // gc waits until the table is printed
            var a = st.Resolve(p, pr.GetValue(target)!);
            if (a.Kind == ArtifactKind.Directory)
            {
                var dir = st.ObjectPath(a);
                Console.WriteLine(dir);
                foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Order())
                    Console.WriteLine($"  {Path.GetRelativePath(dir, f)} ({new FileInfo(f).Length:N0} bytes)");
                return 0;
            }
            var reader = st.OpenTable(p, pr.GetValue(target)!);
            await TableOutput.WriteAsync(reader, pr.GetValue(format)!, pr.GetValue(limit), Console.Out, ct);
            return 0;
        }));
        return c;
    }

    static Command Gc()
    {
        var store = StoreOpt();
        var grace = new Option<string>("--grace")
        {
            Description = "Keep unreferenced objects written within this long before gc started (e.g. 0, 90s, 10m, 1h, 2d).",
            DefaultValueFactory = _ => "1h",
        };
        var c = new Command("gc", "Delete store objects no pipeline's latest state references (and their cache entries). " +
                                  "Refuses while a run, status, show or why uses the store, and deletes nothing if a lock or cache entry is unreadable.") { store, grace };
        c.SetAction(pr => Guard(() =>
        {
            var g = ParseDuration(pr.GetValue(grace)!);
            var r = OpenStore(pr.GetValue(store)).CollectGarbage(new GcOptions { Grace = g });
            Console.WriteLine($"deleted {r.ObjectsDeleted} objects ({r.BytesFreed / 1e6:F1} MB), {r.CacheEntriesDeleted} cache entries, " +
                              $"{r.TempDirsDeleted} abandoned temp dirs, {r.TempFilesDeleted} leftover temp files");
            if (r.KeptRecent > 0)
                Console.WriteLine($"kept {r.KeptRecent} unreferenced objects written within the last {pr.GetValue(grace)} (--grace 0 collects them)");
            if (r.KeptInFlight > 0) Console.WriteLine($"kept {r.KeptInFlight} unreferenced objects in use by running processes");
            return Task.FromResult(0);
        }).GetAwaiter().GetResult());
        return c;
    }

    /// <summary>"0", "45s", "10m", "1h", "2d" (or a TimeSpan such as 00:10:00).</summary>
    internal static TimeSpan ParseDuration(string text)
    {
        var t = text.Trim();
        if (t.Length > 1 && char.IsLetter(t[^1]) && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n >= 0 && double.IsFinite(n))
        {
            var unit = char.ToLowerInvariant(t[^1]);
            if (unit is 's' or 'm' or 'h' or 'd')
                return unit switch { 's' => TimeSpan.FromSeconds(n), 'm' => TimeSpan.FromMinutes(n), 'h' => TimeSpan.FromHours(n), _ => TimeSpan.FromDays(n) };
        }
        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var secs) && secs >= 0 && double.IsFinite(secs)) return TimeSpan.FromSeconds(secs);
        if (TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var ts) && ts >= TimeSpan.Zero) return ts;
        throw new ArgumentException($"--grace {text}: not a duration (use e.g. 0, 90s, 10m, 1h, 2d)");
    }

    static Command BenchCommand()
    {
        var name = new Argument<string>("name") { Description = $"Benchmark: {string.Join(", ", BenchCatalog.All.Select(b => b.Name))}." };
        var json = new Option<string?>("--json") { Description = "Also write {\"bench\",\"machine\",\"metrics\"} JSON to this file." };
        var quick = new Option<bool>("--quick") { Description = "Smaller sizes (smoke test of the benchmark itself)." };
        var rows = new Option<int?>("--rows") { Description = "s1k-scale: rows of the generated pool (default 58,986; --quick 2,000)." };
        var traceKb = new Option<int?>("--trace-kb") { Description = "s1k-scale: mean reasoning-trace size in KB (default 150; --quick 20)." };
        var batchMb = new Option<double?>("--batch-mb") { Description = $"s1k-scale: the batch byte budget (ExecutionOptions.BatchBytes) in MiB (default {ExecutionOptions.DefaultBatchBytes >> 20}, the engine's default)." };
        var cacheDir = new Option<string?>("--cache-dir") { Description = "s1k-scale: where the generated pool is kept (default $XDG_CACHE_HOME/s1k-scale, else <temp>/iwsft-cache/s1k-scale)." };
        var pipelineOnly = new Option<bool>("--pipeline-only") { Description = "s1k-scale: measure the pipeline only, without the baselines (no ratios)." };
        var poolRowGroupMb = new Option<double?>("--pool-row-group-mb") { Description = "s1k-scale: row-group size of the generated pool in MiB (default 64); ingest reads one at a time." };
        var c = new Command("bench", "Run a named benchmark and print its figures.") { name, json, quick, rows, traceKb, batchMb, cacheDir, pipelineOnly, poolRowGroupMb };
        c.SetAction((pr, ct) => Guard(async () =>
        {
            var def = BenchCatalog.Get(pr.GetValue(name)!);
            var work = Path.Combine(Path.GetTempPath(), $"iwsft-bench-{def.Name}-{Guid.NewGuid():N}");
            Directory.CreateDirectory(work);
            try
            {
                var report = await def.RunAsync(new BenchContext(pr.GetValue(quick), Console.Out, work, ct)
                {
                    Rows = pr.GetValue(rows), TraceKb = pr.GetValue(traceKb), BatchMb = pr.GetValue(batchMb), CacheDir = pr.GetValue(cacheDir),
                    PipelineOnly = pr.GetValue(pipelineOnly), PoolRowGroupMb = pr.GetValue(poolRowGroupMb),
                });
                var t = new Table().AddColumns("metric", "value");
                foreach (var (k, v) in report.Metrics) t.AddRow(Markup.Escape(k), v.ToString(Math.Abs(v) >= 100 ? "N0" : "G4", CultureInfo.InvariantCulture));
                AnsiConsole.Write(t);
                foreach (var n in report.Notes) Console.WriteLine($"note: {n}");
                if (pr.GetValue(json) is { } path)
                {
                    await File.WriteAllTextAsync(path, BenchCatalog.ToJson(def.Name, report), ct);
                    Console.WriteLine($"wrote {path}");
                }
                return 0;
            }
            finally { try { Directory.Delete(work, recursive: true); } catch (IOException) { } }
        }));
        return c;
    }
}

/// <summary>Writes a table reader as an aligned table, JSON lines or CSV.</summary>
public static class TableOutput
{
    public static async Task WriteAsync(ITableReader reader, string format, int limit, TextWriter output, CancellationToken ct)
    {
        var names = reader.Schema.FieldsList.Select(f => f.Name).ToList();
        int printed = 0;
        Table? table = format == "table" ? new Table().AddColumns(names.Select(n => Markup.Escape(n)).ToArray()) : null;
        if (format == "csv") output.WriteLine(string.Join(",", names.Select(Csv)));
        await foreach (var b in reader.ReadBatchesAsync(ct))
        {
            for (int i = 0; i < b.Length && (limit <= 0 || printed < limit); i++, printed++)
            {
                var cells = Enumerable.Range(0, names.Count).Select(c => CellValues.Get(b.Column(c), i)).ToList();
                switch (format)
                {
                    case "jsonl":
                        var o = new Dictionary<string, object?>();
                        for (int c = 0; c < names.Count; c++) o[names[c]] = cells[c];
                        output.WriteLine(JsonSerializer.Serialize(o));
                        break;
                    case "csv": output.WriteLine(string.Join(",", cells.Select(x => Csv(Text(x))))); break;
                    default: table!.AddRow(cells.Select(x => Markup.Escape(Truncate(Text(x)))).ToArray()); break;
                }
            }
            if (limit > 0 && printed >= limit) break;
        }
        if (table != null)
        {
            AnsiConsole.Write(table);
            Console.WriteLine($"{printed:N0} of {reader.RowCount:N0} rows of {reader.Artifact} ({reader.ContentHash[..12]})");
        }
    }

    internal static string Text(object? v) => v switch
    {
        null => "",
        string s => s,
        byte[] bytes => Convert.ToBase64String(bytes),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        System.Collections.IEnumerable e => JsonSerializer.Serialize(e),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => v.ToString() ?? "",
    };

    static string Truncate(string s) => s.Length > 80 ? s[..77] + "..." : s;

    static string Csv(string s) => s.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + s.Replace("\"", "\"\"") + "\"" : s;
}
