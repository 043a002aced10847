using IwSft.Gpu.Models;
using IwSft.Gpu.Safetensors;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>Checkpoint save/load in the HF layout: bit-identical round trips, sharding, config fields.</summary>
public class ModelCheckpointTests
{
    static byte[] Bytes(Tensor t) => t.contiguous().bytes.ToArray();

    [Theory]
    [InlineData("float32")]
    [InlineData("bfloat16")]
    [InlineData("float16")]
    public void LoadSaveLoadIsBitIdentical(string dtype)
    {
        var dir1 = Path.Combine(ModelTestKit.TempDir(), "a");
        var dir2 = Path.Combine(ModelTestKit.TempDir(), "b");
        Checkpoint.WriteRandom(dir1, ModelTestKit.Tiny(), seed: 1, dtype: dtype);
        using var m1 = Checkpoint.Load(dir1, new ModelOptions(DType: dtype));
        Checkpoint.Save(m1, dir2);
        using var f1 = SafetensorsFile.Open(Path.Combine(dir1, "model.safetensors"));
        using var f2 = SafetensorsFile.Open(Path.Combine(dir2, "model.safetensors"));
        Assert.Equal(f1.Entries.Select(e => e.Name), f2.Entries.Select(e => e.Name));
        string stDtype = SafetensorsDType.NameOf(SafetensorsDType.ParseTorchName(dtype));
        foreach (var e in f1.Entries)
        {
            Assert.Equal(stDtype, e.DType);
            using var a = f1.Read(e.Name);
            using var b = f2.Read(e.Name);
            Assert.Equal(Bytes(a), Bytes(b));
        }
        Assert.Equal(dtype, TransformerConfig.Load(Path.Combine(dir2, "config.json")).TorchDtype);
    }

    [Fact]
    public void HalfPrecisionCheckpointLoadsIntoFloat32Exactly()
    {
        var dir = Path.Combine(ModelTestKit.TempDir(), "bf16");
        Checkpoint.WriteRandom(dir, ModelTestKit.Tiny(), seed: 2, dtype: "bfloat16");
        using var m = Checkpoint.Load(dir);
        using var f = SafetensorsFile.Open(Path.Combine(dir, "model.safetensors"));
        using var stored = f.Read("model.layers.1.mlp.up_proj.weight");
        var p = m.named_parameters().Single(x => x.name == "model.layers.1.mlp.up_proj.weight").parameter;
        Assert.Equal(ScalarType.Float32, p.dtype);
        Assert.Equal(stored.to(ScalarType.Float32).data<float>().ToArray(), p.data<float>().ToArray());
    }

