using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

/// <summary>
/// Which evaluate reruns generate, under the real engine (PipelineRunner, artifact store, on-disk record memo) and
/// <c>--set</c> overrides, counted by the fake generator: the knobs outside record keys generate nothing, growing
/// samples_per_item or max_items_per_benchmark generates exactly the new samples, and what decides a sample
/// regenerates it.
/// </summary>
public sealed class EvalRerunPipelineTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-eval-rerun", Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    public sealed class ItemsConfig { public int PerBenchmark { get; set; } = 4; }

    /// <summary>PerBenchmark math items ("What is k*7?") and as many multiple-choice items.</summary>
    sealed class Items(string name) : Stage<ItemsConfig>(name)
    {
        public override string Kind => "eval-test.growing-items";
        public override int Version => 1;
        public override IReadOnlyList<PortSpec> Inputs => [];
        public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Table("items", "benchmark_items")];
        public override async Task RunAsync(IStageContext ctx)
        {
            var rows = Enumerable.Range(1, Config.PerBenchmark).Select(k => ($"t{k}", "toy", $"What is {k}*7?", $"{k * 7}", (string[]?)null))
                .Concat(Enumerable.Range(1, Config.PerBenchmark).Select(k => ($"c{k}", "mc", $"Which colour, {k}?", "B", (string[]?)["red", "blue", "green"])));
            await using var w = ctx.WriteTable("items");
            await w.WriteAsync(EvalStageTests.Items([.. rows]));
        }
    }

    string Checkpoint(string name, string skill, string weights = "weights")
    {
        var d = Path.Combine(_root, "models", name);
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "skill.txt"), skill);
        File.WriteAllText(Path.Combine(d, "weights.bin"), weights + " " + name);
        return d;
    }

    /// <param name="formatter">null: the stage's own <see cref="PromptFormatter"/> (prompt_style decides the text).</param>
    /// <param name="weightsOfB">The content of checkpoint b's weights file.</param>
    Pipeline Build(EvalFakeGeneratorFactory gen, EvaluateConfig config, IPromptFormatter? formatter, string weightsOfB = "weights")
    {
        var p = new Pipeline("eval-rerun");
        var items = p.Add(new Items("items"));
        var eval = p.Add(new EvaluateStage("evaluate", gen, config, formatter));
        eval.From(EvaluateStage.ItemsInput, items["items"]);
        eval.AddExternalCheckpoint("a", Checkpoint("a", "all"));
        eval.AddExternalCheckpoint("b", Checkpoint("b", "none", weightsOfB));
        return p;
    }

    PipelineRunner Runner(params string[] overrides) => new(new ArtifactStore(Path.Combine(_root, "store")), new RunOptions { Overrides = overrides });

    static EvaluateConfig Config() => new() { SamplesPerItem = 2, Temperature = 1, MaxNewTokens = 64, BatchSize = 3 };

    static double Computed(RunResult r) => r.Stages["evaluate"].Metrics[RecordMemoLoop.ComputedMetric];

    [Fact]
    public async Task NoKnobOutsideTheRecordKeyGeneratesASample()
    {
        var formatter = new EvalGoldLeakingFormatter();   // prompt_style does not change this formatter's text
        var first = new EvalFakeGeneratorFactory();
        var r1 = await Runner().RunAsync(Build(first, Config(), formatter));
        Assert.Equal(2 * 8 * 2, first.TotalRequests);
        Assert.Equal(2 * 8 * 2, Computed(r1));

        var knobs = new Dictionary<string, string>
        {
            ["batch_size"] = "1", ["samples_per_item"] = "1", ["benchmarks"] = "[\"mc\"]", ["max_items_per_benchmark"] = "2",
            ["prompt_style"] = "plain", ["last_number_fallback"] = "true", ["relative_tolerance"] = "0.5",
        };
        Assert.Equal(new EvaluateStage("x", first).NotInRecordKey.Order(), knobs.Keys.Order());
        foreach (var (knob, value) in knobs)
        {
            var gen = new EvalFakeGeneratorFactory();
            var r = await Runner($"evaluate.{knob}={value}").RunAsync(Build(gen, Config(), formatter));
            Assert.Equal(StageStatus.Ran, r.Stages["evaluate"].Status);
            Assert.Equal(0, gen.TotalRequests);
            Assert.Empty(gen.Opens);                               // no model was loaded
            Assert.Equal(0, Computed(r));
            if (knob is "batch_size" or "prompt_style")            // same samples, same grading: the same bytes
                Assert.Equal(r1.Stages["evaluate"].Outputs[EvaluateStage.ResultsOutput].Hash, r.Stages["evaluate"].Outputs[EvaluateStage.ResultsOutput].Hash);
        }
    }

    [Fact]
    public async Task GrowingSamplesPerItemOrMaxItemsGeneratesExactlyTheNewSamples()
    {
        var formatter = new EvalGoldLeakingFormatter();
        var one = new EvalFakeGeneratorFactory();
        var r1 = await Runner("evaluate.samples_per_item=1", "evaluate.max_items_per_benchmark=2").RunAsync(Build(one, Config(), formatter));
        Assert.Equal(2 * 4 * 1, one.TotalRequests);

        // samples_per_item 1 → 3: samples 1 and 2 of each of the 4 items, for each checkpoint.
        var three = new EvalFakeGeneratorFactory();
        var r3 = await Runner("evaluate.samples_per_item=3", "evaluate.max_items_per_benchmark=2").RunAsync(Build(three, Config(), formatter));
        Assert.Equal(2 * 4 * 2, three.TotalRequests);
        Assert.Equal(2 * 4 * 2, Computed(r3));
        var prompts = three.Log.Select(x => x.Request.Prompt).Distinct().ToList();
        Assert.Equal(4, prompts.Count);
        foreach (var dir in three.Requests.Keys)
            Assert.Equal(prompts.SelectMany(p => new[] { EvaluateStage.SampleSeed(0, p, 1), EvaluateStage.SampleSeed(0, p, 2) }).Order(),
                three.Log.Where(x => x.Dir == dir).Select(x => x.Request.Seed).Order());
        var before = await Results(r1);
        Assert.Equal(before, (await Results(r3)).Where(x => x.Sample == 0));    // sample 0 is the memoised one

        // max_items_per_benchmark 2 → 4: the two new items of each benchmark, all three samples.
        var more = new EvalFakeGeneratorFactory();
        var r4 = await Runner("evaluate.samples_per_item=3", "evaluate.max_items_per_benchmark=4").RunAsync(Build(more, Config(), formatter));
        Assert.Equal(2 * 4 * 3, more.TotalRequests);
        Assert.Equal(["c3", "c4", "t3", "t4"], more.Log.Select(x => ItemOf(x.Request.Prompt)).Distinct().Order());
        Assert.Equal(2 * 8 * 3, r4.Stages["evaluate"].Rows[EvaluateStage.ResultsOutput]);

        // 0 = every item; there are 4 per benchmark, all memoised.
        var all = new EvalFakeGeneratorFactory();
        await Runner("evaluate.samples_per_item=3").RunAsync(Build(all, Config(), formatter));
        Assert.Equal(0, all.TotalRequests);
    }

    [Fact]
    public async Task WhatDecidesASampleRegeneratesIt()
    {
        var first = new EvalFakeGeneratorFactory();
        await Runner().RunAsync(Build(first, Config(), null));
        Assert.Equal(2 * 8 * 2, first.TotalRequests);

        foreach (var change in new[] { "temperature=0.5", "max_new_tokens=32", "top_p=0.9", "seed=5", "prompt_style=plain" })
        {
            var gen = new EvalFakeGeneratorFactory();
            var r = await Runner($"evaluate.{change}").RunAsync(Build(gen, Config(), null));
            Assert.True(2 * 8 * 2 == gen.TotalRequests, $"{change}: {gen.TotalRequests} generated");
            Assert.Equal(2 * 8 * 2, Computed(r));
        }

        // Another checkpoint content under the same label and path: only that checkpoint's samples.
        var edited = new EvalFakeGeneratorFactory();
        var re = await Runner().RunAsync(Build(edited, Config(), null, weightsOfB: "retrained weights"));
        Assert.Equal([Path.Combine(_root, "models", "b")], edited.Opens.Keys);
        Assert.Equal(8 * 2, edited.TotalRequests);
        Assert.Equal(8 * 2, re.Stages["evaluate"].Metrics[RecordMemoLoop.ReusedMetric]);
    }

    static string ItemOf(string prompt) => prompt switch
    {
        _ when prompt.StartsWith("What is ") => "t" + prompt["What is ".Length..prompt.IndexOf('*')],
        _ => "c" + prompt["Which colour, ".Length..prompt.IndexOf('?')],
    };

    async Task<List<(string Checkpoint, string Item, int Sample, string Response)>> Results(RunResult r)
    {
        var list = new List<(string, string, int, string)>();
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        await foreach (var b in store.OpenTable(r.Stages["evaluate"].Outputs[EvaluateStage.ResultsOutput], "evaluate.results").ReadBatchesAsync())
            for (int i = 0; i < b.Length; i++)
                list.Add((b.GetString("checkpoint", i)!, b.GetString("item_id", i)!, b.GetInt32("sample", i)!.Value, b.GetString("response", i)!));
        return list;
    }
}
