using System.CommandLine;
using IwSft.Gpu.Models;

namespace IwSft.Cli;

public static partial class CommandCatalog
{
    /// <summary>Published shapes for planning without the weights at hand (config.json values of the HF releases).</summary>
    static readonly Dictionary<string, TransformerConfig> MemoryPresets = new(StringComparer.OrdinalIgnoreCase)
    {
        ["qwen2.5-32b"] = new() { ModelType = "qwen2", HiddenSize = 5120, NumHiddenLayers = 64, NumAttentionHeads = 40, NumKeyValueHeads = 8,
                                  IntermediateSize = 27648, VocabSize = 152064, TieWordEmbeddings = false },
        ["qwen2.5-7b"] = new() { ModelType = "qwen2", HiddenSize = 3584, NumHiddenLayers = 28, NumAttentionHeads = 28, NumKeyValueHeads = 4,
                                 IntermediateSize = 18944, VocabSize = 152064, TieWordEmbeddings = false },
    };

    /// <summary><c>iwsft model memory CONFIG --tp 8 --block 22000 [--optimizer-offload] [--loss-chunk N]</c>: the per-GPU memory table of <see cref="MemoryPlan"/>.</summary>
    static Command ModelMemoryCommand()
    {
        var source = new Argument<string>("config") { Description = "config.json, a checkpoint directory, or a preset: qwen2.5-32b, qwen2.5-7b, tiny, 10m, 100m" };
        var tp = new Option<int>("--tp") { Description = "tensor-parallel degree (number of GPUs)", DefaultValueFactory = _ => 8 };
        var block = new Option<int>("--block") { Description = "tokens per sequence", DefaultValueFactory = _ => 22000 };
        var micro = new Option<int>("--micro-batch") { Description = "sequences per GPU step", DefaultValueFactory = _ => 1 };
        var noCkpt = new Option<bool>("--no-gradient-checkpointing") { Description = "keep every layer's activations" };
        var chunk = new Option<int>("--loss-chunk")
            { Description = "positions per log-prob chunk (the train stage's loss_chunk_tokens; 0 = all at once)", DefaultValueFactory = _ => ChunkedLogProbs.DefaultChunkTokens };
        var offload = new Option<bool>("--optimizer-offload") { Description = "AdamW's moments in host memory, streamed to each GPU one chunk at a time" };
        var c = new Command("memory", "Per-GPU (and host) memory of full fine-tuning as the trainer does it (weights, gradients, AdamW, activations, log-probs).")
            { source, tp, block, micro, noCkpt, chunk, offload };
        c.SetAction(r => Run(() =>
        {
            var s = r.GetValue(source)!;
            TransformerConfig config =
                MemoryPresets.TryGetValue(s, out var known) ? known
                : Directory.Exists(s) ? TransformerConfig.Load(Path.Combine(s, Checkpoint.ConfigFile))
                : File.Exists(s) ? TransformerConfig.Load(s)
                : TransformerConfig.Preset(s);
            Console.Write(MemoryPlan.Compute(config, r.GetValue(tp), r.GetValue(block), r.GetValue(micro), !r.GetValue(noCkpt),
                                             r.GetValue(chunk), r.GetValue(offload)).ToMarkdown());
        }));
        return c;
    }
}