    [Fact]
    public void ShardedAndSingleFileCheckpointsLoadToTheSameModel()
    {
        var single = Path.Combine(ModelTestKit.TempDir(), "single");
        var sharded = Path.Combine(ModelTestKit.TempDir(), "sharded");
        using var m = Checkpoint.CreateRandom(ModelTestKit.Tiny(tied: false), seed: 4);
        Checkpoint.Save(m, single);
        Checkpoint.Save(m, sharded, maxShardBytes: 20_000);
        Assert.False(File.Exists(Path.Combine(sharded, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(sharded, "model.safetensors.index.json")));
        Assert.True(Directory.GetFiles(sharded, "model-*-of-*.safetensors").Length > 1);
        using var a = Checkpoint.Load(single);
        using var b = Checkpoint.Load(sharded);
        var pa = a.named_parameters().ToList();
        var pb = b.named_parameters().ToList();
        Assert.Contains(pa, x => x.name == "lm_head.weight");
        Assert.Equal(pa.Select(x => x.name), pb.Select(x => x.name));
        for (int i = 0; i < pa.Count; i++) Assert.Equal(Bytes(pa[i].parameter), Bytes(pb[i].parameter));
    }

    [Fact]
    public void ParameterNamesFollowTheHuggingFaceLayout()
    {
        using var m = Checkpoint.CreateRandom(ModelTestKit.Tiny(), seed: 1);
        var names = m.named_parameters().Select(x => x.name).ToList();
        Assert.Equal("model.embed_tokens.weight", names[0]);
        Assert.Contains("model.layers.0.self_attn.q_proj.weight", names);
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", names);
        Assert.Contains("model.layers.1.self_attn.o_proj.weight", names);
        Assert.DoesNotContain("model.layers.1.self_attn.o_proj.bias", names);
        Assert.Contains("model.layers.1.mlp.gate_proj.weight", names);
        Assert.Contains("model.layers.1.input_layernorm.weight", names);
        Assert.Contains("model.layers.1.post_attention_layernorm.weight", names);
        Assert.Contains("model.norm.weight", names);
        Assert.DoesNotContain("lm_head.weight", names); // tied
        // 2 layers × (q 32·32+32, k 32·16+16, v 32·16+16, o 32·32, mlp 3·32·48, norms 2·32) + embed 61·32 + norm 32
        Assert.Equal(2 * (1056 + 528 + 528 + 1024 + 4608 + 64) + 1952 + 32, m.ParameterCount());
    }

    [Fact]
    public void ConfigReadsHuggingFaceFields()
    {
        var path = Path.Combine(ModelTestKit.TempDir(), "config.json");
        File.WriteAllText(path, """
            {"architectures":["LlamaForCausalLM"],"model_type":"llama","vocab_size":1000,"hidden_size":64,
             "num_hidden_layers":3,"num_attention_heads":8,"num_key_value_heads":2,"intermediate_size":172,
             "rms_norm_eps":1e-5,"rope_theta":500000.0,"tie_word_embeddings":false,"attention_bias":true,
             "max_position_embeddings":2048,"torch_dtype":"bfloat16","eos_token_id":[128001,128009]}
            """);
        var c = TransformerConfig.Load(path);
        Assert.Equal(("llama", 1000, 64, 3, 8, 2, 172), (c.ModelType, c.VocabSize, c.HiddenSize, c.NumHiddenLayers, c.NumAttentionHeads, c.NumKeyValueHeads, c.IntermediateSize));
        Assert.Equal((1e-5, 500000.0, false, true, 2048, "bfloat16", 128001), (c.RmsNormEps, c.RopeTheta, c.TieWordEmbeddings, c.AttentionBias, c.MaxPositionEmbeddings, c.TorchDtype, c.EosTokenId!.Value));
        Assert.Equal(8, c.HeadDim);
    }

    [Theory]
    [InlineData("\"use_sliding_window\":true", "sliding-window")]
    [InlineData("\"rope_scaling\":{\"type\":\"yarn\",\"factor\":4.0}", "rope_scaling")]
    [InlineData("\"head_dim\":32", "head_dim 32")]
    public void UnsupportedConfigFeaturesAreRefusedNotIgnored(string extra, string expected)
    {
        var path = Path.Combine(ModelTestKit.TempDir(), "config.json");
        File.WriteAllText(path, "{\"model_type\":\"qwen2\",\"vocab_size\":10,\"hidden_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"intermediate_size\":8," + extra + "}");
        var e = Assert.Throws<NotSupportedException>(() => TransformerConfig.Load(path));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void NewerDtypeFieldIsRead()
    {
        var c = TransformerConfig.FromJson(System.Text.Json.Nodes.JsonNode.Parse("{\"model_type\":\"qwen2\",\"vocab_size\":10,\"hidden_size\":16,\"num_hidden_layers\":1,\"num_attention_heads\":2,\"intermediate_size\":8,\"dtype\":\"bfloat16\"}")!);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Equal(2, c.NumKeyValueHeads); // defaults to num_attention_heads
        Assert.True(c.AttentionBias);        // Qwen2 always has q/k/v bias
        Assert.False(c.TieWordEmbeddings);
    }

    [Fact]
    public void WrongShapeInCheckpointNamesTensor()
    {
        var dir = Path.Combine(ModelTestKit.TempDir(), "bad");
        Checkpoint.WriteRandom(dir, ModelTestKit.Tiny(), seed: 1);
        File.WriteAllText(Path.Combine(dir, "config.json"), (ModelTestKit.Tiny() with { IntermediateSize = 40 }).ToJson());
        var e = Assert.Throws<InvalidDataException>(() => Checkpoint.Load(dir));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight", e.Message);
    }
}
