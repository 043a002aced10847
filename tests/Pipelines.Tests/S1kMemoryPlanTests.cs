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

        // The recipe's layout: TP 8, block 22,000, micro-batch 1, checkpointing, 2048-position log-prob chunks, AdamW moments on host.
        var plan = MemoryPlan.Compute(c, tensorParallel: 8, blockSize: 22000, microBatch: 1, gradientCheckpointing: true,
                                      lossChunkTokens: 2048, optimizerOnHost: true);
        long shard = 64L * (layer - 10_240) / 8;                              // 3,900,760,064 attention + MLP parameters per GPU
        long vocabRows = 152_064 / 8;                                         // 19,008 rows of embedding and of lm_head per GPU
        long gpu0 = shard + 2 * vocabRows * 5120 + 8 * 10_240 + 5120;         // + the norms of layers 0, 8, …, 56 and the final norm
        long other = shard + 2 * vocabRows * 5120 + 8 * 10_240;
        Assert.Equal(4_095_489_024, gpu0);
        var byName = plan.Components.ToDictionary(x => x.Name);
        Assert.Equal((4 * gpu0, 4 * other, 4 * 32_763_876_352), (byName["weights (fp32)"].Device0Bytes, byName["weights (fp32)"].OtherDeviceBytes, byName["weights (fp32)"].HostBytes));
        // Moments in host memory; on the GPU one flat chunk of the largest tensor, the 97,320,960-element embedding shard,
        // capped at 64 Mi elements, with m, v and the denominator (12 B each element): 768 MiB.
        Assert.Equal((0L, 0L, 8 * 32_763_876_352), (byName["AdamW moments (fp32 m, v)"].Device0Bytes, byName["AdamW moments (fp32 m, v)"].OtherDeviceBytes, byName["AdamW moments (fp32 m, v)"].HostBytes));
        Assert.Equal((768L << 20, 768L << 20), (byName["AdamW step temporaries"].Device0Bytes, byName["AdamW step temporaries"].OtherDeviceBytes));
        // 64 layers over 8 home devices: 8 bf16 layer inputs of 22,000 × 5120 on every GPU (not 64 on GPU 0).
        Assert.Equal((8L * 22_000 * 2 * 5120, 8L * 22_000 * 2 * 5120), (byName["activations: saved layer inputs (bf16)"].Device0Bytes, byName["activations: saved layer inputs (bf16)"].OtherDeviceBytes));
        // One layer recomputed at home: norms 12·H, shard 4·H + 10·640 + 4·5 + 8·3456 per token, bf16 weights, gradient buffers
        // 16·H + 4·3456 per token, and the layer shard's fp32 parameter gradients returned by the replay.
        Assert.Equal(22_000L * (12 * 5120 + 4 * 5120 + 10 * 640 + 4 * 5 + 8 * 3456) + 2 * (shard / 64 + 10_240) + 22_000L * (16 * 5120 + 4 * 3456) + 4 * shard / 64,
                     byName["activations: one layer recomputed, with its gradients"].Device0Bytes);
        // One chunk of 2048 positions × 19,008 vocabulary rows per GPU, never [22,000 × 152,064].
        var chunk = byName["log-prob chunk (2048 positions × vocabulary shard)"];
        Assert.Equal((18L * 2048 * 19_008 + 4L * 2048 * 5120, 18L * 2048 * 19_008 + 4L * 2048 * 5120), (chunk.Device0Bytes, chunk.OtherDeviceBytes));
        // The target of issue #8: under 75 GiB on every GPU; 244 GiB of moments and the 122 GiB fp32 host copy in host memory.
        Assert.True(plan.Device0Total < 75 * MemoryPlan.GiB && plan.OtherDeviceTotal < 75 * MemoryPlan.GiB, $"{plan.Device0Total / (double)MemoryPlan.GiB} GiB");
        Assert.Equal(12 * 32_763_876_352, plan.HostTotal);
        // Moments on the GPU instead: + 8 B/param there; the step's temporary is the denominator of the whole embedding shard.
        var onGpu = MemoryPlan.Compute(c, 8, 22000, 1, true, 2048, optimizerOnHost: false);
        Assert.Equal(plan.Device0Total + 8 * gpu0 - (768L << 20) + 4 * vocabRows * 5120, onGpu.Device0Total);

        // Scoring 22,000 tokens in bf16 on one GPU: 2·N weight bytes, one 2048-position chunk of logits (10 B per entry), and
        // the MLP block's temporaries (8·I bytes, more than attention's 19·Q + 13·K) with its norm and residuals (22·H) per token.
        var score = MemoryPlan.Inference(c, contextTokens: 22000, batch: 1, bytesPerParameter: 2, kvBytes: 2, logitsTokens: 22000, keepKvCache: false);
        Assert.Equal(2 * 32_763_876_352 + 10L * 2048 * 152_064 + 22_000L * (8 * 27648 + 22 * 5120), score.Device0Total);
        // Generation KV cache: 2 (k, v) · 64 layers · 8 KV heads · 128 dims · 2 bytes = 262,144 bytes per token.
        var gen = MemoryPlan.Inference(c, 32768, 1, 2, 2, 512, keepKvCache: true);
        Assert.Equal(262_144L * 32768, gen.Components.Single(x => x.Name == "KV cache").Device0Bytes);
        // Checkpointing keeps one layer instead of 64: strictly less, and the weights do not change.
        var full = MemoryPlan.Compute(c, 8, 22000, 1, gradientCheckpointing: false, 2048, optimizerOnHost: true);
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
                ? MemoryPlan.Compute(c, int.Parse(a["tp"]), int.Parse(a["block"]), int.Parse(a["micro"]), bool.Parse(a["checkpointing"]),
                                     int.Parse(a["chunk"]), bool.Parse(a["offload"])).ToMarkdown()
                : MemoryPlan.Inference(c, int.Parse(a["context"]), int.Parse(a["batch"]), int.Parse(a["param_bytes"]), int.Parse(a["kv_bytes"]),
                                       int.Parse(a["logits"]), bool.Parse(a["kv_cache"]), int.Parse(a["chunk"])).ToSingleDeviceMarkdown();
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
