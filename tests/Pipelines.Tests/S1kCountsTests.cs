using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IwSft.Pipelines.S1k;
using IwSft.Runtime;
using IwSft.Stages.Tests;
using IwSft.Stages.Tests.Curate;
using IwSft.Stages.Curate;
using IwSft.Stages.Curate.Filter;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Curate.Select;
using IwSft.Stages.Ingest;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// The count of each s1 step (docs/s1k.md, "Counts per step"), on a synthetic pool whose features are known by
/// construction, through the real engine: one pool file in data_ablation_full59K's shape (list-valued
/// <c>thinking_trajectories</c>, sources told apart by <c>source_type</c>), the loopback judge.
/// </summary>
public sealed class S1kCountsTests
{
    [Fact]
    public async Task Each_filter_step_removes_exactly_the_records_built_to_fail_it()
    {
        string dir = Path.Combine(Path.GetTempPath(), "iwsft-s1counts-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            // 40 records P0..P39. P0-P4: no trajectories (missing features). P5-P7: [asy] from a non-AIME source; P8: ![Image];
            // P9: a "p9." marker (weird strings). P10: [asy] but from AIME (allowed). P11-P18: the small model solves them
            // (difficulty). The rest, 22 records with P10, pass every filter.
            string Question(int i) => $"Problem P{i}: compute the quantity" + i switch
            {
                >= 5 and <= 7 or 10 => " in the figure [asy]draw((0,0)--(1,1));[/asy]",
                8 => " shown in ![Image](https://example.org/fig.png)",
                9 => ", see p9. of the notes",
                _ => ".",
            };
            var pool = Path.Combine(dir, "pool.jsonl");
            File.WriteAllLines(pool, Enumerable.Range(0, 40).Select(i => new JsonObject
            {
                ["question"] = Question(i), ["solution"] = "The answer is right.",
                ["thinking_trajectories"] = i < 5 ? null : new JsonArray(Enumerable.Range(0, 1 + i % 7).Select(k => (JsonNode)$"step {k} of P{i}").ToArray()),
                ["attempt"] = "right", ["small_answer"] = i is >= 11 and <= 18 ? "right" : "wrong",
                ["source_type"] = i == 10 ? "AIME_1983_2024" : "AI-MO/NuminaMath-CoT/aops_forum", ["cot_type"] = "math",
            }.ToJsonString()));

            await using var server = new JudgeTestServer(r =>
            {
                if (r.Prompt.StartsWith("Classify")) return JudgeReply.Content(new[] { "11", "05", "60", "26" }[int.Parse(Regex.Match(r.Prompt, @"P(\d+)").Groups[1].Value) % 4]);
                var graded = r.Prompt[(r.Prompt.IndexOf("Answer to grade:\n", StringComparison.Ordinal) + 17)..];
                return JudgeReply.Content(graded.StartsWith("right") ? "Yes" : "No");
            });
            var p = new Pipeline("s1-counts");
            var ingest = p.Add(new IngestStage("ingest", new IngestConfig
            {
                Sources = [new IngestSource { Path = pool, Name = "full59k", Trace = "thinking_trajectories", SourceColumn = "source_type" }],
            }));
            var chain = S1kCuration.Add(p, ingest["candidates"], new S1kCurationOptions
            {
                JudgeBaseUrl = server.BaseUrl, JudgeModel = "judge",
                Resilience = new JudgeResilienceConfig { MaxRetryAttempts = 1, BaseDelaySeconds = 0.01, AttemptTimeoutSeconds = 3600 },
                ReferenceModels = [new ReferenceModelAnswers { Name = "small", AnswerPlaceholder = "metadata.small_answer" }],
                Select = new SelectConfig { TargetSize = 10, UniformUntil = 7, Seed = 3 },
            });
            var run = await new PipelineRunner(new ArtifactStore(Path.Combine(dir, "store"))).RunAsync(p);
            Assert.True(run.Succeeded, string.Join("; ", run.Stages.Values.Select(s => s.Error)));

            Assert.Equal(40, run.Stages["ingest"].Rows["candidates"]);                       // s1: 58,986 candidates
            var filter = run.Stages["filter"].Decisions!;
            Assert.Equal(5, filter.ByReason[FilterRules.MissingFeatures]);                    // s1: → 54,116
            Assert.Equal(3, filter.ByReason[FilterRules.AsyFigure]);                          // weird strings, s1: → 51,607
            Assert.Equal(1, filter.ByReason[FilterRules.ImageLink]);
            Assert.Equal(1, filter.ByReason[FilterRules.ProblemMarker]);
            Assert.Equal(8, filter.ByReason[FilterRules.Difficulty]);                         // s1: → 24,517
            Assert.Equal(22, filter.Kept);
            var select = run.Stages["select"].Decisions!;
            Assert.Equal(10, select.Kept);                                                    // s1: → 1,000
            Assert.Equal(1, select.ByReason[S1kSelector.SelectedBenchmark]);                  // P10: AIME, attempt right, unsolved
            Assert.Equal(10, run.Stages["format"].Rows["sequences"]);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }
}
