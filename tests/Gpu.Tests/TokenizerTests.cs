using System.Text.Json.Nodes;
using IwSft.Text;
using IwSft.Stages.Tests;

namespace IwSft.Gpu.Tests;

public class TokenizerTests
{
    static readonly HfTokenizer Tok = HfTokenizer.Load(TokenizerTestData.WriteVocabMergesDir());

    [Fact]
    public void AddedTokensHaveTheirConfiguredIdsAndEosComesFromTheConfig()
    {
        Assert.Equal(TokenizerTestData.ImStart, Tok.TokenId("<|im_start|>"));
        Assert.Equal(TokenizerTestData.ImEnd, Tok.TokenId("<|im_end|>"));
        Assert.Equal(TokenizerTestData.EndOfText, Tok.TokenId("<|endoftext|>"));
        Assert.Equal(TokenizerTestData.ImEnd, Tok.EosId);
        Assert.Equal(TokenizerTestData.EndOfText, Tok.PadId);
        Assert.Equal(267, Tok.VocabSize);
    }

    [Fact]
    public void MergesApplyInRankOrder()
    {
        // BPE applies the lowest-ranked pair present anywhere in the word, repeatedly.
        // " the" = Ġ t h e: pairs (Ġ t)#0 (t h)#1 (h e)#2 → Ġt h e: (Ġt h)#3 (h e)#2 → Ġt he: no merge "Ġt he".
        var v = TokenizerTestData.Vocab();
        Assert.Equal(new[] { v["Ġt"], v["he"] }, Tok.EncodeToIds(" the"));
        // " th" → Ġt h → Ġth (#3).
        Assert.Equal(new[] { v["Ġth"] }, Tok.EncodeToIds(" th"));
        // "the" = t h e: (t h)#1 before (h e)#2 → th e; "th e" is not a merge.
        Assert.Equal(new[] { v["th"], v["e"] }, Tok.EncodeToIds("the"));
        // "in" merges; Qwen2's pre-tokenizer splits digits one by one; ' a' merges to Ġa.
        Assert.Equal(new[] { v["in"], 'x', ' ', '2', '0', '2', '4', v["Ġa"] }, Tok.EncodeToIds("inx 2024 a"));
    }

    [Fact]
    public void SpecialTokensAreNeverSplitAndCanBeDisabled()
    {
        var ids = Tok.EncodeToIds("<|im_start|>user\nthe<|im_end|>x<|im_end|><|endoftext|>");
        var v = TokenizerTestData.Vocab();
        Assert.Equal(new[] { TokenizerTestData.ImStart, 'u', 's', v["er"], '\n', v["th"], v["e"], TokenizerTestData.ImEnd, 'x',
            TokenizerTestData.ImEnd, TokenizerTestData.EndOfText }, ids);

        var plain = Tok.EncodeToIds("<|im_end|>", allowSpecial: false);
        Assert.DoesNotContain(TokenizerTestData.ImEnd, plain);
        Assert.True(plain.Count > 1);
        Assert.Equal("<|im_end|>", Tok.Decode(plain));
    }

