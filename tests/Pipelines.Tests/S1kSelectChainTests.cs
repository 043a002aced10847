using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IwSft.Pipelines.S1k;
using IwSft.Runtime;
using IwSft.Stages.Tests;
using IwSft.Stages.Tests.Curate;
using IwSft.Stages.Curate;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Curate.Select;
using IwSft.Stages.Ingest;

namespace IwSft.Pipelines.Tests;

/// <summary>The s1 curation chain (<see cref="S1kCuration"/>) on the real engine with the local judge.</summary>
public class SelectChainTests
{
    [Fact]
    public async Task TheS1ChainSelectsBenchmarkRecordsFirstAndDropsWhatTheReferenceModelSolves()
    {
        string dir = Path.Combine(Path.GetTempPath(), "iwsft-s1chain-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        // AIME source: 6 problems; the strong model's attempt is right for 0..3, the small model solves 0 only.
        // Other source: 40 problems; the small model solves every 4th.
        string Line(int i, bool attemptRight, bool smallRight) => new JsonObject
        {
            ["question"] = $"Problem P{i}: compute the quantity.", ["solution"] = "The answer is right.",
            ["trace"] = string.Concat(Enumerable.Repeat("think ", 1 + i)), ["attempt"] = attemptRight ? "right" : "wrong",
            ["small_answer"] = smallRight ? "right" : "wrong",
        }.ToJsonString();
        string aime = Path.Combine(dir, "aime.jsonl"), other = Path.Combine(dir, "other.jsonl");
        File.WriteAllLines(aime, Enumerable.Range(0, 6).Select(i => Line(i, i <= 3, i == 0)));
        File.WriteAllLines(other, Enumerable.Range(100, 40).Select(i => Line(i, true, i % 4 == 0)));

        await using var server = new JudgeTestServer(r =>
        {
            if (r.Prompt.StartsWith("Classify")) return JudgeReply.Content(new[] { "11", "05", "60" }[int.Parse(Regex.Match(r.Prompt, @"P(\d+)").Groups[1].Value) % 3]);
            var graded = r.Prompt[(r.Prompt.IndexOf("Answer to grade:\n", StringComparison.Ordinal) + 17)..];
            return JudgeReply.Content(graded.StartsWith("right") ? "Yes" : "No");
        });
        var p = new Pipeline("s1-chain");
        var ingest = p.Add(new IngestStage("ingest", new IngestConfig
        {
            Sources = [new IngestSource { Path = aime, Name = "AIME_1983_2024" }, new IngestSource { Path = other, Name = "numina" }],
        }));
        var chain = S1kCuration.Add(p, ingest["candidates"], new S1kCurationOptions
        {
            JudgeBaseUrl = server.BaseUrl, JudgeModel = "judge",
            // attempt timeout an hour: no loopback reply times out, however loaded the machine
            Resilience = new JudgeResilienceConfig { MaxRetryAttempts = 1, BaseDelaySeconds = 0.01, AttemptTimeoutSeconds = 3600 },
            ReferenceModels = [new ReferenceModelAnswers { Name = "small", AnswerPlaceholder = "metadata.small_answer" }],
            Select = new SelectConfig { TargetSize = 12, UniformUntil = 8, Seed = 1 },
        });
        var run = await new PipelineRunner(new ArtifactStore(Path.Combine(dir, "store"))).RunAsync(p);

        Assert.Equal(46 * 3, server.RequestCount);                        // domain + attempt + small model, per record
        var filter = run.Stages["filter"].Decisions!;
        Assert.Equal(1 + 10, filter.ByReason["difficulty"]);              // P0 and P100, P104, ..., P136
        Assert.Equal(46 - 11, filter.Kept);
        var select = run.Stages["select"].Decisions!;
        Assert.Equal(3, select.ByReason[S1kSelector.SelectedBenchmark]); // P1..P3: AIME, attempt right, not solved
        Assert.Equal(9, select.ByReason[S1kSelector.SelectedDiversity]);
        Assert.Equal(12, run.Stages["format"].Rows["sequences"]);
        Assert.Equal(12, run.Stages["format"].Decisions!.ByReason["fits"]);
        Assert.Equal(chain.Sequences.Stage, p.Get("format"));
    }
}
