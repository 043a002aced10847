using System.Diagnostics;
using IwSft.Gpu.Models;
using IwSft.Text;
using IwSft.Pipelines.Demo;
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
    public static Task<BenchReport> RunAsync(BenchContext ctx)
    {
        var report = new BenchReport();
        string tokDir = Path.Combine(ctx.WorkDir, "tokenizer"), ckptDir = Path.Combine(ctx.WorkDir, "model");
        CharTokenizerDirectory.Write(tokDir);
        Checkpoint.WriteRandom(ckptDir, new TransformerConfig
        {
            VocabSize = CharTokenizerDirectory.VocabularySize, HiddenSize = 128, NumHiddenLayers = 4, NumAttentionHeads = 4,
            NumKeyValueHeads = 2, IntermediateSize = 344, TieWordEmbeddings = true, AttentionBias = true, MaxPositionEmbeddings = 512,
        }, seed: 1);
        var tokenizer = HfTokenizer.Load(tokDir);
        int requests = ctx.Quick ? 16 : 32, newTokens = ctx.Quick ? 16 : 32;
        var reqs = Enumerable.Range(0, requests)
            .Select(i => new GenerationRequest($"<|im_start|>user\nAna had {i} pens, got 5, lost 3. Pens now?<|im_end|>\n<|im_start|>assistant\n", 1000 + i)).ToList();
        var settings = new GenerationSettings { MaxNewTokens = newTokens, Temperature = 1.0, TopP = 0.95 };

        (double Seconds, IReadOnlyList<GeneratedSample> Samples) Time(int maxBatch)
        {
            var model = Checkpoint.Load(ckptDir);
            model.eval();
            using var gen = new TransformerCompletionGenerator(model, tokenizer, maxBatch);
            gen.Generate(reqs.Take(2).ToList(), settings, ctx.CancellationToken); // warm-up
            var sw = Stopwatch.StartNew();
            var samples = gen.Generate(reqs, settings, ctx.CancellationToken);
            return (sw.Elapsed.TotalSeconds, samples);
        }
        var one = Time(1);
        var batched = Time(16);
        if (!one.Samples.SequenceEqual(batched.Samples)) throw new InvalidOperationException("batched sampling differs from one-at-a-time sampling");
        long tokens = batched.Samples.Sum(s => (long)s.Tokens);
        report.Add("requests", requests).Add("generated_tokens", tokens)
              .Add("one_at_a_time_tokens_per_s", tokens / one.Seconds).Add("batched16_tokens_per_s", tokens / batched.Seconds)
              .Add("batched_speedup", one.Seconds / batched.Seconds);
        ctx.Log.WriteLine($"sampled generation: {requests} requests, {tokens} tokens: one at a time {one.Seconds:F2}s, batches of 16 {batched.Seconds:F2}s");

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
        return Task.FromResult(report);
    }
}
