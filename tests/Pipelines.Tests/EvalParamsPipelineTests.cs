using System.Text.Json.Nodes;
using System.Xml.Linq;
using IwSft.Gpu.Models;
using IwSft.Pipelines.Demo;
using IwSft.Pipelines.Eval;
using IwSft.Runtime;
using IwSft.Stages.Tests;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// The params-file evaluation pipeline (<c>iwsft run eval --params</c>): through the real <see cref="PipelineRunner"/>
/// with the counting fake generator, adding a checkpoint and a benchmark generates exactly the new cells; through
/// the real CLI with tiny random checkpoints, the summary JSON, JUnit XML, thresholds and <c>metrics diff</c>.
/// </summary>
public sealed class EvalParamsPipelineTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-evalci", Guid.NewGuid().ToString("N"));

    public EvalParamsPipelineTests() => Directory.CreateDirectory(_root);
    public void Dispose() { try { Directory.Delete(_root, recursive: true); } catch (IOException) { } }

    string WriteBenchmark(string name, int items)
    {
        var path = Path.Combine(_root, name + ".jsonl");
        File.WriteAllLines(path, Enumerable.Range(1, items).Select(i =>
            new JsonObject { ["id"] = $"{name}-{i}", ["problem"] = $"{name}: what is {i} + {i}?", ["solution_value"] = (2 * i).ToString() }.ToJsonString()));
        return path;
    }

    string FakeCheckpoint(string name, string skill)
    {
        var dir = Path.Combine(_root, "ckpt-" + name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "skill.txt"), skill);
        return dir;
    }

    static JsonObject Benchmark(string name, string path) => new()
    {
        ["name"] = name, ["path"] = path, ["question"] = "problem", ["answer"] = "solution_value", ["item_id"] = "id",
    };

    string WriteParams(string file, JsonArray checkpoints, JsonArray benchmarks, int samples, JsonObject? thresholds = null)
    {
        var path = Path.Combine(_root, file);
        var o = new JsonObject
        {
            ["checkpoints"] = checkpoints, ["benchmarks"] = benchmarks,
            ["generation"] = new JsonObject { ["samples_per_item"] = samples, ["max_new_tokens"] = 4, ["temperature"] = 0.7, ["batch_size"] = 4 },
            ["pass_at_k"] = samples,
        };
        if (thresholds is not null) o["thresholds"] = thresholds;
        File.WriteAllText(path, o.ToJsonString());
        return path;
    }

    static JsonObject Ckpt(string label, string path) => new() { ["label"] = label, ["path"] = path };

    [Fact]
    public async Task Adding_a_checkpoint_and_a_benchmark_generates_exactly_the_new_cells()
    {
        string b1 = WriteBenchmark("b1", 3), b2 = WriteBenchmark("b2", 2);
        string good = FakeCheckpoint("good", "all"), bad = FakeCheckpoint("bad", "none");
        var fake = new EvalFakeGeneratorFactory();
        var definition = new EvalPipeline(fake, new EvalGoldLeakingFormatter());
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var runner = new PipelineRunner(store, new RunOptions());
        const int samples = 2;

        var params1 = WriteParams("eval.json", [Ckpt("good", good)], [Benchmark("b1", b1)], samples);
        var r1 = await runner.RunAsync(definition.Build(new PipelineBuildOptions { ParamsFile = params1 }));
        Assert.Equal(3 * samples, fake.TotalRequests);
        Assert.Equal(3 * samples, r1.Stages["evaluate"].Metrics["memo.computed"]);

        // Same file again: nothing runs.
        var r2 = await runner.RunAsync(definition.Build(new PipelineBuildOptions { ParamsFile = params1 }));
        Assert.All(r2.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
        Assert.Equal(3 * samples, fake.TotalRequests);

        // One more checkpoint and one more benchmark: new cells are bad × b1, bad × b2, good × b2.
        WriteParams("eval.json", [Ckpt("good", good), Ckpt("bad", bad)], [Benchmark("b1", b1), Benchmark("b2", b2)], samples);
        var r3 = await runner.RunAsync(definition.Build(new PipelineBuildOptions { ParamsFile = params1 }));
        int expectedNew = (3 + 2) * samples + 2 * samples;
        Assert.Equal(3 * samples + expectedNew, fake.TotalRequests);
        Assert.Equal(expectedNew, r3.Stages["evaluate"].Metrics["memo.computed"]);
        Assert.Equal(3 * samples, r3.Stages["evaluate"].Metrics["memo.reused"]);
        Assert.Equal(StageStatus.Ran, r3.Stages["params"].Status);   // the file's content is in the key
        Assert.Equal((3 + 2) * samples, fake.Requests[bad]);
        Assert.Equal((3 + 2) * samples, fake.Requests[good]);

        var summary = await EvalCi.FromStoreAsync(store, "eval", params1);
        Assert.Equal(4, summary.Results.Count);
        Assert.Equal(1.0, summary.Results.Single(c => c.Checkpoint == "good" && c.Benchmark == "b2").Accuracy);
        Assert.Equal(0.0, summary.Results.Single(c => c.Checkpoint == "bad" && c.Benchmark == "b1").Accuracy);
        Assert.Contains("evaluate", summary.StoreKeys.Keys);

        // Thresholds: bad fails min_accuracy on b1; good drops against a doctored baseline.
        var baseline = summary with { Results = summary.Results.Select(c => c with { Accuracy = c.Checkpoint == "good" && c.Benchmark == "b1" ? 1.0 : c.Accuracy }).ToList() };
        var worse = summary with { Results = summary.Results.Select(c => c.Checkpoint == "good" && c.Benchmark == "b1" ? c with { Accuracy = 0.5 } : c).ToList() };
        var failures = EvalCi.CheckThresholds(worse, new EvalThresholds { MinAccuracy = new() { ["b1"] = 0.4 }, MaxDrop = 0.1 }, baseline);
        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, f => f.Checkpoint == "bad" && f.Benchmark == "b1" && f.Message.Contains("min_accuracy"));
        Assert.Contains(failures, f => f.Checkpoint == "good" && f.Benchmark == "b1" && f.Message.Contains("max_drop"));
        Assert.StartsWith("regressed: ", EvalCi.RegressionLine(failures));
        Assert.DoesNotContain('\n', EvalCi.RegressionLine(failures));
    }

    [Fact]
    public void A_benchmark_by_name_resolves_under_the_data_root_and_an_unknown_name_is_an_error()
    {
        var data = Path.Combine(_root, "data");
        var path = WriteParams("named.json", [Ckpt("x", "ckpt")], [new JsonObject { ["name"] = "math500" }], 1);
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        o["data_root"] = data;
        File.WriteAllText(path, o.ToJsonString());
        var prm = EvalParams.Load(path);
        Assert.Equal(Path.Combine(data, "benchmarks", "math500.jsonl"), prm.Benchmarks[0].Path);
        Assert.Equal("unique_id", prm.Benchmarks[0].ItemId);
        Assert.Equal(Path.Combine(_root, "ckpt"), prm.Checkpoints[0].Path);

        var bad = WriteParams("unknown.json", [Ckpt("x", "ckpt")], [new JsonObject { ["name"] = "nope" }], 1);
        var e = Assert.Throws<InvalidDataException>(() => EvalParams.Load(bad));
        Assert.Contains("nope", e.Message);
    }

    /// <summary>A tiny random Qwen2-shaped checkpoint with the demo's character tokenizer beside its weights.</summary>
    string TinyCheckpoint(string name, int seed)
    {
        var dir = Path.Combine(_root, name);
        CharTokenizerDirectory.Write(dir);
        Checkpoint.WriteRandom(dir, new TransformerConfig
        {
            VocabSize = CharTokenizerDirectory.VocabularySize, HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, NumKeyValueHeads = 1,
            IntermediateSize = 24, TieWordEmbeddings = true, AttentionBias = true, MaxPositionEmbeddings = 512,
        }, seed: seed);
        return dir;
    }

    static double ComputedInLatestRun(string store)
    {
        var manifest = Directory.GetFiles(Path.Combine(store, "pipelines", "eval", "runs"), "*.json").Order(StringComparer.Ordinal).Last();
        var node = JsonNode.Parse(File.ReadAllText(manifest))!;
        var stages = node["stages"]!;
        JsonNode evaluate = stages is JsonArray arr ? arr.First(s => (string?)s!["name"] == "evaluate")! : stages["evaluate"]!;
        return evaluate["metrics"]!["memo.computed"]!.GetValue<double>();
    }

    [Fact]
    public void Cli_run_eval_writes_summary_and_junit_fails_on_a_threshold_and_metrics_diff_compares_runs()
    {
        string b1 = WriteBenchmark("b1", 2), b2 = WriteBenchmark("b2", 1);
        string m1 = TinyCheckpoint("m1", 1), m2 = TinyCheckpoint("m2", 2);
        string store = Path.Combine(_root, "store");
        string s1 = Path.Combine(_root, "s1.json"), s2 = Path.Combine(_root, "s2.json"), j2 = Path.Combine(_root, "j2.xml");

        var p = WriteParams("eval.json", [Ckpt("m1", m1)], [Benchmark("b1", b1)], 1, new JsonObject { ["min_accuracy"] = new JsonObject { ["b1"] = 0.0 } });
        var first = CliProcess.Run(_root, null, "run", "eval", "--params", p, "--store", store, "--plain", "--summary-json", s1, "--junit", Path.Combine(_root, "j1.xml"));
        Assert.True(first.Code == 0, first.Stderr + first.Stdout);
        Assert.Equal(2, ComputedInLatestRun(store));

        // Both files of the real command validate against their schemas (schemas/ci/).
        Assert.Empty(CiSchemas.SummaryErrors(File.ReadAllText(s1)));
        Assert.Empty(CiSchemas.JUnitErrors(Path.Combine(_root, "j1.xml")));
        var json = JsonNode.Parse(File.ReadAllText(s1))!;
        Assert.Equal(1, (int)json["format"]!);
        Assert.True(json.AsObject().ContainsKey("commit"));
        Assert.False(string.IsNullOrEmpty((string?)json["store_keys"]!["evaluate"]));
        var cell = json["results"]!.AsArray().Single()!;
        Assert.Equal("m1", (string?)cell["checkpoint"]);
        Assert.Equal("b1", (string?)cell["benchmark"]);
        Assert.Equal(2, (int)cell["n"]!);
        double acc = (double)cell["accuracy"]!, lo = (double)cell["ci_low"]!, hi = (double)cell["ci_high"]!;
        Assert.InRange(acc, lo, hi);
        Assert.True(hi > 0);   // Wilson: never a point at 0/2
        Assert.NotNull(cell["pass_at_k"]);

        // One more checkpoint and benchmark, and an impossible threshold on b2: exit 1 naming the cells.
        WriteParams("eval.json", [Ckpt("m1", m1), Ckpt("m2", m2)], [Benchmark("b1", b1), Benchmark("b2", b2)], 1,
            new JsonObject { ["min_accuracy"] = new JsonObject { ["b2"] = 1.5 } });
        var second = CliProcess.Run(_root, null, "run", "eval", "--params", p, "--store", store, "--plain", "--summary-json", s2, "--junit", j2);
        Assert.Equal(1, second.Code);
        var line = second.Stderr.Trim().Split('\n').Last();
        Assert.StartsWith("regressed: ", line);
        Assert.Contains("m1 × b2", line);
        Assert.Contains("m2 × b2", line);
        Assert.DoesNotContain("b1:", line);
        Assert.Equal(1 + 2 + 1, ComputedInLatestRun(store));   // m1 × b2 (1 item), m2 × b1 (2), m2 × b2 (1)

        // With failing cells too: a <failure> per failed threshold, still valid.
        Assert.Empty(CiSchemas.SummaryErrors(File.ReadAllText(s2)));
        Assert.Empty(CiSchemas.JUnitErrors(j2));
        var doc = XDocument.Load(j2);
        Assert.Equal("testsuites", doc.Root!.Name.LocalName);
        Assert.Equal(4, (int)doc.Root.Attribute("tests")!);
        Assert.Equal(2, (int)doc.Root.Attribute("failures")!);
        var cases = doc.Descendants("testcase").ToList();
        Assert.Equal(4, cases.Count);
        Assert.All(cases, c => { Assert.NotNull(c.Attribute("name")); Assert.NotNull(c.Attribute("classname")); });
        Assert.Equal(["b2", "b2"], cases.Where(c => c.Element("failure") is not null).Select(c => (string)c.Attribute("name")!));
        foreach (var suite in doc.Descendants("testsuite"))
            Assert.Equal(suite.Elements("testcase").Count(c => c.Element("failure") is not null), (int)suite.Attribute("failures")!);

        var diff = CliProcess.Run(_root, null, "metrics", "diff", s1, s2);
        Assert.True(diff.Code == 0, diff.Stderr);
        Assert.Contains("checkpoint", diff.Stdout);
        var m1b1 = diff.Stdout.Split('\n').Single(l => l.StartsWith("m1") && l.Contains("b1") && l.Contains("accuracy"));
        Assert.Contains("+0.0000", m1b1);   // the same memoised samples: no change
        Assert.Contains(diff.Stdout.Split('\n'), l => l.StartsWith("m2") && l.Contains("b2") && l.Contains("added"));

        // The store itself is a valid side of a diff.
        var fromStore = CliProcess.Run(_root, null, "metrics", "diff", s2, store);
        Assert.True(fromStore.Code == 0, fromStore.Stderr);
        Assert.DoesNotContain("added", fromStore.Stdout);
    }
}
