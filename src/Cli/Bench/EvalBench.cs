using System.Diagnostics;
using IwSft.Text;
using IwSft.Stages.Evaluate;

namespace IwSft.Cli.Bench;

/// <summary>
/// Evaluation throughput, against baselines from the same run: sampled generation through the
/// evaluate adapter with batched per-row-seeded sampling vs one request at a time (identical samples
/// either way), on a tiny random Qwen2-shaped checkpoint with the demo's character tokenizer; and
/// grading (extraction + math equivalence) vs plain string equality of the same answers.
/// </summary>
public static class EvalBench
{
    public static async Task<BenchReport> RunAsync(BenchContext ctx)
    {
        var report = new BenchReport();
        // The tokenizer files sit beside the weights, so iwsft serve can open the same directory.
        string ckptDir = Path.Combine(ctx.WorkDir, "model");
        BenchModel.Write(ckptDir);
        var tokenizer = HfTokenizer.Load(ckptDir);
        int requests = ctx.Quick ? 32 : 64, newTokens = ctx.Quick ? 16 : 32;
        var reqs = Enumerable.Range(0, requests)
            .Select(i => new GenerationRequest($"<|im_start|>user\nAna had {i} pens, got 5, lost 3. Pens now?<|im_end|>\n<|im_start|>assistant\n", 1000 + i)).ToList();
        var settings = new GenerationSettings { MaxNewTokens = newTokens, Temperature = 1.0, TopP = 0.95 };

        (double Seconds, IReadOnlyList<GeneratedSample> Samples) Time(ICompletionGenerator gen)
        {
            using var _ = gen;
            gen.Generate(reqs.Take(2).ToList(), settings, ctx.CancellationToken); // warm-up
            var sw = Stopwatch.StartNew();
            var samples = gen.Generate(reqs, settings, ctx.CancellationToken);
            return (sw.Elapsed.TotalSeconds, samples);
        }
        ICompletionGenerator InProcess(int maxBatch) => new TransformerCompletionGenerator(BenchModel.Load(ckptDir), tokenizer, maxBatch);
        var one = Time(InProcess(1));
        var b8 = Time(InProcess(8));
        var b32 = Time(InProcess(32));
        // Served: the same checkpoint behind iwsft serve over loopback, asked by the openai backend (all requests in flight).
        (double Seconds, IReadOnlyList<GeneratedSample> Samples) served;
        using (var engine = new IwSft.Gpu.Serving.CompletionEngine(BenchModel.Load(ckptDir), tokenizer, maxBatch: 32))
        await using (var server = await Serve.OpenAiServer.StartAsync(engine, new Serve.ServeOptions { ModelName = "bench", Root = ckptDir, Port = 0 }, ctx.CancellationToken))
        {
            var config = new IwSft.Stages.OpenAi.OpenAiGenerationConfig { BaseUrl = server.BaseAddress.ToString(), MaxConcurrency = requests };
            served = Time(new IwSft.Stages.OpenAi.OpenAiCompletionGeneratorFactory(config).Open(ckptDir, null, ctx.CancellationToken));
        }
        foreach (var (name, run) in new[] { ("batches of 8", b8), ("batches of 32", b32), ("served", served) })
            if (!one.Samples.SequenceEqual(run.Samples)) throw new InvalidOperationException($"{name}: samples differ from one-at-a-time sampling");
        long tokens = one.Samples.Sum(s => (long)s.Tokens);
        report.Add("requests", requests).Add("generated_tokens", tokens)
              .Add("one_at_a_time_tokens_per_s", tokens / one.Seconds).Add("batched8_tokens_per_s", tokens / b8.Seconds)
              .Add("batched32_tokens_per_s", tokens / b32.Seconds).Add("served_tokens_per_s", tokens / served.Seconds)
              .Add("batched8_speedup", one.Seconds / b8.Seconds).Add("batched32_speedup", one.Seconds / b32.Seconds)
              .Add("served_vs_batched32", b32.Seconds / served.Seconds);
        ctx.Log.WriteLine($"sampled generation: {requests} requests, {tokens} tokens: one at a time {one.Seconds:F2}s, batches of 8 {b8.Seconds:F2}s, " +
                          $"of 32 {b32.Seconds:F2}s, through iwsft serve {served.Seconds:F2}s (identical samples)");
        report.Notes.Add("served_vs_batched32: in-process batch-32 time / served time (above 1: serving is faster); the server batches what is in flight, at most 32");

        // Grading: realistic responses and golds vs plain string equality of the extracted answer.
        string[] golds = ["\\frac{14}{3}", "\\left( 3, \\frac{\\pi}{2} \\right)", "90^\\circ", "3\\sqrt{13}", "1,-2", "10,\\!080", "\\text{Evelyn}", "0.5"];
        int n = ctx.Quick ? 20_000 : 100_000;
        var responses = Enumerable.Range(0, n).Select(i => $"Step 1... Step 2... so the answer is $\\boxed{{{golds[i % golds.Length].Replace("\\frac", "\\dfrac")}}}$.").ToArray();
        var grader = new Grader();
        var sw = Stopwatch.StartNew();
        int correct = 0;
        for (int i = 0; i < n; i++) if (grader.Grade(responses[i], golds[i % golds.Length], null).Correct) correct++;
        double gradeS = sw.Elapsed.TotalSeconds;
        sw.Restart();
        int equal = 0;
        for (int i = 0; i < n; i++) if (AnswerExtractor.LastBoxed(responses[i])?.Text == golds[i % golds.Length]) equal++;
        double plainS = sw.Elapsed.TotalSeconds;
        if (correct != n) throw new InvalidOperationException($"grader marked {n - correct} of {n} equivalent answers wrong");
        report.Add("graded_per_s", n / gradeS).Add("extract_and_string_equal_per_s", n / plainS).Add("grading_cost_ratio", gradeS / plainS)
              .Add("string_equality_correct_fraction", (double)equal / n);
        report.Notes.Add("string_equality_correct_fraction: how many of the same equivalent answers a plain string comparison would accept");
        return report;
    }

}
