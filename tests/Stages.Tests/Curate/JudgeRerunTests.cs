using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using IwSft.Runtime;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Ingest;

namespace IwSft.Stages.Tests.Curate;

/// <summary>
/// Which judge reruns call the judge, under the real engine (PipelineRunner, on-disk record memo) with <c>--set</c>
/// overrides, counted by the loopback servers: every setting outside record keys (endpoint, key, concurrency, each
/// retry and timeout setting, output column, skip_where_set) calls nothing; what decides an answer asks again.
/// </summary>
public sealed class JudgeRerunTests : IAsyncDisposable
{
    const int Records = 30;
    readonly string _dir = Path.Combine(Path.GetTempPath(), "iwsft-judge-rerun-" + Guid.NewGuid().ToString("N"));
    readonly JudgeTestServer _first = new(Reply);
    readonly JudgeTestServer _second = new(Reply);

    public JudgeRerunTests()
    {
        Directory.CreateDirectory(_dir);
        File.WriteAllLines(Source, Enumerable.Range(0, Records).Select(i => new JsonObject
        {
            ["question"] = $"Question Q{i}: find the value.", ["trace"] = $"step {i}", ["attempt"] = $"{i}",
        }.ToJsonString()));
    }

    public async ValueTask DisposeAsync()
    {
        await _first.DisposeAsync();
        await _second.DisposeAsync();
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    string Source => Path.Combine(_dir, "pool.jsonl");

    static JudgeReply Reply(JudgeRequest r) =>
        JudgeReply.Content($"MSC {new[] { "11", "05", "60" }[int.Parse(Regex.Match(r.Prompt, @"Q(\d+)").Groups[1].Value) % 3]}");

    Pipeline Build()
    {
        var p = new Pipeline("judge-rerun");
        var ingest = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = Source, Name = "pool" }] }));
        p.Add(new JudgeStage("judge", new JudgeConfig
        {
            BaseUrl = _first.BaseUrl, Model = "judge", Kind = JudgeKind.Domain, PromptTemplate = "Domain of: {question}", OutputColumn = "domain",
            MaxConcurrency = 4,
            Resilience = new JudgeResilienceConfig { MaxRetryAttempts = 2, BaseDelaySeconds = 0.01, AttemptTimeoutSeconds = 5, BreakerMinimumThroughput = 100_000 },
        })).From("records", ingest["candidates"]);
        return p;
    }

    Task<RunResult> Run(params string[] overrides) =>
        new PipelineRunner(new ArtifactStore(Path.Combine(_dir, "store")), new RunOptions { Overrides = overrides }).RunAsync(Build());

    int Calls => _first.RequestCount + _second.RequestCount;

    [Fact]
    public async Task NoSettingOutsideTheRecordKeyCallsTheJudge()
    {
        var first = await Run();
        Assert.Equal(Records, Calls);
        Assert.Equal(Records, first.Stages["judge"].Metrics[RecordMemoLoop.ComputedMetric]);

        string keyVariable = "IWSFT_TEST_JUDGE_RERUN_KEY_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(keyVariable, "sk-rerun");
        var changes = new List<(string Knob, string Assignment)>
        {
            ("base_url", $"base_url={_second.BaseUrl}"),
            ("api_key_env", $"api_key_env={keyVariable}"),
            ("max_concurrency", "max_concurrency=1"),
            ("output_column", "output_column=msc_class"),
            ("skip_where_set", "skip_where_set=true"),
        };
        // Every retry, timeout and breaker setting, each doubled.
        foreach (var (name, value) in new JudgeStage("x").ConfigJson()["resilience"]!.AsObject())
            changes.Add(("resilience", $"resilience.{name}={(value!.GetValue<double>() * 2).ToString(System.Globalization.CultureInfo.InvariantCulture)}"));
        // guided_choice is out of record keys only while off (as every judge asked before it existed); turning it on asks again (below).
        Assert.Equal(new JudgeStage("x").NotInRecordKey.Except(["guided_choice"]).Order(), changes.Select(c => c.Knob).Distinct().Order());
        Assert.Contains("guided_choice", new JudgeStage("x").NotInRecordKey);
        Assert.DoesNotContain("guided_choice", new JudgeStage("x", new JudgeConfig { GuidedChoice = true }).NotInRecordKey);
        Assert.Equal(9, changes.Count(c => c.Knob == "resilience"));

        foreach (var (_, assignment) in changes)
        {
            var r = await Run("judge." + assignment);
            Assert.Equal(StageStatus.Ran, r.Stages["judge"].Status);
            Assert.True(Records == Calls, $"{assignment}: {Calls - Records} calls");
            Assert.Equal(0, r.Stages["judge"].Metrics[RecordMemoLoop.ComputedMetric]);
            Assert.Equal(Records, r.Stages["judge"].Metrics[RecordMemoLoop.ReusedMetric]);
            Assert.Equal(0, r.Stages["judge"].Metrics["judge.calls"]);
        }
    }

    [Fact]
    public async Task WhatDecidesAnAnswerAsksAgain()
    {
        await Run();
        Assert.Equal(Records, Calls);
        int expected = Records;
        foreach (var change in new[]
        {
            "model=judge-2", "prompt_template=Which MSC class? {question}", "system_prompt=Be brief.", "temperature=0.7",
            "max_tokens=64", @"response_pattern=MSC (\d\d)", "unparseable_as_missing=true", "guided_choice=true",
        })
        {
            var r = await Run("judge." + change);
            expected += Records;
            Assert.True(expected == Calls, $"{change}: {Calls - expected + Records} calls");
            Assert.Equal(Records, r.Stages["judge"].Metrics[RecordMemoLoop.ComputedMetric]);
        }
        // A grown pool asks only for the new records.
        File.AppendAllLines(Source, Enumerable.Range(Records, 5).Select(i => new JsonObject { ["question"] = $"Question Q{i}: more.", ["trace"] = "t", ["attempt"] = "1" }.ToJsonString()));
        var grown = await Run();
        Assert.Equal(expected + 5, Calls);
        Assert.Equal(Records, grown.Stages["judge"].Metrics[RecordMemoLoop.ReusedMetric]);
    }
}
