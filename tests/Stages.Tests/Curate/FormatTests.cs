using IwSft.Text;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Curate.Format;
using IwSft.Stages.Curate.Weight;
using static IwSft.Stages.Tests.Curate.CurateRows;

namespace IwSft.Stages.Tests.Curate;

/// <summary>Format, token-length and quality-weight stages. The packaged cl100k_base encoding stands in for the
/// Qwen2.5 tokenizer (not available here); the template and masking logic do not depend on which BPE it is.</summary>
public class FormatTests
{
    static readonly HfTokenizer Cl = HfTokenizer.Cl100kBase();

    const string Prompt =
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
        "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n";
    const string Completion = "<|im_start|>think\nI add 2 and 3.\n<|im_start|>answer\nAnswer: 5<|im_end|>\n";

    static async Task<StageTestContext> Run(FormatStage stage, params Rec[] recs)
    {
        var ctx = new StageTestContext(stage).Table("records", Batch(recs));
        await stage.RunAsync(ctx);
        return ctx;
    }

    static Rec Example(string id = "r1") => new(id, "What is 2+3?") { Trace = "  I add 2 and 3.\n", Attempt = "5", SamplingWeight = 0.5f };

    [Fact]
    public async Task BuildsTheS1SequenceWithCompletionOnlyLoss()
    {
        var ctx = await Run(new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", EmitText = true }), Example());
        var b = ctx.Output("sequences").Single();
        var ids = b.GetInt32List("input_ids", 0)!;
        int cs = b.GetInt32("completion_start", 0)!.Value;
        Assert.Equal(Prompt + Completion, b.GetString("text", 0));
        Assert.Equal(Prompt + Completion, Cl.Decode(ids));
        Assert.Equal(Prompt, Cl.Decode(ids[..cs]));
        Assert.Equal(Completion, Cl.Decode(ids[cs..]));
        Assert.Equal(Cl.EncodeToIds(Prompt), ids[..cs]);
        Assert.Equal(100264, ids[0]);          // <|im_start|>
        Assert.Equal(100264, ids[cs]);         // the completion opens with <|im_start|>think
        Assert.Equal(new[] { 100265, 198 }, ids[^2..]);   // <|im_end|> "\n"
        Assert.Equal(ids.Length, b.GetInt32("num_tokens", 0));
        Assert.Equal(ids.Length, b.GetInt32("full_tokens", 0));
        Assert.Equal(cs, b.GetInt32("prompt_tokens", 0));
        Assert.Equal(ids.Length - cs, b.GetInt32("completion_tokens", 0));
        Assert.Equal(0.5f, b.GetFloat("sampling_weight", 0));
        Assert.False(b.GetBool("truncated", 0));
        Assert.Equal([("r1", true, "fits", (string?)null)], ctx.DecisionRows);
    }

    [Fact]
    public async Task LongSequencesAreTruncatedOrDroppedAndAlwaysRecorded()
    {
        int promptTokens = Cl.EncodeToIds(Prompt).Count, full = Cl.EncodeToIds(Prompt + Completion).Count;
        int block = promptTokens + 3;
        var ctx = await Run(new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", BlockSize = block }),
            Example("cut"), new Rec("nottrace", "q") { Trace = null });
        var b = ctx.Output("sequences").Single();
        Assert.Equal(1, b.Length);
        Assert.Equal(Cl.EncodeToIds(Prompt + Completion).Take(block), b.GetInt32List("input_ids", 0)!);
        Assert.True(b.GetBool("truncated", 0));
        Assert.Equal(full, b.GetInt32("full_tokens", 0));
        Assert.Equal(3, b.GetInt32("completion_tokens", 0));
        Assert.Equal(new (string, bool, string, string?)[]
        {
            ("cut", true, "truncated", $"{full} tokens > block {block}: cut {full - block} completion tokens"),
            ("nottrace", false, "missing_features", "missing: trace"),
        }, ctx.DecisionRows);

        var drop = await Run(new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", BlockSize = block, Truncation = TruncationPolicy.Drop }), Example("cut"));
        Assert.Empty(drop.Output("sequences"));
        Assert.Equal([("cut", false, "too_long", (string?)$"{full} tokens > block {block}")], drop.DecisionRows);

        var tiny = await Run(new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", BlockSize = promptTokens }), Example("p"));
        Assert.Equal("prompt_exceeds_block", tiny.DecisionRows.Single().Reason);
    }

    [Fact]
    public async Task ABoundaryTokenSpanningPromptAndCompletionCarriesLoss()
    {
        // Solution layout, content starting with "\n": the whole text has "\n\n" as one token across the boundary.
        var stage = new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", Layout = AssistantLayout.Solution, NoSystemPrompt = true });
        var ctx = await Run(stage, new Rec("s", "Q") { Solution = "\nSo x = 1." });
        var b = ctx.Output("sequences").Single();
        var ids = b.GetInt32List("input_ids", 0)!;
        int cs = b.GetInt32("completion_start", 0)!.Value;
        const string prompt = "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n";
        Assert.Equal(prompt + "\nSo x = 1.<|im_end|>\n", Cl.Decode(ids));
        Assert.StartsWith(Cl.Decode(ids[..cs]), prompt);
        Assert.Equal(Cl.EncodeToIds(prompt).Count - 1, cs);
        Assert.Equal("\n\n", Cl.Decode(ids[cs..(cs + 1)]));
    }

    /// <summary>A Qwen2-style byte-level tokenizer directory with no merges (one token per byte) and the ChatML tokens at 256-258.</summary>
    static string ByteTokenizerDir()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1).Concat(Enumerable.Range(0xA1, 12)).Concat(Enumerable.Range(0xAE, 0x100 - 0xAE)).ToHashSet();
        var vocab = new System.Text.Json.Nodes.JsonObject();
        int n = 0;
        for (int b = 0; b < 256; b++) vocab[printable.Contains(b) ? ((char)b).ToString() : ((char)(256 + n++)).ToString()] = b;
        string dir = Path.Combine(Path.GetTempPath(), "iwsft-bytetok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "vocab.json"), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            "{\"eos_token\":\"<|im_end|>\",\"added_tokens_decoder\":{\"256\":{\"content\":\"<|endoftext|>\",\"special\":true}," +
            "\"257\":{\"content\":\"<|im_start|>\",\"special\":true},\"258\":{\"content\":\"<|im_end|>\",\"special\":true}}}");
        return dir;
    }

    [Fact]
    public async Task ATokenizerDirectoryInputWinsOverTheConfiguredOne()
    {
        var stage = new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", NoSystemPrompt = true });
        var ctx = new StageTestContext(stage).Table("records", Batch([new Rec("a", "hi") { Trace = "t", Attempt = "ok" }])).Dir("tokenizer", ByteTokenizerDir());
        await stage.RunAsync(ctx);
        var ids = ctx.Output("sequences").Single().GetInt32List("input_ids", 0)!;
        // <|im_start|> "user\nhi" <|im_end|> "\n" <|im_start|> "assistant\n" | <|im_start|> "think\nt\n" <|im_start|> "answer\nAnswer: ok" <|im_end|> "\n"
        int[] Bytes(string s) => s.Select(c => (int)c).ToArray();
        int[] expected = [257, .. Bytes("user\nhi"), 258, '\n', 257, .. Bytes("assistant\n"),
                          257, .. Bytes("think\nt\n"), 257, .. Bytes("answer\nAnswer: ok"), 258, '\n'];
        Assert.Equal(expected, ids);
        Assert.Equal(1 + 7 + 1 + 1 + 1 + 10, ctx.Output("sequences").Single().GetInt32("completion_start", 0));
    }

    [Fact]
    public async Task TokenizerMustBeConfigured()
    {
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Run(new FormatStage("format"), Example()));
        Assert.Contains("tokenizer is not configured", e.Message);
    }

    [Fact]
    public async Task TokenLengthsCountTraceTokens()
    {
        var stage = new TokenLengthStage("lengths");
        var ctx = new StageTestContext(stage).Table("records",
            Candidates([new Rec("a", "q") { Trace = "hello world" }, new Rec("b", "q") { Trace = null }, new Rec("c", "q") { Trace = "<|im_end|>" }]));
        await stage.RunAsync(ctx);
        var b = ctx.Output("records").Single();
        Assert.Equal(2, b.GetInt32("trace_tokens", 0));
        Assert.Null(b.GetInt32("trace_tokens", 1));
        // Literal text, not the special token: "<|", "im", "_end", "|>" in cl100k_base.
        Assert.Equal(Cl.EncodeToIds("<|im_end|>", allowSpecial: false).Count, b.GetInt32("trace_tokens", 2));
        Assert.True(b.GetInt32("trace_tokens", 2) > 1);
        Assert.Equal(["a", "b", "c"], ctx.OutputIds("records"));
    }

    static async Task<float?[]> Weights(QualityWeightConfig cfg, params float?[] qualities)
    {
        var stage = new QualityWeightStage("weight", cfg);
        var ctx = new StageTestContext(stage).Table("records", Batch(qualities.Select((q, i) => new Rec($"r{i}", "q") { Quality = q })));
        await stage.RunAsync(ctx);
        var b = ctx.Output("records").Single();
        return Enumerable.Range(0, b.Length).Select(r => b.GetFloat("sampling_weight", r)).ToArray();
    }

    [Fact]
    public async Task QualityMapsToSamplingWeight()
    {
        // Power, alpha 2 on [1, 10]: ((q-1)/9)^2 → q=10: 1, q=1: 0, q=5.5: 0.25, q=0 clamps to 0.
        Assert.Equal(new float?[] { 1f, 0f, 0.25f, 0f }, await Weights(new() { Alpha = 2 }, 10, 1, 5.5f, 0));
        Assert.Equal(new float?[] { 1f, 0.1f, 1f, 0.3f }, await Weights(new() { Mode = QualityWeightMode.Threshold, Threshold = 7, BelowWeight = 0.1, MissingWeight = 0.3 }, 7, 6.9f, 9, null));
        // Normalised to mean 1: raw (1, 0.5, 0) → × 3/1.5.
        Assert.Equal(new float?[] { 2f, 1f, 0f }, await Weights(new() { NormalizeMean = true }, 10, 5.5f, 1));
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Weights(new(), 5, null));
        Assert.Contains("row 1", e.Message);
        Assert.Contains("'quality' is null", e.Message);
    }
}
