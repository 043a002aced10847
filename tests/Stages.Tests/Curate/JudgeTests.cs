using IwSft.Runtime;
using System.Text.RegularExpressions;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Tests;
using IwSft.Stages.Curate.Judge;
using static IwSft.Stages.Tests.Curate.CurateRows;

namespace IwSft.Stages.Tests.Curate;

public class JudgeTests
{
    static readonly string[] Codes = ["11", "05", "60", "81", "26"];

    /// <summary>Prompts are "Classify: Q{i}"; the honest judge answers MSC class Codes[i % 5].</summary>
    static int Index(string prompt) => int.Parse(Regex.Match(prompt, @"Q(\d+)").Groups[1].Value);
    static JudgeReply Honest(JudgeRequest r) => JudgeReply.Content($"This is about... MSC {Codes[Index(r.Prompt) % 5]}A10, so the class is {Codes[Index(r.Prompt) % 5]}.");

    static JudgeConfig Config(string baseUrl, string model = "judge-model") => new()
    {
        BaseUrl = baseUrl,
        Model = model,
        Kind = JudgeKind.Domain,
        PromptTemplate = "Classify: {question}",
        OutputColumn = "domain",
        MaxConcurrency = 4,
        Resilience = new JudgeResilienceConfig
        {
            // The clock (TestClock) never moves by itself: an attempt times out only when a test says so,
            // however slowly a loaded machine answers, and backoff delays are counted, not waited.
            MaxRetryAttempts = 3, BaseDelaySeconds = 0.01, MaxDelaySeconds = 0.05, AttemptTimeoutSeconds = AttemptTimeoutSeconds,
            BreakerMinimumThroughput = 100_000, BreakerBreakSeconds = 0.5,
        },
    };

    /// <summary>An hour: the timer length by which the test clock tells attempt timeouts from backoff delays.</summary>
    const double AttemptTimeoutSeconds = 3600;

    static TestClock NewClock() => new(TimeSpan.FromSeconds(AttemptTimeoutSeconds));

    static List<Rec> Records(int from, int count) =>
        Enumerable.Range(from, count).Select(i => new Rec($"id{i}", $"Q{i}")).ToList();

    static async Task<StageTestContext> Run(JudgeConfig config, List<Rec> recs, TestMemo memo, int batchRows = 300, TestClock? clock = null)
    {
        var stage = new JudgeStage("judge-domain", config) { Clock = clock ?? NewClock() };
        var batches = recs.Chunk(batchRows).Select(c => Candidates(c)).ToArray();
        var ctx = new StageTestContext(stage, memo).Table("records", batches);
        await stage.RunAsync(ctx);
        return ctx;
    }

    static Dictionary<string, string?> Column(StageTestContext ctx, string column) =>
        ctx.Output("records").SelectMany(b => Enumerable.Range(0, b.Length)
            .Select(r => (b.GetString("id", r)!, IwSft.Stages.Curate.CurateTables.Cell(b.Col(column), r)?.ToString()))).ToDictionary(x => x.Item1, x => x.Item2);

    [Fact]
    public async Task SendsTheConfiguredRequestAndWritesTheParsedFeature()
    {
        string env = "IWSFT_TEST_JUDGE_KEY_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(env, "sk-test-123");
        await using var server = new JudgeTestServer(Honest);
        var cfg = Config(server.BaseUrl);
        cfg.ApiKeyEnv = env;
        cfg.SystemPrompt = "You are a classifier.";
        cfg.Temperature = 0.25;
        cfg.MaxTokens = 64;
        var ctx = await Run(cfg, Records(0, 5), new TestMemo());

        Assert.Equal(new Dictionary<string, string?> { ["id0"] = "11", ["id1"] = "05", ["id2"] = "60", ["id3"] = "81", ["id4"] = "26" }, Column(ctx, "domain"));
        var req = server.Requests.Single(r => r.Prompt == "Classify: Q3");
        Assert.Equal("Bearer sk-test-123", req.Authorization);
        Assert.Equal("judge-model", req.Body["model"]!.GetValue<string>());
        Assert.Equal(0.25, req.Body["temperature"]!.GetValue<double>());
        Assert.Equal(64, req.Body["max_tokens"]!.GetValue<int>());
        Assert.Equal("system", req.Body["messages"]![0]!["role"]!.GetValue<string>());
        Assert.Equal("You are a classifier.", req.Body["messages"]![0]!["content"]!.GetValue<string>());
        Assert.Equal("user", req.Body["messages"]![1]!["role"]!.GetValue<string>());
        // The key lives only in the environment, never in the configuration (hence never in a manifest).
        Assert.DoesNotContain("sk-test", new JudgeStage("j", cfg).ConfigJson().ToJsonString());
        Assert.Equal(5, ctx.Metrics["judge.calls"]);
    }

