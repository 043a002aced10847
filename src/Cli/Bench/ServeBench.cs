using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using IwSft.Cli.Serve;
using IwSft.Gpu.Serving;
using IwSft.Text;

namespace IwSft.Cli.Bench;

/// <summary>
/// <c>iwsft serve</c>'s static batching: the same requests sent to the server all at once (they meet in batches) vs
/// one after another (each alone), over loopback, on the eval bench's tiny random model. Identical answers either
/// way (each request has its own seed); the figure is the ratio of wall times in the same run.
/// </summary>
public static class ServeBench
{
    public static async Task<BenchReport> RunAsync(BenchContext ctx)
    {
        var report = new BenchReport();
        string dir = Path.Combine(ctx.WorkDir, "model");
        BenchModel.Write(dir);
        int requests = ctx.Quick ? 16 : 32, newTokens = ctx.Quick ? 16 : 32;
        using var engine = new CompletionEngine(BenchModel.Load(dir), HfTokenizer.Load(dir), maxBatch: 16);
        await using var server = await OpenAiServer.StartAsync(engine, new ServeOptions { ModelName = "bench", Port = 0 }, ctx.CancellationToken);
        using var http = new HttpClient();
        var uri = new Uri(server.BaseAddress, "v1/completions");
        object Body(int i) => new
        {
            model = "bench", prompt = $"<|im_start|>user\nAna had {i} pens, got 5, lost 3. Pens now?<|im_end|>\n<|im_start|>assistant\n",
            max_tokens = newTokens, temperature = 1.0, top_p = 0.95, seed = 1000 + i, return_token_ids = true,
        };
        async Task<JsonNode> Send(int i)
        {
            using var response = await http.PostAsJsonAsync(uri, Body(i), ctx.CancellationToken);
            response.EnsureSuccessStatusCode();
            return JsonNode.Parse(await response.Content.ReadAsStringAsync(ctx.CancellationToken))!;
        }

        await Send(0); // warm-up
        var sw = Stopwatch.StartNew();
        var alone = new List<JsonNode>();
        for (int i = 0; i < requests; i++) alone.Add(await Send(i));
        double sequential = sw.Elapsed.TotalSeconds;
        sw.Restart();
        var together = await Task.WhenAll(Enumerable.Range(0, requests).Select(Send));
        double concurrent = sw.Elapsed.TotalSeconds;
        for (int i = 0; i < requests; i++)
            if (alone[i]["choices"]![0]!["text"]!.GetValue<string>() != together[i]["choices"]![0]!["text"]!.GetValue<string>())
                throw new InvalidOperationException($"request {i}: the batched answer differs from the answer alone");
        long tokens = together.Sum(r => (long)r["usage"]!["completion_tokens"]!.GetValue<int>());
        var (batches, largest) = server.BatchCounts;
        report.Add("requests", requests).Add("generated_tokens", tokens)
              .Add("one_at_a_time_tokens_per_s", tokens / sequential).Add("concurrent_tokens_per_s", tokens / concurrent)
              .Add("batching_speedup", sequential / concurrent).Add("largest_batch", largest);
        ctx.Log.WriteLine($"iwsft serve: {requests} requests, {tokens} tokens: one after another {sequential:F2}s, all at once {concurrent:F2}s " +
                          $"({batches} batches in all, largest {largest})");
        return report;
    }

}
