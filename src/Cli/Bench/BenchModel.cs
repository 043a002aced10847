using IwSft.Gpu.Models;
using IwSft.Pipelines.Demo;

namespace IwSft.Cli.Bench;

/// <summary>The generation benchmarks' model: a random 4-layer, hidden-128 Qwen2-shaped checkpoint with the demo's character tokenizer beside it.</summary>
static class BenchModel
{
    /// <summary>Writes the tokenizer files and the seeded weights into <paramref name="dir"/>; returns it.</summary>
    public static string Write(string dir)
    {
        CharTokenizerDirectory.Write(dir);
        Checkpoint.WriteRandom(dir, new TransformerConfig
        {
            VocabSize = CharTokenizerDirectory.VocabularySize, HiddenSize = 128, NumHiddenLayers = 4, NumAttentionHeads = 4,
            NumKeyValueHeads = 2, IntermediateSize = 344, TieWordEmbeddings = true, AttentionBias = true, MaxPositionEmbeddings = 512,
        }, seed: 1);
        return dir;
    }

    /// <summary>The checkpoint loaded for inference (eval mode).</summary>
    public static Transformer Load(string dir)
    {
        var model = Checkpoint.Load(dir);
        model.eval();
        return model;
    }
}