    [Fact]
    public async Task RerunWithAThousandAddedRecordsCallsOnlyForTheNewOnes()
    {
        await using var server = new JudgeTestServer(Honest);
        var memo = new TestMemo();
        var first = Records(0, 200);
        await Run(Config(server.BaseUrl), first, memo);
        Assert.Equal(200, server.RequestCount);

        // 1,000 new records interleaved with the old ones, in other batches: the rerun asks for exactly the new
        // ones, each once.
        var grown = first.Concat(Records(200, 1000)).OrderBy(r => r.Id.GetHashCode() ^ 0x5bd1e995).ToList();
        var ctx = await Run(Config(server.BaseUrl), grown, memo, batchRows: 257);
        var rerunPrompts = server.Requests.Skip(200).Select(r => r.Prompt).ToList();
        Assert.Equal(1000, rerunPrompts.Count);
        Assert.Equal(Enumerable.Range(200, 1000), rerunPrompts.Select(Index).Order());
        Assert.Equal(200, ctx.Metrics[RecordMemoLoop.ReusedMetric]);
        var domains = Column(ctx, "domain");
        Assert.Equal(1200, domains.Count);
        Assert.All(domains, kv => Assert.Equal(Codes[int.Parse(kv.Key[2..]) % 5], kv.Value));

        await Run(Config(server.BaseUrl), grown, memo);
        Assert.Equal(1200, server.RequestCount);
    }

    [Fact]
    public async Task TransientFaultsAreRetriedAndRetryAfterIsHonoured()
    {
        var clock = NewClock();
        await using var server = new JudgeTestServer(r =>
        {
            int i = Index(r.Prompt);
            return (i, r.Attempt) switch
            {
                (_, 1) when i % 10 == 1 => new JudgeReply(500, "{\"error\":\"boom\"}"),
                (2, 1) => new JudgeReply(429, "{\"error\":\"slow down\"}", RetryAfter: "1"),
                // No reply; the attempt's timeout fires now (one call in flight, so the latest timer is this one's).
                (3, 1) => TimedOut(clock),
                (4, 1) => new JudgeReply(200, "{\"choices\": [ {\"message\": "),
                (5, 1) => JudgeReply.Content("I am not sure which field this is."),
                (6, 1 or 2) => new JudgeReply(503, "unavailable"),
                _ => Honest(r),
            };
        });
        var cfg = Config(server.BaseUrl);
        cfg.MaxConcurrency = 1;   // one call in flight: the timeout that fires is the "late" call's
        var ctx = await Run(cfg, Records(0, 40), new TestMemo(), clock: clock);

        var domains = Column(ctx, "domain");
        Assert.All(Enumerable.Range(0, 40), i => Assert.Equal(Codes[i % 5], domains[$"id{i}"]));
        // 40 first attempts + one retry each for 1, 11, 21, 31, 2, 3, 4, 5 + two for 6.
        Assert.True(server.RequestCount == 50 && ctx.Metrics["judge.retries"] == 10,
            $"{server.RequestCount} requests, {ctx.Metrics["judge.retries"]} retries:\n{string.Join("\n", ctx.Logs)}");
        Assert.Equal(2, server.AttemptsFor("Classify: Q3"));   // the timed-out attempt was retried
        Assert.Contains(ctx.Logs, l => l.Contains("timeout", StringComparison.OrdinalIgnoreCase));
        // Ten waits before the ten retries: the server's Retry-After: 1 once, the computed backoff (≤ 50 ms) otherwise.
        var delays = clock.Delays.ToList();
        Assert.True(delays.Count == 10, $"delays: {string.Join(", ", delays.Select(d => d.TotalSeconds))}");
        Assert.Single(delays, d => d == TimeSpan.FromSeconds(1));
        Assert.All(delays.Where(d => d != TimeSpan.FromSeconds(1)), d => Assert.InRange(d, TimeSpan.Zero, TimeSpan.FromSeconds(0.05)));
    }