    [Fact]
    public void DecodeRendersSpecialTokensOrSkipsThem()
    {
        var ids = Tok.EncodeToIds("<|im_start|>assistant\nhé ünïcode 𝔸<|im_end|>");
        Assert.Equal("<|im_start|>assistant\nhé ünïcode 𝔸<|im_end|>", Tok.Decode(ids));
        Assert.Equal("assistant\nhé ünïcode 𝔸", Tok.Decode(ids, skipSpecial: true));
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => Tok.Decode([1, 9999]));
        Assert.Contains("9999", e.Message);
    }

    [Fact]
    public void TokenizerJsonFormatLoadsToTheSameTokenizer()
    {
        var fromJson = HfTokenizer.Load(TokenizerTestData.WriteTokenizerJsonDir());
        const string text = "<|im_start|>user\nWhat is the 3rd term, in order?<|im_end|>\n";
        Assert.Equal(Tok.EncodeToIds(text), fromJson.EncodeToIds(text));
        Assert.Equal(Tok.EosId, fromJson.EosId);
        Assert.NotEqual(Tok.Identity, fromJson.Identity);
    }

    [Fact]
    public void Qwen2TokenizersNormaliseToNfcOthersDoNot()
    {
        const string composed = "caf\u00e9", decomposed = "cafe\u0301";
        Assert.False(Tok.NormalizesNfc);
        Assert.NotEqual(Tok.EncodeToIds(composed), Tok.EncodeToIds(decomposed));

        string dir = TokenizerTestData.WriteVocabMergesDir();
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "tokenizer_config.json")))!.AsObject();
        cfg["tokenizer_class"] = "Qwen2Tokenizer";
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), cfg.ToJsonString());
        var qwen = HfTokenizer.Load(dir);
        Assert.True(qwen.NormalizesNfc);
        Assert.Equal(qwen.EncodeToIds(composed), qwen.EncodeToIds(decomposed));
        Assert.Equal(composed, qwen.Decode(qwen.EncodeToIds(decomposed)));

        string jsonDir = TokenizerTestData.WriteTokenizerJsonDir();
        var tj = JsonNode.Parse(File.ReadAllText(Path.Combine(jsonDir, "tokenizer.json")))!.AsObject();
        tj["normalizer"] = new JsonObject { ["type"] = "NFC" };
        File.WriteAllText(Path.Combine(jsonDir, "tokenizer.json"), tj.ToJsonString());
        Assert.True(HfTokenizer.Load(jsonDir).NormalizesNfc);
        tj["normalizer"] = new JsonObject { ["type"] = "Lowercase" };
        File.WriteAllText(Path.Combine(jsonDir, "tokenizer.json"), tj.ToJsonString());
        Assert.Contains("normalizer 'Lowercase'", Assert.Throws<FormatException>(() => HfTokenizer.Load(jsonDir)).Message);
    }

    [Fact]
    public void MissingFilesAndBadMergesAreClearErrors()
    {
        string empty = Path.Combine(Path.GetTempPath(), "iwsft-tok-empty-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(empty);
        var e = Assert.Throws<FileNotFoundException>(() => HfTokenizer.Load(empty));
        Assert.Contains("vocab.json", e.Message);

        string dir = TokenizerTestData.WriteVocabMergesDir();
        File.AppendAllLines(Path.Combine(dir, "merges.txt"), ["a b c"]);
        var f = Assert.Throws<FormatException>(() => HfTokenizer.Load(dir));
        Assert.Contains("merges.txt:10", f.Message);
    }

    [SharedDataFact]
    public void RoundTripsEveryBenchmarkProblemExactly()
    {
        var dir = SharedData.File("benchmarks");
        int checkedTexts = 0;
        foreach (var file in Directory.GetFiles(dir, "*.jsonl"))
            foreach (var line in File.ReadLines(file))
            {
                if (string.IsNullOrWhiteSpace(line)) continue;
                var o = JsonNode.Parse(line)!;
                foreach (var field in new[] { "problem", "question", "solution", "answer" })
                {
                    if (o[field] is not JsonValue jv || jv.GetValueKind() != System.Text.Json.JsonValueKind.String) continue;
                    string text = jv.GetValue<string>();
                    Assert.Equal(text, Tok.Decode(Tok.EncodeToIds(text, allowSpecial: false)));
                    checkedTexts++;
                }
            }
        Assert.True(checkedTexts > 1000, $"only {checkedTexts} benchmark texts found under {dir}");
    }

    [SharedDataFact]
    public void CountTokensEqualsTheLengthOfTheEncodingForTheRealTokenizers()
    {
        // CountTokens counts in the BPE core instead of building ids; it must agree with EncodeToIds everywhere.
        var tokenizers = new[] { HfTokenizer.Cl100kBase(), HfTokenizer.Load(SharedData.File("tokenizers/qwen3")) };
        var texts = new List<string> { "", "caf\u00e9 cafe\u0301", "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|im_end|>" };
        foreach (var file in Directory.GetFiles(SharedData.File("benchmarks"), "*.jsonl"))
            foreach (var line in File.ReadLines(file).Where(l => !string.IsNullOrWhiteSpace(l)).Take(200))
                if (JsonNode.Parse(line)!["problem"] is JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String) texts.Add(v.GetValue<string>());
        Assert.True(texts.Count > 200, $"only {texts.Count} texts");
        foreach (var tok in tokenizers)
            foreach (var text in texts)
                foreach (bool special in new[] { true, false })
                    Assert.Equal(tok.EncodeToIds(text, special).Count, tok.CountTokens(text, special));
    }

    [Fact]
    public void PackagedCl100kEncodesKnownIdsAndChatMlTokens()
    {
        var cl = HfTokenizer.Cl100kBase();
        Assert.Equal(new[] { 15339, 1917 }, cl.EncodeToIds("hello world"));
        Assert.Equal(100264, cl.EncodeToIds("<|im_start|>")[0]);
        Assert.Equal("<|im_start|>user\nhello world<|im_end|>", cl.Decode(cl.EncodeToIds("<|im_start|>user\nhello world<|im_end|>")));
        Assert.Equal(100257, cl.EosId);
    }
}

public class TokenizerConcurrencyTests
{
    [Fact]
    public void ParallelEncodingMatchesSequentialEncoding()
    {
        // The format and token-length stages tokenise rows in parallel with one shared tokenizer.
        var tok = HfTokenizer.Load(TokenizerTestData.WriteVocabMergesDir());
        var cl = HfTokenizer.Cl100kBase();
        var texts = Enumerable.Range(0, 400).Select(i => $"the {i} thin the{i % 7} in er <|im_end|> ünï {new string('x', i % 13)} a the").ToArray();
        foreach (var t in new[] { tok, cl })
        {
            var sequential = texts.Select(x => t.EncodeToIds(x)).ToArray();
            var parallel = new List<int>[texts.Length];
            Parallel.For(0, texts.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => parallel[i] = t.EncodeToIds(texts[i]));
            for (int i = 0; i < texts.Length; i++) Assert.Equal(sequential[i], parallel[i]);
        }
    }
}
