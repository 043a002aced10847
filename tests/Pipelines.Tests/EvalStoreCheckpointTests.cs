using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using IwSft.Pipelines.Demo;
using IwSft.Pipelines.Eval;
using IwSft.Runtime;
using IwSft.Stages.Evaluate;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// Checkpoints named in the eval params file by store reference (<c>store_artifact</c>): the quick demo trains its
/// reference model into a temporary store, the eval pipeline evaluates that store artifact through the real runner,
/// and the cells are keyed by the artifact's content, so adding a checkpoint or re-training one computes only the
/// cells of that checkpoint.
/// </summary>
public sealed class EvalStoreCheckpointTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-eval-store-ckpt", Guid.NewGuid().ToString("N"));
    string StoreDir => Path.Combine(_root, "store");

    public EvalStoreCheckpointTests() => Directory.CreateDirectory(_root);
    public void Dispose() { try { Directory.Delete(_root, recursive: true); } catch (IOException) { } }

    /// <summary>Answers every request with the same wrong number and counts requests per checkpoint directory (demo checkpoints carry no tokenizer, so no real generation here).</summary>
    sealed class CountingGenerators : ICompletionGeneratorFactory
    {
        public ConcurrentDictionary<string, int> Requests { get; } = new();
        public JsonNode KeyIdentity() => new JsonObject { ["fake"] = "counting" };
        public ICompletionGenerator Open(string checkpointDirectory, string? tokenizerDirectory, CancellationToken ct) => new Generator(this, checkpointDirectory);

        sealed class Generator(CountingGenerators owner, string dir) : ICompletionGenerator
        {
            public IReadOnlyList<GeneratedSample> Generate(IReadOnlyList<GenerationRequest> requests, GenerationSettings settings, CancellationToken ct)
            {
                owner.Requests.AddOrUpdate(dir, requests.Count, (_, n) => n + requests.Count);
                return requests.Select(_ => new GeneratedSample("\\boxed{-1}", 3)).ToList();
            }
            public void Dispose() { }
        }
    }

    /// <summary>The real demo pipeline (quick sizes) up to its trained reference model, with few steps to keep the test short.</summary>
    async Task TrainDemoReference(int steps)
    {
        var demo = new DemoPipeline().Build(new PipelineBuildOptions { Quick = true });
        var r = await new PipelineRunner(new ArtifactStore(StoreDir), new RunOptions
        {
            Until = "train_reference", Overrides = [$"train_reference.trainer.max_steps={steps}"],
        }).RunAsync(demo);
        Assert.True(r.Succeeded, string.Join("; ", r.Stages.Values.Where(s => s.Error != null).Select(s => $"{s.Name}: {s.Error}")));
    }

    ArtifactRef DemoOutput(string stage, string output) => new ArtifactStore(StoreDir).ReadLock("demo").Stages[stage].Outputs[output];

    string WriteParams(params JsonObject[] checkpoints)
    {
        var bench = Path.Combine(_root, "b1.jsonl");
        if (!File.Exists(bench))
            File.WriteAllLines(bench, Enumerable.Range(1, 3).Select(i => new JsonObject { ["id"] = $"b1-{i}", ["problem"] = $"what is {i} + {i}?", ["answer"] = (2 * i).ToString() }.ToJsonString()));
        var path = Path.Combine(_root, "eval.json");
        File.WriteAllText(path, new JsonObject
        {
            ["checkpoints"] = new JsonArray(checkpoints.Select(c => (JsonNode)c.DeepClone()).ToArray()),
            ["benchmarks"] = new JsonArray(new JsonObject { ["name"] = "b1", ["path"] = bench, ["question"] = "problem", ["answer"] = "answer", ["item_id"] = "id" }),
            ["generation"] = new JsonObject { ["samples_per_item"] = 2, ["max_new_tokens"] = 4, ["temperature"] = 0.7 },
        }.ToJsonString());
        return path;
    }

    static JsonObject StoreCkpt(string label, string reference) => new() { ["label"] = label, ["store_artifact"] = reference };

    async Task<StageResult> RunEval(CountingGenerators fake, string paramsFile)
    {
        // Through the definition's Build(options), as `iwsft run eval --params FILE --store DIR` does.
        var p = new EvalPipeline(fake).Build(new PipelineBuildOptions { ParamsFile = paramsFile, StoreRoot = StoreDir });
        var r = await new PipelineRunner(new ArtifactStore(StoreDir), new RunOptions()).RunAsync(p);
        Assert.True(r.Succeeded, string.Join("; ", r.Stages.Values.Where(s => s.Error != null).Select(s => $"{s.Name}: {s.Error}")));
        return r.Stages["evaluate"];
    }

    [Fact]
    public async Task A_demo_checkpoint_named_by_store_reference_is_evaluated_and_only_new_or_retrained_checkpoints_are_computed()
    {
        const int cells = 3 * 2;   // 3 items × 2 samples per checkpoint
        await TrainDemoReference(steps: 2);
        var trained = DemoOutput("train_reference", "model");
        var init = DemoOutput("init_reference", "model");
        var store = new ArtifactStore(StoreDir);
        var fake = new CountingGenerators();

        // By pipeline/stage.output, as `iwsft show demo train_reference.model` names it.
        var prm = WriteParams(StoreCkpt("reference", "demo/train_reference.model"));
        var first = await RunEval(fake, prm);
        Assert.Equal(cells, first.Metrics["memo.computed"]);
        Assert.Equal(cells, fake.Requests[store.ObjectPath(trained)]);   // read in place from the store, not copied
        var summary = await EvalCi.FromStoreAsync(store, "eval", prm);
        Assert.Equal(trained.Hash, summary.Results.Single().CheckpointHash);   // the cell is keyed by the artifact's content

        // A second checkpoint, by content hash: only its cells are computed.
        WriteParams(StoreCkpt("reference", "demo/train_reference.model"), StoreCkpt("init", init.Hash));
        var second = await RunEval(fake, prm);
        Assert.Equal(cells, second.Metrics["memo.computed"]);
        Assert.Equal(cells, second.Metrics["memo.reused"]);
        Assert.Equal(cells, fake.Requests[store.ObjectPath(init)]);
        Assert.Equal(cells, fake.Requests[store.ObjectPath(trained)]);

        // Re-training the reference (one more step) changes its bytes: exactly its cells are stale, init's are reused.
        await TrainDemoReference(steps: 3);
        var retrained = DemoOutput("train_reference", "model");
        Assert.NotEqual(trained.Hash, retrained.Hash);
        Assert.Equal(init.Hash, DemoOutput("init_reference", "model").Hash);
        var third = await RunEval(fake, prm);
        Assert.Equal(cells, third.Metrics["memo.computed"]);
        Assert.Equal(cells, third.Metrics["memo.reused"]);
        Assert.Equal(cells, fake.Requests[store.ObjectPath(retrained)]);
        Assert.Equal(cells, fake.Requests[store.ObjectPath(init)]);   // not asked again
        summary = await EvalCi.FromStoreAsync(store, "eval", prm);
        Assert.Equal(retrained.Hash, summary.Results.Single(c => c.Checkpoint == "reference").CheckpointHash);

        // Nothing changed: no stage runs.
        var again = await new PipelineRunner(store, new RunOptions()).RunAsync(
            new EvalPipeline(fake).Build(new PipelineBuildOptions { ParamsFile = prm, StoreRoot = StoreDir }));
        Assert.All(again.Stages.Values, s => Assert.Equal(StageStatus.Cached, s.Status));
    }

    [Fact]
    public async Task Cli_evaluates_a_demo_checkpoint_and_its_tokenizer_named_by_store_reference_with_the_real_generator()
    {
        await TrainDemoReference(steps: 2);
        var trained = DemoOutput("train_reference", "model");
        // The demo's model directories carry no tokenizer files: the tokenizer is named from the store too.
        var prm = WriteParams(StoreCkpt("reference", "demo/train_reference.model"));
        var o = JsonNode.Parse(File.ReadAllText(prm))!.AsObject();
        o["tokenizer"] = new JsonObject { ["store_artifact"] = "demo/tokenizer" };
        File.WriteAllText(prm, o.ToJsonString());
        string summaryPath = Path.Combine(_root, "summary.json");

        var run = CliProcess.Run(_root, null, "run", "eval", "--params", prm, "--store", StoreDir, "--plain", "--summary-json", summaryPath);
        Assert.True(run.Code == 0, run.Stderr + run.Stdout);
        Assert.Empty(CiSchemas.SummaryErrors(File.ReadAllText(summaryPath)));
        var cell = JsonNode.Parse(File.ReadAllText(summaryPath))!["results"]!.AsArray().Single()!;
        Assert.Equal("reference", (string?)cell["checkpoint"]);
        Assert.Equal(trained.Hash, (string?)cell["checkpoint_hash"]);
        Assert.Equal(3, (int)cell["n"]!);
        Assert.True((double)cell["mean_tokens"]! > 0);   // the model generated

        // Without --store the default store (.iwsft in the working directory) is used, and it has no demo run.
        var elsewhere = CliProcess.Run(_root, null, "run", "eval", "--params", prm, "--plain");
        Assert.Equal(1, elsewhere.Code);
        Assert.Contains("does not exist", elsewhere.Stderr);
    }

    InvalidDataException BuildFails(params JsonObject[] checkpoints)
    {
        var prm = WriteParams(checkpoints);
        return Assert.Throws<InvalidDataException>(() => new EvalPipeline(new CountingGenerators()).Build(new PipelineBuildOptions { ParamsFile = prm, StoreRoot = StoreDir }));
    }

    [Fact]
    public void A_store_reference_that_does_not_resolve_names_the_params_file_the_checkpoint_and_what_is_missing()
    {
        Directory.CreateDirectory(StoreDir);
        string prmPath = Path.Combine(_root, "eval.json");

        var neverRan = BuildFails(StoreCkpt("mine", "demo/train_reference.model"));
        Assert.Contains(prmPath, neverRan.Message);
        Assert.Contains("checkpoint 'mine'", neverRan.Message);
        Assert.Contains("pipeline 'demo' has never run", neverRan.Message);

        var hash = new string('e', 64);
        var noObject = BuildFails(StoreCkpt("mine", hash));
        Assert.Contains("checkpoint 'mine'", noObject.Message);
        Assert.Contains("no such directory object", noObject.Message);

        // Syntax is checked when the file is read; a name is never turned into a path outside the store.
        foreach (var bad in new[] { "../demo/x.model", "demo", "demo/a/b.model", new string('E', 64), "demo/x.model; rm" })
        {
            var e = Assert.Throws<InvalidDataException>(() => EvalParams.Load(WriteParams(StoreCkpt("mine", bad))));
            Assert.Contains("checkpoint 'mine'", e.Message);
            Assert.Contains("store_artifact", e.Message);
        }
        var both = Assert.Throws<InvalidDataException>(() => EvalParams.Load(WriteParams(new JsonObject { ["label"] = "mine", ["path"] = "m", ["store_artifact"] = hash })));
        Assert.Contains("exactly one of 'path'", both.Message);

        // A store that does not exist is reported, not created.
        var missingStore = Path.Combine(_root, "no-store");
        var p = WriteParams(StoreCkpt("mine", hash));
        var e2 = Assert.Throws<InvalidDataException>(() => new EvalPipeline(new CountingGenerators()).Build(new PipelineBuildOptions { ParamsFile = p, StoreRoot = missingStore }));
        Assert.Contains("does not exist", e2.Message);
        Assert.False(Directory.Exists(missingStore));
    }

    [Fact]
    public async Task A_materialised_stage_without_that_output_lists_the_outputs_it_has()
    {
        // Only the init stage (cheap): its lock entry exists with output 'model'.
        var demo = new DemoPipeline().Build(new PipelineBuildOptions { Quick = true });
        var r = await new PipelineRunner(new ArtifactStore(StoreDir), new RunOptions { Until = "init_reference" }).RunAsync(demo);
        Assert.True(r.Succeeded);
        var e = BuildFails(StoreCkpt("mine", "demo/init_reference.weights"));
        Assert.Contains("no output 'weights'", e.Message);
        Assert.Contains("outputs: model", e.Message);
        var notRun = BuildFails(StoreCkpt("mine", "demo/train_reference.model"));
        Assert.Contains("no materialised stage 'train_reference'", notRun.Message);
        Assert.Contains("init_reference", notRun.Message);   // what is materialised

        // The stage alone is enough when it has one directory output.
        var prm = WriteParams(StoreCkpt("mine", "demo/init_reference"));
        var p = new EvalPipeline(new CountingGenerators()).Build(new PipelineBuildOptions { ParamsFile = prm, StoreRoot = StoreDir });
        Assert.Contains(new ArtifactStore(StoreDir).ObjectPath(DemoOutput("init_reference", "model")), p.Get("evaluate").ExternalInputs);
    }
}