    static JudgeReply TimedOut(TestClock clock)
    {
        clock.TimeOutLatestAttempt();
        return JudgeReply.Never;
    }

    [Fact]
    public async Task PermanentFailureFailsTheStageClearlyAndCachedScoresSurvive()
    {
        bool broken = true;
        await using var server = new JudgeTestServer(r =>
            broken && Index(r.Prompt) == 45 ? new JudgeReply(400, "{\"error\":\"context length exceeded\"}") : Honest(r));
        var memo = new TestMemo();
        await Run(Config(server.BaseUrl), Records(0, 30), memo);
        Assert.Equal(30, memo.Count);

        var all = Records(0, 60);
        var e = await Assert.ThrowsAsync<JudgeFailedException>(() => Run(Config(server.BaseUrl), all, memo));
        Assert.Contains("stage 'judge-domain'", e.Message);
        Assert.Contains("record 'id45'", e.Message);
        Assert.Contains("failed permanently: HTTP 400", e.Message);
        Assert.Contains(server.BaseUrl + "/v1/chat/completions", e.Message);
        Assert.Contains("context length exceeded", e.Message);
        Assert.Equal(1, server.AttemptsFor("Classify: Q45"));   // not retried
        long cached = memo.Count;
        Assert.InRange(cached, 30, 59);

        broken = false;
        int before = server.RequestCount;
        var ctx = await Run(Config(server.BaseUrl), all, memo);
        Assert.Equal(60 - cached, server.RequestCount - before);
        Assert.Equal("11", Column(ctx, "domain")["id45"]);   // 45 % 5 = 0
    }

    [Fact]
    public async Task TransientFailureThatNeverClearsFailsAfterTheConfiguredAttempts()
    {
        await using var server = new JudgeTestServer(r => Index(r.Prompt) == 2 ? new JudgeReply(503, "down for maintenance") : Honest(r));
        var e = await Assert.ThrowsAsync<JudgeFailedException>(() => Run(Config(server.BaseUrl), Records(0, 3), new TestMemo()));
        Assert.Contains("record 'id2'", e.Message);
        Assert.Contains("failed after 4 attempts: HTTP 503", e.Message);
        Assert.Equal(4, server.AttemptsFor("Classify: Q2"));
    }

