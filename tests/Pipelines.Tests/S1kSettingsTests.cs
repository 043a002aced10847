using IwSft.Gpu.Training;
using IwSft.Pipelines.S1k;
using IwSft.Runtime;
using IwSft.Stages;
using IwSft.Stages.Curate.Select;
using IwSft.Stages.Decontaminate;
using IwSft.Stages.Ingest;
using IwSft.Stages.Training;

namespace IwSft.Pipelines.Tests;

/// <summary>The s1k defaults are the authors' recipe; a settings file changes only what it names; --set reaches every stage.</summary>
public sealed class S1kSettingsTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "iwsft-s1k-settings-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    [Fact]
    public void DefaultPipelineCarriesTheAuthorsRecipeAndAllThreeBenchmarks()
    {
        var p = PipelineCatalog.Get("s1k").Build(new PipelineBuildOptions { DataRoot = "/d" });
        var bench = ((IngestStage)p.Get("benchmarks")).Config.Sources;
        Assert.Equal(["aime24", "math500", "gpqa_diamond"], bench.Select(b => b.SourceName));
        Assert.Equal("/d/benchmarks/gpqa_diamond.jsonl", bench[2].Path);
        var decontam = ((DecontaminateStage)p.Get("decontaminate")).Config;
        Assert.Equal((8, true), (decontam.N, decontam.ChainSources));
        Assert.Equal(1000, ((S1kSelectStage)p.Get("select")).Config.TargetSize);

        var train = ((TrainStage)p.Get("train")).Config;
        var t = train.Trainer;
        Assert.Equal((LossKind.IwSftSequence, 1.0, 0.0, 16.0), (t.Loss, t.WeightTemperature, t.WeightClipMin, t.WeightClipMax));
        Assert.Equal((1e-5, 0.0, 0.05, 5, 1e-4, 0.9, 0.95), (t.LearningRate, t.MinLearningRate, t.WarmupRatio, t.Epochs, t.WeightDecay, t.Beta1, t.Beta2));
        Assert.Equal((8, 1, 22000), (t.GlobalBatchSize, t.MicroBatchSize, t.MaxSequenceLength));
        Assert.True(train.GradientCheckpointing);
        Assert.True(t.OptimiserStateOnHost);   // the 32B run needs AdamW's moments in host memory
        Assert.Equal(Enumerable.Range(0, 8).Select(i => $"cuda:{i}"), train.Devices);
        Assert.Equal("bfloat16", ((ReferenceLogProbStage)p.Get("ref_logprobs")).Config.ParamDType);
        // π_ref defaults to the starting model: one import feeds base_model and reference_model.
        Assert.Equal(p.Get("base_model"), p.Get("ref_logprobs").Bindings["reference_model"].Stage);
        Assert.Equal(p.Get("base_model"), p.Get("format").Bindings["tokenizer"].Stage);
    }

    [Fact]
    public void APartialTrainerObjectChangesOnlyItsKeysAndKeepsTheRecipe()
    {
        Directory.CreateDirectory(_dir);
        var file = Path.Combine(_dir, "trainer.settings.json");
        File.WriteAllText(file, """{ "trainer": { "optimiser_state_on_host": false, "epochs": 3 } }""");
        var t = S1kSettings.FromFile(file).Trainer;
        Assert.False(t.OptimiserStateOnHost);
        Assert.Equal(3, t.Epochs);
        // Not TrainerConfig's own defaults (SFT, no periodic checkpoints): the recipe's.
        Assert.Equal((LossKind.IwSftSequence, 1e-5, 0.95, 25), (t.Loss, t.LearningRate, t.Beta2, t.CheckpointEvery));
    }

    [Fact]
    public void SettingsFileChangesOnlyWhatItNamesAndSetOverridesStages()
    {
        Directory.CreateDirectory(_dir);
        var file = Path.Combine(_dir, "s1k.settings.json");
        File.WriteAllText(file, """
        { "base_model": "/models/q32", "reference_model": "/models/other", "block_size": 32768,
          "select": { "target_size": 500 }, "judge": { "base_url": "http://judge:9000", "api_key_env": "JUDGE_KEY" },
          "benchmarks": [ { "path": "{data}/benchmarks/aime24.jsonl", "name": "aime24", "question": "problem" } ] }
        """);
        var s = S1kSettings.FromFile(file);
        Assert.Equal((500, 700), (s.Select.TargetSize, s.Select.UniformUntil));   // unnamed keys keep their defaults
        Assert.Equal(1e-5, s.Trainer.LearningRate);
        Assert.True(s.Trainer.OptimiserStateOnHost);

        var p = S1kPipeline.Build("s1k", s, "/data");
        Assert.Equal("/data/benchmarks/aime24.jsonl", Assert.Single(((IngestStage)p.Get("benchmarks")).Config.Sources).Path);
        Assert.Equal("/models/other", ((ImportModelStage)p.Get("reference_model")).Config.Path);
        Assert.Equal(p.Get("reference_model"), p.Get("ref_logprobs").Bindings["reference_model"].Stage);
        Assert.Equal(32768, ((TrainStage)p.Get("train")).Config.Trainer.MaxSequenceLength);     // raised to the block size
        var domain = (IwSft.Stages.Curate.Judge.JudgeStage)p.Get("judge_domain");
        Assert.Equal(("http://judge:9000", "JUDGE_KEY"), (domain.Config.BaseUrl, domain.Config.ApiKeyEnv));

        ConfigOverrides.Apply(p, ["select.target_size=200", "train.device=cuda:3", "judge_solved_qwen2_5_7b.base_url=http://other:1"]);
        Assert.Equal(200, ((S1kSelectStage)p.Get("select")).Config.TargetSize);
        Assert.Equal("cuda:3", ((TrainStage)p.Get("train")).Config.Device);

        File.WriteAllText(file, "{ \"select\": { \"target_size\": \"many\" } }");
        var e = Assert.Throws<InvalidDataException>(() => S1kSettings.FromFile(file));
        Assert.Contains(file, e.Message);
    }

    [Fact]
    public void Servers_and_an_in_process_judge_named_in_the_settings_reach_their_stages()
    {
        Directory.CreateDirectory(_dir);
        var file = Path.Combine(_dir, "served.settings.json");
        File.WriteAllText(file, """
        { "evaluate_servers": [ { "base_url": "http://gpu0:8000" }, { "base_url": "http://gpu1:8000" } ],
          "reference_server": { "base_url": "http://gpu2:8000", "model": "base" },
          "judge": { "checkpoint": "/models/judge", "guided_choice": true },
          "evaluate": { "budget_forcing": { "max_thinking_tokens": 8000, "ignore_end_of_thinking": 12 } } }
        """);
        var p = S1kPipeline.Build("s1k", S1kSettings.FromFile(file), "/data");
        var evaluate = (IwSft.Stages.Evaluate.EvaluateStage)p.Get("evaluate");
        Assert.Equal("openai", evaluate.MemoIdentity()["behaviour"]!["generators"]!["identity"]!["backend"]!.GetValue<string>());
        Assert.Equal((8000, 12), (evaluate.Config.BudgetForcing!.MaxThinkingTokens, evaluate.Config.BudgetForcing.IgnoreEndOfThinking));
        var reference = (IwSft.Stages.Training.ReferenceLogProbStage)p.Get("ref_logprobs");
        Assert.Equal(("http://gpu2:8000", "base"), (reference.Config.Server!.BaseUrl, reference.Config.Server.Model));
        // The judge checkpoint is imported once and bound to every judge, which judge in process with guided choice.
        Assert.Equal("/models/judge", ((ImportModelStage)p.Get("judge_model")).Config.Path);
        foreach (var name in new[] { "judge_domain", "judge_attempt", "judge_solved_qwen2_5_7b", "judge_solved_qwen2_5_32b" })
        {
            var judge = (IwSft.Stages.Curate.Judge.JudgeStage)p.Get(name);
            Assert.Equal(p.Get("judge_model"), judge.Bindings[IwSft.Stages.Curate.Judge.JudgeStage.JudgeModelInput].Stage);
            Assert.True(judge.Config.GuidedChoice);
        }
        // Without them: in process, no judge model, free replies.
        var plain = S1kPipeline.Build("s1k", new S1kSettings(), "/data");
        // (the default device is cuda:0, so the in-process generator loads bf16 weights)
        Assert.Equal("bfloat16", ((IwSft.Stages.Evaluate.EvaluateStage)plain.Get("evaluate")).MemoIdentity()["behaviour"]!["generators"]!["identity"]!["dtype"]!.GetValue<string>());
        Assert.DoesNotContain(plain.Stages, st => st.Name == "judge_model");
        Assert.False(((IwSft.Stages.Curate.Judge.JudgeStage)plain.Get("judge_domain")).Bindings.ContainsKey(IwSft.Stages.Curate.Judge.JudgeStage.JudgeModelInput));
    }

    [Fact]
    public void A_reference_model_with_a_checkpoint_gets_its_answers_generated_and_graded_from_their_column()
    {
        var s = new S1kSettings
        {
            ReferenceModels =
            [
                new() { Name = "qwen2_5_7b", Checkpoint = "/models/Qwen2.5-7B-Instruct", MaxNewTokens = 8192 },
                new() { Name = "qwen2_5_32b", Checkpoint = "/models/Qwen2.5-32B-Instruct", Server = new() { BaseUrl = "http://gpu:8000", Model = "q32" } },
                new() { Name = "collected", AnswerPlaceholder = "metadata.collected_answer" },
            ],
        };
        var p = S1kPipeline.Build("s1k", s, "/data");
        var seven = (IwSft.Stages.Curate.Attempt.AttemptStage)p.Get("attempt_qwen2_5_7b");
        Assert.Equal(("answer_qwen2_5_7b", 8192), (seven.Config.OutputColumn, seven.Config.MaxNewTokens));
        Assert.Equal(p.Get("model_qwen2_5_7b"), seven.Bindings["model"].Stage);
        Assert.Equal("/models/Qwen2.5-7B-Instruct", ((ImportModelStage)p.Get("model_qwen2_5_7b")).Config.Path);
        Assert.Equal("openai", p.Get("attempt_qwen2_5_32b").MemoIdentity()["behaviour"]!["generators"]!["identity"]!["backend"]!.GetValue<string>());
        // The attempts run after decontamination and before the judges, one after the other; the graders read the generated columns.
        Assert.Equal(p.Get("decontaminate"), seven.Bindings["records"].Stage);      // only clean records are attempted
        Assert.Equal(seven, p.Get("attempt_qwen2_5_32b").Bindings["records"].Stage);
        Assert.Equal(p.Get("attempt_qwen2_5_32b"), p.Get("judge_domain").Bindings["records"].Stage);
        string Template(string judge) => ((IwSft.Stages.Curate.Judge.JudgeStage)p.Get(judge)).Config.PromptTemplate;
        Assert.Contains("{answer_qwen2_5_7b}", Template("judge_solved_qwen2_5_7b"));
        Assert.Contains("{answer_qwen2_5_32b}", Template("judge_solved_qwen2_5_32b"));
        Assert.Contains("{metadata.collected_answer}", Template("judge_solved_collected"));
        Assert.DoesNotContain(p.Stages, st => st.Name == "attempt_collected");
    }
}
