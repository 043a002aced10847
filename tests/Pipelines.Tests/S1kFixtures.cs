using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IwSft.Gpu.Models;
using IwSft.Pipelines.Demo;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests;
using IwSft.Stages.Tests.Curate;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// Inputs of the CPU-sized s1k run: a small candidate pool derived from the real shared candidate files (GSM8K
/// train, AIME 1983–2024), a tiny random Qwen2-shaped checkpoint with a byte-level tokenizer, and a deterministic
/// judge. The real files carry no reasoning traces or reference-model answers (s1's came from Gemini and Qwen
/// runs), so the fixture adds them by rule: trace = GSM8K's worked rationale, or for AIME a templated derivation
/// ending in the answer; the strong model's attempt is wrong for every 4th AIME problem; the 7B model solves every
/// 3rd record, the 32B model every 5th.
/// </summary>
public static class S1kFixtures
{
    public static readonly string[] Domains = ["11", "05", "60", "51", "97"];

    public sealed record PoolFiles(string Gsm8k, string Aime, int Gsm8kCount, int AimeCount, IReadOnlyList<string> Aime2024Questions);

    /// <summary>First <paramref name="gsm8k"/> GSM8K train records; every 40th AIME problem before 2024 and the first <paramref name="aime2024"/> of AIME 2024 II (which are AIME24 benchmark items).</summary>
    public static async Task<PoolFiles> WritePoolAsync(string dir, int gsm8k = 24, int aime2024 = 3)
    {
        Directory.CreateDirectory(dir);
        var gsmPath = Path.Combine(dir, "gsm8k_train.jsonl");
        var gsmLines = File.ReadLines(SharedData.File("candidates/gsm8k_train.jsonl")).Take(gsm8k).Select((line, i) =>
        {
            var o = JsonNode.Parse(line)!.AsObject();
            string answer = o["answer"]!.GetValue<string>();
            string final = answer[(answer.LastIndexOf("####", StringComparison.Ordinal) + 4)..].Trim();
            string rationale = answer[..answer.LastIndexOf("####", StringComparison.Ordinal)].Trim();
            return Record(o["question"]!.GetValue<string>(), answer, rationale, final, final, i).ToJsonString();
        }).ToList();
        await File.WriteAllLinesAsync(gsmPath, gsmLines);

        var aimeRows = new List<(string Id, string Problem, string Answer)>();
        await foreach (var row in new CsvSourceReader(SharedData.File("candidates/aime_1983_2024.csv"), 1 << 20).ReadAsync())
        {
            if (row is not RawRecord r) continue;
            r.TryGet("id", out var id); r.TryGet("problem", out var problem); r.TryGet("answer", out var ans);
            aimeRows.Add((id.Text!, problem.Text!, ans.Text!));
        }
        var picked = aimeRows.Where((r, i) => string.CompareOrdinal(r.Id, "2024") < 0 && i % 40 == 0).ToList();
        var recent = aimeRows.Where(r => r.Id.StartsWith("2024_AIME_II_")).Take(aime2024).ToList();
        var aimePath = Path.Combine(dir, "aime_1983_2024.jsonl");
        await File.WriteAllLinesAsync(aimePath, picked.Concat(recent).Select((r, i) =>
        {
            string trace = string.Join("\n", Enumerable.Range(1, 2 + i % 5).Select(k => $"Step {k}: simplify the expression and check the constraint.")) +
                           $"\nTherefore the answer is {r.Answer}.";
            string attempt = i % 4 == 3 ? "0" : r.Answer;
            return Record(r.Problem, r.Answer, trace, attempt, r.Answer, 1000 + i).ToJsonString();
        }));
        return new PoolFiles(gsmPath, aimePath, gsmLines.Count, picked.Count + recent.Count, recent.Select(r => r.Problem).ToList());
    }

    static JsonObject Record(string question, string solution, string trace, string attempt, string answer, int i) => new()
    {
        ["question"] = question, ["solution"] = solution, ["trace"] = trace, ["attempt"] = attempt,
        ["qwen2_5_7b_answer"] = i % 3 == 0 ? answer : "-1",
        ["qwen2_5_32b_answer"] = i % 5 == 0 ? answer : "-1",
    };

    /// <summary>
    /// The judge: domain = an MSC class chosen by a stable hash of the problem; grading = Yes exactly when the last
    /// number of the graded answer equals the last number of the reference solution; anything else (a quality prompt)
    /// = "N/10" with N from the same hash.
    /// </summary>
    public static JudgeReply Judge(JudgeRequest r)
    {
        if (r.Prompt.StartsWith("Classify", StringComparison.Ordinal))
        {
            int h = r.Prompt.Aggregate(0, (a, c) => (a * 31 + c) & 0x7fffffff);
            return JudgeReply.Content(Domains[h % Domains.Length]);
        }
        if (!r.Prompt.Contains("Answer to grade:\n", StringComparison.Ordinal))
        {
            // Any other prompt is a quality rating: 1..10 from the same stable hash.
            int h = r.Prompt.Aggregate(0, (a, c) => (a * 31 + c) & 0x7fffffff);
            return JudgeReply.Content($"{1 + h % 10}/10");
        }
        string reference = Between(r.Prompt, "Reference solution:\n", "\n\nAnswer to grade:\n");
        string graded = Between(r.Prompt, "Answer to grade:\n", "\n\nIs the answer correct?");
        return JudgeReply.Content(LastNumber(reference) is { } a && a == LastNumber(graded) ? "Yes" : "No");
    }

    static string Between(string s, string start, string end)
    {
        int i = s.IndexOf(start, StringComparison.Ordinal) + start.Length;
        return s[i..s.IndexOf(end, i, StringComparison.Ordinal)];
    }

    static string? LastNumber(string s) => Regex.Matches(s, @"-?\d+(?:\.\d+)?") is { Count: > 0 } m ? m[^1].Value.TrimStart('0') : null;

    /// <summary>A tiny random Qwen2 checkpoint with a byte-level tokenizer (every byte a token, no merges, ChatML specials): the toy model of <c>run s1k --quick</c>.</summary>
    public static string WriteTinyModel(string dir) => IwSft.Pipelines.S1k.Stages.ToyModelStage.Write(dir);
}
