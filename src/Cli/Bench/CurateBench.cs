using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using IwSft.Runtime;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Ingest;

namespace IwSft.Cli.Bench;

/// <summary>
/// The judge stage against a local chat-completions server that answers after a fixed latency (a stand-in for
/// a remote LLM API): records/s with 1 request in flight (the baseline) vs 8 and 32, and a rerun over the pool
/// grown by one record (all but one answer from the record memo) vs the first run.
/// </summary>
public static class CurateBench
{
    public static async Task<BenchReport> RunAsync(BenchContext ctx)
    {
        int n = ctx.Quick ? 60 : 400;
        var latency = TimeSpan.FromMilliseconds(25);
        var report = new BenchReport();
        using var server = new LatencyServer(latency);
        string source = Path.Combine(ctx.WorkDir, "pool.jsonl");
        await File.WriteAllLinesAsync(source, Enumerable.Range(0, n).Select(Line), ctx.CancellationToken);
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(ctx.WorkDir, "store")));

        async Task<double> Time(int concurrency)
        {
            var sw = Stopwatch.StartNew();
            var r = await runner.RunAsync(Build(source, server.BaseUrl, concurrency), ctx.CancellationToken);
            double s = r.Stages["judge"].Duration.TotalSeconds;
            ctx.Log.WriteLine($"concurrency {concurrency}: judge {s:F2}s, run {sw.Elapsed.TotalSeconds:F2}s, {r.Stages["judge"].Metrics.GetValueOrDefault("judge.calls")} calls");
            return s;
        }

        // The engine keys the record memo by configuration, so each concurrency starts with an empty memo.
        double seq = await Time(1), c8 = await Time(8), c32 = await Time(32);
        await File.AppendAllLinesAsync(source, [Line(n)], ctx.CancellationToken);
        int before = server.Requests;
        double rerun = await Time(32);
        if (server.Requests - before != 1) throw new InvalidOperationException($"rerun over the grown pool made {server.Requests - before} calls, expected 1");

        report.Add("records", n).Add("server_latency_ms", latency.TotalMilliseconds)
              .Add("records_per_s_concurrency_1", n / seq).Add("records_per_s_concurrency_8", n / c8).Add("records_per_s_concurrency_32", n / c32)
              .Add("speedup_8_over_1", seq / c8).Add("speedup_32_over_1", seq / c32)
              .Add("rerun_plus_one_record_s", rerun).Add("rerun_over_first_ratio", rerun / c32);
        report.Notes.Add("speedups are bounded by latency / per-request CPU; on 2 cores the client and server share the CPU");
        return report;
    }

    static string Line(int i) => new JsonObject { ["question"] = $"Bench question {i}: what is {i} + {i}?", ["trace"] = "t", ["attempt"] = $"{2 * i}" }.ToJsonString();

    static Pipeline Build(string source, string baseUrl, int concurrency)
    {
        var p = new Pipeline("bench-curate");
        var ingest = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = source, Name = "bench" }] }));
        p.Add(new JudgeStage("judge", new JudgeConfig
        {
            BaseUrl = baseUrl, Model = "bench", Kind = JudgeKind.Domain, PromptTemplate = "Classify: {question}", MaxConcurrency = concurrency,
        })).From("records", ingest["candidates"]);
        return p;
    }

    /// <summary>Answers every chat completion with MSC class 11 after a fixed delay.</summary>
    sealed class LatencyServer : IDisposable
    {
        readonly HttpListener _listener = new();
        readonly TimeSpan _latency;
        int _requests;

        public LatencyServer(TimeSpan latency)
        {
            _latency = latency;
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            int port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            BaseUrl = $"http://127.0.0.1:{port}";
            _listener.Prefixes.Add(BaseUrl + "/");
            _listener.Start();
            _ = Task.Run(Loop);
        }

        public string BaseUrl { get; }
        public int Requests => Volatile.Read(ref _requests);

        async Task Loop()
        {
            while (_listener.IsListening)
            {
                HttpListenerContext c;
                try { c = await _listener.GetContextAsync(); }
                catch (Exception) { return; }
                _ = Task.Run(async () =>
                {
                    using (var r = new StreamReader(c.Request.InputStream)) await r.ReadToEndAsync();
                    Interlocked.Increment(ref _requests);
                    await Task.Delay(_latency);
                    var body = Encoding.UTF8.GetBytes("{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"MSC 11\"}}]}");
                    c.Response.ContentType = "application/json";
                    c.Response.ContentLength64 = body.Length;
                    await c.Response.OutputStream.WriteAsync(body);
                    c.Response.Close();
                });
            }
        }

        public void Dispose()
        {
            _listener.Stop();
            _listener.Close();
        }
    }
}
