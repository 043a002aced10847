using IwSft.Gpu.Models;

namespace IwSft.Gpu.Tests;

/// <summary>Shared helpers for the model tests: tiny Qwen2-shaped configs and temp directories.</summary>
internal static class ModelTestKit
{
    /// <summary>Small enough for explicit-loop references; GQA (4 heads over 2 KV heads), q/k/v bias.</summary>
    public static TransformerConfig Tiny(bool tied = true, string modelType = "qwen2") => new()
    {
        ModelType = modelType, VocabSize = 61, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4,
        NumKeyValueHeads = 2, IntermediateSize = 48, RmsNormEps = 1e-6, RopeTheta = 10000.0,
        TieWordEmbeddings = tied, AttentionBias = modelType == "qwen2", MaxPositionEmbeddings = 128,
    };

    /// <summary>The model <see cref="Checkpoint.CreateRandom"/> gives for <paramref name="seed"/>, sharded over <paramref name="degree"/> CPU shards.</summary>
    public static Transformer Sharded(TransformerConfig config, long seed, int degree, ModelOptions? options = null)
    {
        var model = Checkpoint.CreateRandom(config, seed, options);
        TensorParallel.Apply(model, Enumerable.Repeat("cpu", degree).ToList());
        return model;
    }

    public static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "iwsft-model-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(d);
        return d;
    }
}
