using IwSft.Gpu.Models;
using IwSft.Runtime;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>The tiny Qwen2-shaped architecture of the demo's reference policy.</summary>
public sealed class InitModelConfig
{
    public int HiddenSize { get; set; } = 64;
    public int Layers { get; set; } = 2;
    public int Heads { get; set; } = 4;
    public int IntermediateSize { get; set; } = 192;
    public int MaxPositions { get; set; } = 256;
    public int Seed { get; set; } = 1;
}

/// <summary>
/// Stage kind <c>demo_init_model</c> (demo glue over the model core's <see cref="Checkpoint.WriteRandom"/>): a
/// seeded random checkpoint (config.json + model.safetensors) sized for the demo's character vocabulary.
/// </summary>
public sealed class InitModelStage(string name, InitModelConfig? config = null) : Stage<InitModelConfig>(name, config)
{
    public const string ModelOutput = "model";
    public override string Kind => "demo.init-model";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir(ModelOutput)];

    public TransformerConfig ModelConfig() => new()
    {
        ModelType = "qwen2", VocabSize = CharTokenizerDirectory.VocabularySize, HiddenSize = Config.HiddenSize,
        NumHiddenLayers = Config.Layers, NumAttentionHeads = Config.Heads, NumKeyValueHeads = Config.Heads,
        IntermediateSize = Config.IntermediateSize, TieWordEmbeddings = true, AttentionBias = true,
        MaxPositionEmbeddings = Config.MaxPositions,
        EosTokenId = CharTokenizerDirectory.SpecialTokenId(CharTokenizerDirectory.ImEnd),
    };

    public override Task RunAsync(IStageContext ctx)
    {
        var cfg = ModelConfig();
        cfg.Validate();
        Checkpoint.WriteRandom(ctx.OutputDirectory(ModelOutput), cfg, Config.Seed);
        return Task.CompletedTask;
    }
}