    [Fact]
    public async Task AnOpenCircuitStopsCallsToADeadEndpoint()
    {
        await using var server = new JudgeTestServer(_ => new JudgeReply(503, "down"));
        var cfg = Config(server.BaseUrl);
        cfg.MaxConcurrency = 1;
        // The breaker opens after 4 failures in a row (ratio 1 >= 0.5, throughput 4) and stays open 30 s, which on
        // the test clock never pass: the remaining 3 retries are refused by the breaker without reaching the server.
        cfg.Resilience = new JudgeResilienceConfig
        {
            MaxRetryAttempts = 6, BaseDelaySeconds = 0.005, MaxDelaySeconds = 0.02, AttemptTimeoutSeconds = AttemptTimeoutSeconds,
            BreakerFailureRatio = 0.5, BreakerMinimumThroughput = 4, BreakerSamplingSeconds = 30, BreakerBreakSeconds = 30,
        };
        var e = await Assert.ThrowsAsync<JudgeFailedException>(() => Run(cfg, Records(0, 1), new TestMemo()));
        Assert.Equal(4, server.RequestCount);
        Assert.Contains("failed after 7 attempts", e.Message);
        Assert.Contains("circuit", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task MissingApiKeyVariableIsAClearErrorBeforeAnyCall()
    {
        await using var server = new JudgeTestServer(Honest);
        var cfg = Config(server.BaseUrl);
        cfg.ApiKeyEnv = "IWSFT_TEST_UNSET_" + Guid.NewGuid().ToString("N");
        var e = await Assert.ThrowsAsync<InvalidOperationException>(() => Run(cfg, Records(0, 3), new TestMemo()));
        Assert.Contains(cfg.ApiKeyEnv, e.Message);
        Assert.Equal(0, server.RequestCount);
    }

    [Fact]
    public async Task TheJudgeIdentityIsPartOfTheRecordKey()
    {
        await using var server = new JudgeTestServer(Honest);
        var memo = new TestMemo();
        await Run(Config(server.BaseUrl, "model-a"), Records(0, 10), memo);
        await Run(Config(server.BaseUrl, "model-b"), Records(0, 10), memo);
        Assert.Equal(20, server.RequestCount);
        var other = Config(server.BaseUrl, "model-a");
        other.PromptTemplate = "Which MSC class? {question}";
        await Run(other, Records(0, 10), memo);
        Assert.Equal(30, server.RequestCount);
        await Run(Config(server.BaseUrl, "model-a"), Records(0, 10), memo);
        Assert.Equal(30, server.RequestCount);
    }

    [Fact]
    public async Task GradingAndQualityJudgesWriteTypedColumnsAndUnparseableCanBeMissing()
    {
        await using var server = new JudgeTestServer(r => Index(r.Prompt) switch
        {
            0 => JudgeReply.Content("The attempt matches the reference. Yes"),
            1 => JudgeReply.Content("Yes, it looks similar, but the final value differs. No"),
            _ => JudgeReply.Content("I cannot tell."),
        });
        var grade = Config(server.BaseUrl);
        grade.Kind = JudgeKind.Grading;
        grade.PromptTemplate = "Q{question}: is {attempt} right given {solution}?".Replace("Q{question}", "{question}");
        grade.OutputColumn = "attempt_correct";
        grade.UnparseableAsMissing = true;
        var recs = Records(0, 3).Select(r => r with { Solution = "sol" }).ToList();
        var memo = new TestMemo();
        var ctx = await Run(grade, recs, memo);
        Assert.Equal(new Dictionary<string, string?> { ["id0"] = "True", ["id1"] = "False", ["id2"] = null }, Column(ctx, "attempt_correct"));
        Assert.Equal(1, ctx.Metrics["judge.unparseable"]);
        Assert.Equal(3 + 3, server.RequestCount);   // the unparseable one was asked 4 times in all
        Assert.Equal(3, memo.Count);               // ... and its missing result is cached too

        // A record lacking a prompt field is not sent.
        var ctx2 = await Run(grade, [new Rec("id9", "Q9") { Solution = null }], new TestMemo());
        Assert.Equal(1, ctx2.Metrics["judge.skipped_missing_input"]);
        Assert.Null(Column(ctx2, "attempt_correct")["id9"]);
    }

    [Fact]
    public async Task PlaceholdersCanReadFieldsOfTheMetadataJson()
    {
        await using var server = new JudgeTestServer(r => JudgeReply.Content(r.Prompt.EndsWith("=> 42") ? "Yes" : "No"));
        var cfg = Config(server.BaseUrl);
        cfg.Kind = JudgeKind.Grading;
        cfg.PromptTemplate = "Grade {question} => {metadata.small_model_answer}";
        cfg.OutputColumn = "solved_small";
        var batch = IwSft.Stages.Curate.CurateTables.WithColumns(Candidates([new Rec("a", "Q1"), new Rec("b", "Q2"), new Rec("c", "Q3")]),
            (new Apache.Arrow.Field("metadata", Apache.Arrow.Types.StringType.Default, true),
             IwSft.Stages.Curate.CurateTables.BuildArray(new Apache.Arrow.Field("metadata", Apache.Arrow.Types.StringType.Default, true),
                 ["{\"small_model_answer\":\"42\"}", "{\"small_model_answer\":41}", "{\"other\":1}"])));
        var stage = new JudgeStage("judge", cfg);
        var ctx = new StageTestContext(stage).Table("records", batch);
        await stage.RunAsync(ctx);
        Assert.Equal(new Dictionary<string, string?> { ["a"] = "True", ["b"] = "False", ["c"] = null }, Column(ctx, "solved_small"));
        Assert.Equal(["Grade Q1 => 42", "Grade Q2 => 41"], server.Requests.Select(r => r.Prompt).Order());
        Assert.Equal(1, ctx.Metrics["judge.skipped_missing_input"]);
    }

    [Theory]
    [InlineData(JudgeKind.Domain, "Classification: 11 Number theory", "11")]
    [InlineData(JudgeKind.Domain, "It uses 3.14 and 2 cases; MSC 60J10 (Markov chains).", "60")]
    [InlineData(JudgeKind.Domain, "Category 99 does not exist; answer: 05-XX.", "05")]
    [InlineData(JudgeKind.Domain, "Answer: 26.", "26")]
    [InlineData(JudgeKind.Domain, "No idea, maybe 1999.", null)]
    [InlineData(JudgeKind.Grading, "Yes", "True")]
    [InlineData(JudgeKind.Grading, "no.", "False")]
    [InlineData(JudgeKind.Grading, "At first yes, but on reflection: No", "False")]
    [InlineData(JudgeKind.Grading, "Maybe", null)]
    [InlineData(JudgeKind.Quality, "Score: 7", "7")]
    [InlineData(JudgeKind.Quality, "Rated 8/10 after checking 3 steps.", "8")]
    [InlineData(JudgeKind.Quality, "After 2 checks: 10", "10")]
    [InlineData(JudgeKind.Quality, "Score: 11", null)]
    [InlineData(JudgeKind.Quality, "Score: 7.5", null)]
    public void ReplyParsersFollowTheDocumentedRules(JudgeKind kind, string reply, string? expected)
    {
        var v = JudgeReplyParser.Parse(kind, reply, null, out var error);
        Assert.Equal(expected, v?.ToString());
        Assert.Equal(expected is null, error is not null);
    }

    [Fact]
    public void CustomResponsePatternSelectsWhatIsParsed()
    {
        var rx = new Regex(@"FINAL:\s*(\S+)");
        Assert.Equal("True", JudgeReplyParser.Parse(JudgeKind.Grading, "no no no FINAL: yes", rx, out _)?.ToString());
        Assert.Null(JudgeReplyParser.Parse(JudgeKind.Grading, "yes", rx, out var err));
        Assert.Contains("response pattern", err);
    }

    [Fact]
    public void PromptTemplateRendersPlaceholdersAndEscapes()
    {
        var t = new PromptTemplate("Q: {question}\nA: {attempt} {{literal}} {question}");
        Assert.Equal(["attempt", "question"], t.Fields);
        Assert.Equal("Q: x\nA: y {literal} x", t.Render(f => f == "question" ? "x" : "y"));
        Assert.Throws<FormatException>(() => new PromptTemplate("bad {placeholder"));
        Assert.Throws<FormatException>(() => new PromptTemplate("bad {pl-ace}"));
        Assert.Equal(["metadata.qwen7b_answer"], new PromptTemplate("{metadata.qwen7b_answer}").Fields);
        Assert.Throws<FormatException>(() => new PromptTemplate("bad {a.b.c}"));
    }
}
