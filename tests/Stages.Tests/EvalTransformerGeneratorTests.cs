using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using System.Text.Json.Nodes;
using IwSft.Gpu.Models;
using IwSft.Text;
using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

/// <summary>
/// The TorchSharp adapter on a tiny random Qwen2-shaped checkpoint with a character-level byte-BPE
/// tokenizer written here (no pretrained weights exist on this machine; random weights still exercise
/// loading, tokenisation, KV-cache generation, stopping and decoding).
/// </summary>
public sealed class EvalTransformerGeneratorTests : IDisposable
{
    readonly string _root = Path.Combine(Path.GetTempPath(), "iwsft-eval-tg", Guid.NewGuid().ToString("N"));
    readonly string _tokenizerDir, _checkpointDir;

    public EvalTransformerGeneratorTests()
    {
        _tokenizerDir = Path.Combine(_root, "tok");
        int vocabSize = WriteCharTokenizer(_tokenizerDir);
        _checkpointDir = Path.Combine(_root, "ckpt");
        Checkpoint.WriteRandom(_checkpointDir, new TransformerConfig
        {
            VocabSize = vocabSize, HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
            IntermediateSize = 48, TieWordEmbeddings = true, AttentionBias = true, MaxPositionEmbeddings = 512,
        }, seed: 7);
    }

