using System.Text.Json.Nodes;
using IwSft.Gpu.Models;

namespace IwSft.Gpu.Tests;

/// <summary>Issue 14 item 10: config.json types and ranges, and checkpoint shapes checked before anything is allocated.</summary>
public class ModelConfigSafetyTests
{
    static string Config(string key, string value)
    {
        var o = JsonNode.Parse(ModelTestKit.Tiny().ToJson())!.AsObject();
        o[key] = JsonNode.Parse(value);
        var path = Path.Combine(ModelTestKit.TempDir(), "config.json");
        File.WriteAllText(path, o.ToJsonString());
        return path;
    }

    [Theory]
    [InlineData("hidden_size", "\"abc\"", "'hidden_size' must be an integer in [1, 65536], got a string \"abc\"")]
    [InlineData("hidden_size", "1e10", "'hidden_size' must be an integer in [1, 65536], got a number 1e10")]
    [InlineData("hidden_size", "64.5", "'hidden_size' must be an integer in [1, 65536], got a number 64.5")]
    [InlineData("num_hidden_layers", "-2", "'num_hidden_layers' must be an integer in [1, 1024], got a number -2")]
    [InlineData("vocab_size", "null", "missing 'vocab_size'")]
    [InlineData("num_key_value_heads", "[2]", "'num_key_value_heads' must be an integer in [1, 1024], got an array [2]")]
    [InlineData("rms_norm_eps", "0", "'rms_norm_eps' must be a number in (0, 1], got a number 0")]
    [InlineData("rope_theta", "\"1e6\"", "'rope_theta' must be a number in (0, 1000000000000], got a string \"1e6\"")]
    [InlineData("tie_word_embeddings", "\"yes\"", "'tie_word_embeddings' must be true or false, got a string \"yes\"")]
    [InlineData("model_type", "7", "'model_type' must be a string, got a number 7")]
    [InlineData("eos_token_id", "[\"x\"]", "'eos_token_id' must be a token id (a non-negative integer) or a list of them, got an array [\"x\"]")]
    public void ABadConfigValueIsAOneLineErrorNamingFileAndKey(string key, string value, string message)
    {
        var path = Config(key, value);
        var e = Assert.Throws<InvalidDataException>(() => TransformerConfig.Load(path));
        Assert.Equal($"{path}: {message}", e.Message);
    }

    [Theory]
    [InlineData("qwen2", true)]
    [InlineData("qwen2", false)]
    [InlineData("llama", false)]
    public void ExpectedTensorsAreExactlyTheModelsParameters(string modelType, bool tied)
    {
        var c = ModelTestKit.Tiny() with { ModelType = modelType, TieWordEmbeddings = tied, AttentionBias = modelType == "qwen2" };
        using var m = new Transformer(c);
        Assert.Equal(m.named_parameters().Select(p => (p.name, string.Join(",", p.parameter.shape))).OrderBy(x => x.name),
            Checkpoint.ExpectedTensors(c).Select(t => (t.Name, string.Join(",", t.Shape))).OrderBy(x => x.Name));
    }

    [Fact]
    public void AConfigClaimingABiggerModelThanItsWeightsFailsOnTheHeadersBeforeAllocating()
    {
        var dir = Path.Combine(ModelTestKit.TempDir(), "ckpt");
        Checkpoint.WriteRandom(dir, ModelTestKit.Tiny(), seed: 3);
        var big = ModelTestKit.Tiny() with { HiddenSize = 4096, NumHiddenLayers = 32, NumAttentionHeads = 32, NumKeyValueHeads = 8, IntermediateSize = 14336, VocabSize = 128256 };
        File.WriteAllText(Path.Combine(dir, "config.json"), big.ToJson());
        var shapes = Assert.Throws<InvalidDataException>(() => Checkpoint.CheckShapes(dir, big));
        var load = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir));
        Assert.Equal(shapes.Message, load.Message); // Load stopped at the header check, before building the model
        Assert.Equal($"{Path.Combine(dir, "model.safetensors")}: tensor 'model.embed_tokens.weight' has shape [{ModelTestKit.Tiny().VocabSize}, {ModelTestKit.Tiny().HiddenSize}], " +
                     "but config.json (32 layers, hidden 4096, intermediate 14336, vocab 128256) needs [128256, 4096]", load.Message);
    }

    [Fact]
    public void MissingAndLeftOverTensorsAreNamedFromTheHeaders()
    {
        var dir = Path.Combine(ModelTestKit.TempDir(), "ckpt");
        Checkpoint.WriteRandom(dir, ModelTestKit.Tiny(), seed: 3);
        var deeper = ModelTestKit.Tiny() with { NumHiddenLayers = ModelTestKit.Tiny().NumHiddenLayers + 1 };
        Assert.Contains($"checkpoint has no tensor 'model.layers.{deeper.NumHiddenLayers - 1}.self_attn.q_proj.weight'",
            Assert.Throws<InvalidDataException>(() => Checkpoint.CheckShapes(dir, deeper)).Message);
        var shallower = ModelTestKit.Tiny() with { NumHiddenLayers = ModelTestKit.Tiny().NumHiddenLayers - 1 };
        Assert.Contains("checkpoint has tensors the model does not use",
            Assert.Throws<InvalidDataException>(() => Checkpoint.CheckShapes(dir, shallower)).Message);
        Checkpoint.CheckShapes(dir, ModelTestKit.Tiny());
    }
}
