using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IwSft.Runtime;
using IwSft.Stages.Curate.Filter;
using IwSft.Stages.Curate.Format;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Curate.Select;
using IwSft.Stages.Ingest;

namespace IwSft.Stages.Tests.Curate;

/// <summary>
/// The curate chain run by the real engine (PipelineRunner, on-disk store and record memo) against the local
/// judge server: ingest → domain judge → grading judge → token lengths → filter → s1k-select → format.
/// </summary>
public class JudgeEngineTests
{
    static string Line(int i) => new JsonObject
    {
        ["question"] = $"Question number Q{i}: find the value." + (i % 9 == 4 ? " [asy] draw(circle); [/asy]" : ""),
        ["trace"] = string.Concat(Enumerable.Repeat($"step {i} ", 1 + i % 17)),
        ["attempt"] = $"{i}",
    }.ToJsonString();

    static JudgeReply Reply(JudgeRequest r)
    {
        int i = int.Parse(Regex.Match(r.Prompt, @"Q(\d+)").Groups[1].Value);
        return r.Prompt.StartsWith("Domain") ? JudgeReply.Content($"MSC {new[] { "11", "05", "60", "26" }[i % 4]}")
             : JudgeReply.Content(i % 5 == 0 ? "Yes" : "No");
    }

    static Pipeline Build(string source, string baseUrl, int retries = 2, int concurrency = 8)
    {
        // Attempt timeout an hour: no loopback reply times out, however loaded the machine (no timing in outcomes).
        var fast = new JudgeResilienceConfig { MaxRetryAttempts = retries, BaseDelaySeconds = 0.01, AttemptTimeoutSeconds = 3600, BreakerMinimumThroughput = 100_000 };
        var p = new Pipeline("curate-e2e");
        var ingest = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = source, Name = "pool" }] }));
        var domain = p.Add(new JudgeStage("judge_domain", new JudgeConfig
        {
            BaseUrl = baseUrl, Model = "judge", Kind = JudgeKind.Domain, PromptTemplate = "Domain of: {question}", OutputColumn = "domain", Resilience = fast, MaxConcurrency = concurrency,
        }));
        domain.From("records", ingest["candidates"]);
        var solved = p.Add(new JudgeStage("judge_solved", new JudgeConfig
        {
            BaseUrl = baseUrl, Model = "judge", Kind = JudgeKind.Grading, PromptTemplate = "Grade: {question} => {attempt}", OutputColumn = "solved_small", Resilience = fast,
        }));
        solved.From("records", domain["records"]);
        var lengths = p.Add(new TokenLengthStage("lengths"));
        lengths.From("records", solved["records"]);
        var filter = p.Add(new FilterStage("filter", new FilterConfig
        {
            RequiredColumns = ["question", "trace", "attempt", "domain", "trace_tokens"], SolvedByColumns = ["solved_small"],
        }));
        filter.From("records", lengths["records"]);
        var select = p.Add(new S1kSelectStage("select", new SelectConfig { TargetSize = 20, UniformUntil = 14, BenchmarkRules = [] }));
        select.From("records", filter["records"]);
        var format = p.Add(new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base" }));
        format.From("records", select["records"]);
        return p;
    }

    /// <summary>A pool file of <paramref name="records"/> lines and a runner over a fresh store, in a temp directory.</summary>
    static (string Source, PipelineRunner Runner) Setup(int records)
    {
        string dir = Path.Combine(Path.GetTempPath(), "iwsft-curate-e2e-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string source = Path.Combine(dir, "pool.jsonl");
        File.WriteAllLines(source, Enumerable.Range(0, records).Select(Line));
        return (source, new PipelineRunner(new ArtifactStore(Path.Combine(dir, "store")), new RunOptions { Execution = new ExecutionOptions { MaxDegreeOfParallelism = 2 } }));
    }

    [Fact]
    public async Task RerunsCallTheJudgeOnlyForNewRecords()
    {
        var (source, runner) = Setup(60);
        await using var server = new JudgeTestServer(Reply);

        var first = await runner.RunAsync(Build(source, server.BaseUrl));
        Assert.Equal(120, server.RequestCount);   // two judges × 60 records
        // 60 records: 7 carry [asy] (i % 9 == 4), 12 are solved (i % 5 == 0), one is both (i = 40) → 42 kept.
        Assert.Equal(42, first.Stages["filter"].Decisions!.Kept);
        Assert.Equal(7, first.Stages["filter"].Decisions!.ByReason["asy_figure"]);
        Assert.Equal(11, first.Stages["filter"].Decisions!.ByReason["difficulty"]);
        Assert.Equal(20, first.Stages["select"].Rows["records"]);
        Assert.Equal(20, first.Stages["format"].Rows["sequences"]);

        var again = await runner.RunAsync(Build(source, server.BaseUrl));
        Assert.Equal(120, server.RequestCount);
        Assert.All(again.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));

        File.AppendAllLines(source, Enumerable.Range(60, 30).Select(Line));
        var grown = await runner.RunAsync(Build(source, server.BaseUrl));
        Assert.Equal(120 + 60, server.RequestCount);   // only the 30 new records, for each judge
        Assert.Equal(StageStatus.Ran, grown.Stages["judge_domain"].Status);
        Assert.Equal(60, grown.Stages["judge_domain"].Metrics[RecordMemoLoop.ReusedMetric]);
        Assert.Equal(20, grown.Stages["format"].Rows["sequences"]);
    }

    [Fact]
    public async Task MovingToAnotherServerWithOtherRetrySettingsKeepsTheCachedAnswers()
    {
        var (source, runner) = Setup(40);
        await using var first = new JudgeTestServer(Reply);
        await using var second = new JudgeTestServer(Reply);
        await runner.RunAsync(Build(source, first.BaseUrl));
        Assert.Equal(80, first.RequestCount);

        // The judge stages' configs changed (address, retries, concurrency), so they rerun, but every answer is cached.
        var moved = await runner.RunAsync(Build(source, second.BaseUrl, retries: 5, concurrency: 3));
        Assert.Equal(StageStatus.Ran, moved.Stages["judge_domain"].Status);
        Assert.Equal(40, moved.Stages["judge_domain"].Metrics[RecordMemoLoop.ReusedMetric]);
        Assert.Equal(0, second.RequestCount);

        // What decides the answer (here the prompt) still separates the memo.
        var p = Build(source, second.BaseUrl);
        ((JudgeStage)p.Stages.Single(s => s.Name == "judge_domain")).Config.PromptTemplate = "Domain, in MSC terms: {question}";
        await runner.RunAsync(p);
        Assert.Equal(40, second.RequestCount);
    }
}