    public void Dispose() { if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true); }

    /// <summary>Byte-level symbols of '\n', ' ' and printable ASCII, no merges, ChatML added tokens after them.</summary>
    static int WriteCharTokenizer(string dir)
    {
        Directory.CreateDirectory(dir);
        var symbols = new List<string> { "\u010A", "\u0120" }; // GPT-2 byte-level forms of '\n' and ' '
        for (char c = '!'; c <= '~'; c++) symbols.Add(c.ToString());
        var vocab = new JsonObject();
        for (int i = 0; i < symbols.Count; i++) vocab[symbols[i]] = i;
        File.WriteAllText(Path.Combine(dir, "vocab.json"), vocab.ToJsonString());
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\n");
        var added = new JsonObject();
        string[] specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
        for (int i = 0; i < specials.Length; i++)
            added[(symbols.Count + i).ToString()] = new JsonObject { ["content"] = specials[i], ["special"] = true };
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            new JsonObject { ["added_tokens_decoder"] = added, ["eos_token"] = "<|im_end|>", ["pad_token"] = "<|endoftext|>" }.ToJsonString());
        return symbols.Count + specials.Length;
    }

    static readonly GenerationRequest[] Requests =
    [
        new("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n", 11),
        new("Hi", 12),
        new("A much longer prompt, to force left padding in the batch.", 13),
    ];

    [Fact]
    public void GreedyBatchEqualsEachPromptAlone()
    {
        using var gen = new TransformerCompletionGeneratorFactory().Open(_checkpointDir, _tokenizerDir, default);
        var greedy = new GenerationSettings { MaxNewTokens = 8 };
        var together = gen.Generate(Requests, greedy, default);
        for (int i = 0; i < Requests.Length; i++)
            Assert.Equal(together[i], gen.Generate([Requests[i]], greedy, default)[0]);
        Assert.All(together, s => Assert.InRange(s.Tokens, 1, 8));
    }

    [Fact]
    public void SampledRequestsDependOnlyOnTheirOwnSeed()
    {
        using var gen = new TransformerCompletionGeneratorFactory().Open(_checkpointDir, _tokenizerDir, default);
        var hot = new GenerationSettings { MaxNewTokens = 10, Temperature = 1.0 };
        var all = gen.Generate(Requests, hot, default);
        Assert.Equal(all[2], gen.Generate([Requests[2]], hot, default)[0]);
        Assert.Equal(all[1], gen.Generate([Requests[1], Requests[0]], hot, default)[0]);
        // Another seed for the same prompt gives another sample (a random 99-token model at T=1).
        Assert.NotEqual(all[1].Text, gen.Generate([Requests[1] with { Seed = 99 }], hot, default)[0].Text);
    }

    [Fact]
    public void StopTokenEndsTheTextAndIsCounted()
    {
        var tok = HfTokenizer.Load(_tokenizerDir);
        using var gen = new TransformerCompletionGeneratorFactory().Open(_checkpointDir, _tokenizerDir, default);
        var samples = gen.Generate(Enumerable.Range(0, 6).Select(s => new GenerationRequest("x", s)).ToList(),
            new GenerationSettings { MaxNewTokens = 24, Temperature = 1.5 }, default);
        foreach (var s in samples)
        {
            Assert.DoesNotContain("<|im_end|>", s.Text);
            int textTokens = tok.EncodeToIds(s.Text).Count;
            Assert.True(s.Tokens == textTokens || s.Tokens == textTokens + 1, $"{s.Tokens} tokens for '{s.Text}'");
        }
    }

    [Fact]
    public void PromptTooLongForTheModelIsAClearError()
    {
        using var gen = new TransformerCompletionGeneratorFactory().Open(_checkpointDir, _tokenizerDir, default);
        var e = Assert.Throws<ArgumentException>(() => gen.Generate([new GenerationRequest(new string('a', 500), 0)], new GenerationSettings { MaxNewTokens = 20 }, default));
        Assert.Contains("512 positions", e.Message);
    }

    [Fact]
    public async Task EvaluateStageRunsOnARealCheckpointAndRerunsFromTheMemo()
    {
        var counting = new CountingFactory(new TransformerCompletionGeneratorFactory());
        var memo = new EvalFakeMemo();
        var cfg = new EvaluateConfig { SamplesPerItem = 2, Temperature = 1.0, MaxNewTokens = 8, PromptStyle = PromptStyle.Plain };
        async Task<EvalFakeContext> Run()
        {
            var stage = new EvaluateStage("evaluate", counting, cfg).AddExternalCheckpoint("random", _checkpointDir);
            var ctx = new EvalFakeContext("evaluate") { MemoStore = memo };
            ctx.Tables[EvaluateStage.ItemsInput] = [EvalStageTests.Items(("1", "toy", "1+1?", "2", null), ("2", "toy", "Pick.", "A", ["x", "y"]))];
            ctx.Directories[EvaluateStage.TokenizerInput] = _tokenizerDir;
            await stage.RunAsync(ctx);
            return ctx;
        }
        var first = await Run();
        Assert.Equal(1, counting.Opens);
        Assert.Equal(4, first.Metrics[RecordMemoLoop.ComputedMetric]);
        var second = await Run();
        Assert.Equal(1, counting.Opens); // all four samples came from the memo; the model was not loaded again
        Assert.Equal(0, second.Metrics[RecordMemoLoop.ComputedMetric]);
        Assert.Equal(4, second.Written[EvaluateStage.ResultsOutput].Sum(b => b.Length));
    }

    [Fact]
    public async Task TheEvaluateStageGeneratesTheSameResultsOnTwoTensorParallelShards()
    {
        var cfg = new EvaluateConfig { MaxNewTokens = 12, PromptStyle = PromptStyle.Plain, BatchSize = 2 };
        async Task<List<string>> Results(List<string>? devices)
        {
            var stage = new EvaluateStage("evaluate", new TransformerCompletionGeneratorFactory(devices: devices), cfg).AddExternalCheckpoint("random", _checkpointDir);
            var ctx = new EvalFakeContext("evaluate") { MemoStore = new EvalFakeMemo() };
            ctx.Tables[EvaluateStage.ItemsInput] = [EvalStageTests.Items(("1", "toy", "1+1?", "2", null), ("2", "toy", "Pick.", "A", ["x", "y"]),
                                                                         ("3", "toy", "A longer question, so that the batch is left-padded?", "7", null))];
            ctx.Directories[EvaluateStage.TokenizerInput] = _tokenizerDir;
            await stage.RunAsync(ctx);
            Assert.Equal(3, ctx.Metrics[RecordMemoLoop.ComputedMetric]);
            var batches = ctx.Written[EvaluateStage.ResultsOutput];
            return batches.SelectMany(b => Enumerable.Range(0, b.Length).Select(r => $"{b.GetString("item_id", r)}|{b.GetString("response", r)}|{b.GetInt32("tokens", r)}")).ToList();
        }
        var single = await Results(null);
        Assert.Equal(3, single.Count);
        Assert.Equal(single, await Results(["cpu", "cpu"]));
    }

    sealed class CountingFactory(ICompletionGeneratorFactory inner) : ICompletionGeneratorFactory
    {
        public int Opens;
        public ICompletionGenerator Open(string c, string? t, CancellationToken ct) { Opens++; return inner.Open(c, t, ct); }
        public System.Text.Json.Nodes.JsonNode? KeyIdentity() => inner.KeyIdentity();
    }
}
