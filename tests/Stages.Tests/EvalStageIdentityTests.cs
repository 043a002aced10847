using IwSft.Gpu.Models;
using IwSft.Runtime;
using IwSft.Runtime.Execution;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

/// <summary>What the evaluate stage is given through its constructor (generator options, prompt formatter) is in its key.</summary>
public sealed class EvalStageIdentityTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("iwsft-eval-identity-").FullName;
    public void Dispose() { try { Directory.Delete(_root, recursive: true); } catch (IOException) { } }

    Pipeline Build(ICompletionGeneratorFactory generators, IPromptFormatter formatter, string checkpoint)
    {
        var p = new Pipeline("eval-identity");
        var items = p.Add(new EvalPipelineTests.ItemsSource("items"));
        var eval = p.Add(new EvaluateStage("evaluate", generators, new EvaluateConfig { SamplesPerItem = 1 }, formatter));
        eval.From(EvaluateStage.ItemsInput, items["items"]);
        eval.AddExternalCheckpoint("model", checkpoint);
        return p;
    }

    string Checkpoint()
    {
        var d = Path.Combine(_root, "model");
        Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(d, "skill.txt"), "all");
        return d;
    }

    [Fact]
    public async Task Changing_the_generator_options_or_the_prompt_formatter_makes_evaluate_stale()
    {
        var store = new ArtifactStore(Path.Combine(_root, "store"));
        var checkpoint = Checkpoint();
        var leaking = new EvalGoldLeakingFormatter();
        await new PipelineRunner(store).RunAsync(Build(new EvalFakeGeneratorFactory(), leaking, checkpoint));

        var same = await new PipelineRunner(store).RunAsync(Build(new EvalFakeGeneratorFactory(), leaking, checkpoint));
        Assert.Equal(StageStatus.Cached, same.Stages["evaluate"].Status);

        var flavoured = await new PipelineRunner(store).RunAsync(Build(new EvalFakeGeneratorFactory { Flavour = "bf16" }, leaking, checkpoint));
        Assert.Equal(StageStatus.Ran, flavoured.Stages["evaluate"].Status);
        Assert.Contains("injected behaviour changed: generators", flavoured.Stages["evaluate"].Reason);

        var status = new PipelineRunner(store).Status(Build(new EvalFakeGeneratorFactory { Flavour = "bf16" }, new PromptFormatter(PromptStyle.Plain), checkpoint));
        var evaluate = status.Stages.Single(s => s.Stage == "evaluate");
        Assert.Equal(StageState.Stale, evaluate.State);
        Assert.Contains(evaluate.Reasons, r => r.Contains("code changed") && r.Contains("injected behaviour changed: formatter"));
    }

    [Fact]
    public void The_inference_dtype_is_in_the_key_and_the_device_is_not()
    {
        StageIdentity Of(ModelOptions o, List<string>? devices = null) => StageIdentity.Of(new EvaluateStage("evaluate", new TransformerCompletionGeneratorFactory(o, devices)));
        var fp32 = Of(new ModelOptions("cpu", "float32"));
        Assert.NotEqual(fp32.Behaviour.ToJsonString(), Of(new ModelOptions("cpu", "float32", "bfloat16")).Behaviour.ToJsonString());
        Assert.NotEqual(fp32.Behaviour.ToJsonString(), Of(new ModelOptions("cpu", "bfloat16")).Behaviour.ToJsonString());
        Assert.Equal(fp32.Behaviour.ToJsonString(), Of(new ModelOptions("cuda:1", "float32")).Behaviour.ToJsonString());
        Assert.Equal(fp32.Code, Of(new ModelOptions("cuda:1", "float32")).Code);
        // Nor are tensor-parallel devices: like the device, they place the work (degree 2 generates what degree 1 does).
        Assert.Equal(fp32.Behaviour.ToJsonString(), Of(new ModelOptions("cpu", "float32"), ["cuda:0", "cuda:1"]).Behaviour.ToJsonString());
    }

    [Fact]
    public void The_prompt_style_is_in_the_key()
    {
        var chat = StageIdentity.Of(new EvaluateStage("evaluate", new EvalFakeGeneratorFactory(), formatter: new PromptFormatter(PromptStyle.QwenChat)));
        var plain = StageIdentity.Of(new EvaluateStage("evaluate", new EvalFakeGeneratorFactory(), formatter: new PromptFormatter(PromptStyle.Plain)));
        Assert.NotEqual(chat.Behaviour.ToJsonString(), plain.Behaviour.ToJsonString());
    }
}
