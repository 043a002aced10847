using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using IwSft.Gpu.Models;
using IwSft.Pipelines.Demo;
using IwSft.Runtime;

namespace IwSft.Pipelines.S1k.Stages;

/// <summary>Size and seed of the toy checkpoint (<see cref="TransformerConfig.Preset"/> names: tiny, 10m, 100m).</summary>
public sealed class ToyModelConfig
{
    public string Preset { get; set; } = "tiny";
    public long Seed { get; set; } = 7;
}

/// <summary>
/// Stage kind <c>s1k.toy-model</c>: a seeded random Qwen2-shaped checkpoint with a byte-level tokenizer (every byte a
/// token, no merges, ChatML's three special tokens), so <c>run s1k --quick</c> exercises judging, formatting,
/// reference scoring, training and evaluation on CPU with no downloaded weights. Its answers are noise: a smoke
/// run's judge features and accuracies mean nothing, and its report says so.
/// </summary>
public sealed class ToyModelStage(string name, ToyModelConfig? config = null) : Stage<ToyModelConfig>(name, config)
{
    public const string ModelOutput = "model";
    public override string Kind => "s1k.toy-model";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs => [];
    public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir(ModelOutput)];

    public override Task RunAsync(IStageContext ctx)
    {
        Write(ctx.OutputDirectory(ModelOutput), Config.Preset, Config.Seed);
        return Task.CompletedTask;
    }

    static readonly string[] Specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    /// <summary>Writes the byte-level tokenizer files and the random weights into <paramref name="dir"/>; returns it.</summary>
    public static string Write(string dir, string preset = "tiny", long seed = 7)
    {
        Directory.CreateDirectory(dir);
        var utf8 = new UTF8Encoding(false);
        var vocab = new JsonObject();
        for (int b = 0; b < 256; b++) vocab[CharTokenizerDirectory.ByteToUnicode((byte)b).ToString()] = b;
        File.WriteAllText(Path.Combine(dir, "vocab.json"), vocab.ToJsonString(), utf8);
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n", utf8);
        var added = new JsonObject();
        for (int i = 0; i < Specials.Length; i++)
            added[(256 + i).ToString(CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = Specials[i], ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true,
            };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), new JsonObject
        {
            ["added_tokens_decoder"] = added, ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>", ["tokenizer_class"] = "Qwen2Tokenizer",
        }.ToJsonString(), utf8);
        Checkpoint.WriteRandom(dir, TransformerConfig.Preset(preset, vocabSize: 256 + Specials.Length), seed);
        return dir;
    }
}
