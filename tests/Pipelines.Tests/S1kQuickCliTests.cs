using System.Text.Json.Nodes;
using IwSft.Stages.Tests;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// <c>iwsft run s1k --quick</c> from the CLI, offline, on the real shared candidates and benchmarks: every stage of the
/// recipe runs (the judges in process on the toy model, with guided choice), the counts are the ones the fixed data
/// gives, the report says its figures come from a toy model, and a rerun recomputes nothing.
/// </summary>
public sealed class S1kQuickCliTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-s1k-quick-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    static readonly string[] Stages =
        ["ingest", "benchmarks", "decontaminate", "base_model", "judge_domain", "judge_attempt", "trace_tokens", "filter", "select", "format",
         "ref_logprobs", "export", "export_iw_sft", "train", "evaluate", "report"];

    JsonObject LatestManifest(string store) =>
        JsonNode.Parse(File.ReadAllText(Directory.GetFiles(Path.Combine(store, "pipelines", "s1k", "runs"), "*.json").Order(StringComparer.Ordinal).Last()))!.AsObject();

    [SharedDataFact]
    public void Quick_s1k_runs_every_stage_offline_on_the_shared_data_and_a_rerun_recomputes_nothing()
    {
        var data = SharedData.RootWith("candidates/gsm8k_train.jsonl", "candidates/aime_1983_2024.csv", "benchmarks/aime24.jsonl", "benchmarks/math500.jsonl");
        var env = new Dictionary<string, string> { ["IWSFT_DATA"] = data };
        string store = Path.Combine(_dir, "store");

        var run = CliProcess.Run(_dir, env, "run", "s1k", "--quick", "--store", store, "--plain");
        Assert.True(run.Code == 0, run.Stderr + run.Stdout);
        var manifest = LatestManifest(store);
        var stages = manifest["stages"]!.AsObject();
        Assert.Equal(Stages.Order(), stages.Select(s => s.Key).Order());
        Assert.All(Stages, s => Assert.Equal("ran", stages[s]!["status"]!.GetValue<string>()));
        long Rows(string stage, string output) => stages[stage]!["outputs"]![output]!["rows"]!.GetValue<long>();
        double Metric(string stage, string metric) => stages[stage]!["metrics"]![metric]!.GetValue<double>();

        // The fixed shared files decide these counts: 160 GSM8K + 982 AIME candidates; s1's 8-gram decontamination
        // against AIME24 and MATH500 removes 266 AIME problems (238 by AIME24's shared phrasing, 28 by MATH500);
        // the AIME rows have no trace, so missing-features keeps the 160 GSM8K records; the selection takes 24.
        Assert.Equal(1142, Rows("ingest", "candidates"));
        Assert.Equal(876, Rows("decontaminate", "clean"));
        Assert.Equal(238, Metric("decontaminate", "contaminated.aime24"));
        Assert.Equal(28, Metric("decontaminate", "contaminated.math500"));
        Assert.Equal(0, Metric("decontaminate", "source.gsm8k.contaminated"));
        Assert.Equal(876, Metric("judge_domain", "judge.calls"));
        Assert.Equal(0, Metric("judge_domain", "judge.unparseable"));       // guided choice: every reply is a label
        Assert.Equal(0, Metric("judge_attempt", "judge.unparseable"));
        Assert.Equal(160, Rows("filter", "records"));
        Assert.Equal(24, Rows("select", "records"));
        Assert.Equal(24, Rows("format", "sequences"));
        Assert.Equal(24, Rows("ref_logprobs", "ref_logprobs"));
        Assert.Equal(16, Rows("evaluate", "results"));                   // 2 checkpoints × 2 benchmarks × 4 items

        var report = Directory.GetFiles(Path.Combine(store, "objects"), "report.md", SearchOption.AllDirectories).Single();
        var text = File.ReadAllText(report);
        Assert.Contains("random toy checkpoint", text);
        Assert.Contains("not anything about iw-SFT", text);

        var rerun = CliProcess.Run(_dir, env, "run", "s1k", "--quick", "--store", store, "--plain");
        Assert.True(rerun.Code == 0, rerun.Stderr + rerun.Stdout);
        var again = LatestManifest(store)["stages"]!.AsObject();
        Assert.All(Stages, s => Assert.Equal("cached", again[s]!["status"]!.GetValue<string>()));
    }
}
