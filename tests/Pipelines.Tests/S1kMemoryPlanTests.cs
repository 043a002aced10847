using System.Text.RegularExpressions;
using IwSft.Gpu.Models;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// The run book's memory tables are recomputed here from a Qwen2.5-32B config.json written out literally, so the
/// document cannot drift from <see cref="MemoryPlan"/> (or the model shape).
/// </summary>
public sealed class S1kMemoryPlanTests : IDisposable
{
    // Qwen/Qwen2.5-32B-Instruct config.json (the fields the plan reads, values as published).
    const string Qwen25_32bConfig = """
    {
      "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 5120, "num_hidden_layers": 64,
      "num_attention_heads": 40, "num_key_value_heads": 8, "intermediate_size": 27648, "vocab_size": 152064,
      "tie_word_embeddings": false, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "max_position_embeddings": 32768,
      "torch_dtype": "bfloat16", "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu"
    }
    """;

    readonly string _dir = Path.Combine(Path.GetTempPath(), "iwsft-s1k-mem-" + Guid.NewGuid().ToString("N"));
    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    TransformerConfig Qwen32b()
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, "config.json");
        File.WriteAllText(path, Qwen25_32bConfig);
        return TransformerConfig.Load(path);
    }

    [Fact]
    public void ParameterCountAndPlacementMatchTheHandArithmetic()
    {
        var c = Qwen32b();
        // Per layer: q 5120·5120 + 5120, k and v 5120·1024 + 1024 each, o 5120·5120, MLP 3·5120·27648, two norms 2·5120.
        long layer = 26_219_520 + 2 * 5_243_904 + 26_214_400 + 424_673_280 + 10_240;
        Assert.Equal(487_605_248, layer);
        long embed = 152_064L * 5120;                                        // 778,567,680, and the same again for lm_head
        Assert.Equal(64 * layer + 2 * embed + 5120, MemoryPlan.ParameterCount(c));
        Assert.Equal(32_763_876_352, MemoryPlan.ParameterCount(c));

        var plan = MemoryPlan.Compute(c, tensorParallel: 8, blockSize: 22000, microBatch: 1, gradientCheckpointing: true);
        long shard = 64L * (layer - 10_240) / 8;                              // 3,900,841,984 sharded parameters per GPU
        long gpu0 = shard + 2 * embed + 64 * 10_240 + 5120;                   // + embeddings, lm_head, every norm
        var byName = plan.Components.ToDictionary(x => x.Name);
        Assert.Equal((4 * gpu0, 4 * shard), (byName["weights (fp32)"].Device0Bytes, byName["weights (fp32)"].OtherDeviceBytes));
        Assert.Equal((8 * gpu0, 8 * shard), (byName["AdamW moments (fp32 m, v)"].Device0Bytes, byName["AdamW moments (fp32 m, v)"].OtherDeviceBytes));
        Assert.Equal(22_000L * 64 * 4 * 5120, byName["activations: saved layer inputs"].Device0Bytes);
        Assert.Equal(22_000L * 152_064 * 4, byName["logits (fp32, saved by logsumexp)"].Device0Bytes);
        Assert.Equal(0, byName["logits (fp32, saved by logsumexp)"].OtherDeviceBytes);

        // Scoring 22,000 tokens in bf16 on one GPU: 2·N weight bytes, 8·T·V logits bytes, 6·T·I MLP bytes.
        var score = MemoryPlan.Inference(c, contextTokens: 22000, batch: 1, bytesPerParameter: 2, kvBytes: 2, logitsTokens: 22000, keepKvCache: false);
        Assert.Equal(2 * 32_763_876_352 + 8L * 22000 * 152_064 + 6L * 22000 * 27648, score.Device0Total);
        // Generation KV cache: 2 (k, v) · 64 layers · 8 KV heads · 128 dims · 2 bytes = 262,144 bytes per token.
        var gen = MemoryPlan.Inference(c, 32768, 1, 2, 2, 512, keepKvCache: true);
        Assert.Equal(262_144L * 32768, gen.Components.Single(x => x.Name == "KV cache").Device0Bytes);
        // Checkpointing keeps one layer instead of 64: strictly less, and the weights do not change.
        var full = MemoryPlan.Compute(c, 8, 22000, 1, gradientCheckpointing: false);
        Assert.True(full.OtherDeviceTotal > plan.OtherDeviceTotal);
        Assert.Equal(plan.Components[0], full.Components[0]);
        Assert.Throws<ArgumentException>(() => MemoryPlan.Compute(c, 3, 22000, 1, true));  // 3 does not divide the 8 KV heads
    }

    [Fact]
    public void RunBookTablesEqualThePlanComputedFromTheConfig()
    {
        var c = Qwen32b();
        var path = FindRepoFile("docs/runbook-s1k-8xH100.md");
        var doc = File.ReadAllText(path);
        var blocks = Regex.Matches(doc, @"<!-- memory-plan (?<kind>train|infer) (?<args>[^>]*?) -->\n(?<table>.*?)<!-- /memory-plan -->", RegexOptions.Singleline);
        Assert.True(blocks.Count >= 3, $"expected at least 3 memory-plan blocks in the run book, found {blocks.Count}");
        // IWSFT_UPDATE_RUNBOOK=1 rewrites the tables from the plan (after a deliberate change to MemoryPlan), then checks.
        bool update = Environment.GetEnvironmentVariable("IWSFT_UPDATE_RUNBOOK") == "1";
        foreach (Match m in blocks.Reverse())
        {
            var a = m.Groups["args"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=')).ToDictionary(kv => kv[0], kv => kv[1]);
            string expected = m.Groups["kind"].Value == "train"
                ? MemoryPlan.Compute(c, int.Parse(a["tp"]), int.Parse(a["block"]), int.Parse(a["micro"]), bool.Parse(a["checkpointing"])).ToMarkdown()
                : MemoryPlan.Inference(c, int.Parse(a["context"]), int.Parse(a["batch"]), int.Parse(a["param_bytes"]), int.Parse(a["kv_bytes"]),
                                       int.Parse(a["logits"]), bool.Parse(a["kv_cache"])).ToSingleDeviceMarkdown();
            if (update)
            {
                var t = m.Groups["table"];
                doc = doc[..t.Index] + expected + doc[(t.Index + t.Length)..];
                continue;
            }
            Assert.True(expected == m.Groups["table"].Value, $"run book block '{m.Groups["args"].Value}' differs from the plan; expected:\n{expected}");
        }
        if (update) File.WriteAllText(path, doc);
    }

    static string FindRepoFile(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d != null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, relative))) return Path.Combine(d.FullName, relative);
        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }
}
