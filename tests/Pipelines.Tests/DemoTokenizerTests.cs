using System.Text.Json.Nodes;
using IwSft.Pipelines.Demo;
using Microsoft.ML.Tokenizers;

namespace IwSft.Pipelines.Tests;

public sealed class DemoTokenizerTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "iwsft-demo-tok-" + Guid.NewGuid().ToString("N"));

    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    [Fact]
    public void Byte_level_map_matches_gpt2_for_space_newline_and_letters()
    {
        Assert.Equal('\u0120', CharTokenizerDirectory.ByteToUnicode((byte)' ')); // 'Ġ'
        Assert.Equal('\u010A', CharTokenizerDirectory.ByteToUnicode((byte)'\n')); // 'Ċ'
        Assert.Equal('a', CharTokenizerDirectory.ByteToUnicode((byte)'a'));
        Assert.Equal('\u0100', CharTokenizerDirectory.ByteToUnicode(0));
    }

    [Fact]
    public void Directory_has_vocab_empty_merges_and_special_tokens_after_the_vocab()
    {
        CharTokenizerDirectory.Write(_dir);
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "vocab.json")))!.AsObject();
        Assert.Equal(96, vocab.Count); // '\n' + 95 printable ASCII
        Assert.Equal(Enumerable.Range(0, 96), vocab.Select(kv => (int)kv.Value!).Order());
        Assert.Equal("#version: 0.2\n", File.ReadAllText(Path.Combine(_dir, "merges.txt")));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "tokenizer_config.json")))!;
        Assert.Equal("<|im_end|>", (string)config["eos_token"]!);
        Assert.Equal("<|endoftext|>", (string)config["added_tokens_decoder"]!["96"]!["content"]!);
        Assert.Equal("<|im_start|>", (string)config["added_tokens_decoder"]!["97"]!["content"]!);
        Assert.Equal("<|im_end|>", (string)config["added_tokens_decoder"]!["98"]!["content"]!);
        Assert.Equal(99, CharTokenizerDirectory.VocabularySize);
    }

    [Fact]
    public void A_byte_level_bpe_loader_encodes_one_token_per_character_and_round_trips()
    {
        CharTokenizerDirectory.Write(_dir);
        var specials = new Dictionary<string, int> { ["<|endoftext|>"] = 96, ["<|im_start|>"] = 97, ["<|im_end|>"] = 98 };
        // Microsoft.ML.Tokenizers' own byte-level BPE, independent of the project's loader.
        var tokenizer = BpeTokenizer.Create(new BpeOptions(Path.Combine(_dir, "vocab.json"), Path.Combine(_dir, "merges.txt"))
        {
            ByteLevel = true,
            // Qwen2's pre-tokenisation pattern; with no merges it only decides where pieces break.
            PreTokenizer = new RegexPreTokenizer(new System.Text.RegularExpressions.Regex(
                @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), null),
            SpecialTokens = specials,
        });
        var p = ArithmeticTask.Generate(DemoSplit.Eval, 1, seed: 2)[0];
        foreach (var text in new[] { p.Question, p.CarefulSolution, "Ana had 12 pens,\ngot 5." })
        {
            var ids = tokenizer.EncodeToIds(text);
            Assert.Equal(text.Select(c => CharTokenizerDirectory.Characters.ToList().IndexOf(c)), ids);
            Assert.Equal(text, tokenizer.Decode(ids));
        }
    }
}
