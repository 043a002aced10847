using System.Text.Json.Nodes;
using IwSft.Cli;
using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using Parquet.Serialization;

namespace IwSft.Pipelines.Tests;

/// <summary>The tests swap Console.Out/Error, so nothing else may run beside them.</summary>
[CollectionDefinition(nameof(ModelCliCollection), DisableParallelization = true)]
public sealed class ModelCliCollection;

/// <summary>`iwsft model init|info|score|generate` end to end on a tiny random checkpoint.</summary>
[Collection(nameof(ModelCliCollection))]
public class ModelCliTests
{
    static string TempDir()
    {
        var d = Path.Combine(Path.GetTempPath(), "iwsft-modelcli-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(d);
        return d;
    }

    [Fact]
    public async Task ScoreWritesTheScorersValuesForJsonlAndParquetInput()
    {
        var dir = TempDir();
        var ckpt = Path.Combine(dir, "ckpt");
        Assert.Equal(0, Program.Main(new[] { "model", "init", ckpt, "--config", "tiny", "--seed", "5" }));
        Assert.Equal(0, Program.Main(new[] { "model", "info", ckpt }));
        var pairs = new[] { (new[] { 1, 2, 3 }, new[] { 4, 5 }), (new[] { 9 }, new[] { 10, 11, 12 }) };
        var jsonl = Path.Combine(dir, "in.jsonl");
        File.WriteAllLines(jsonl, new[]
        {
            """{"id":"a","prompt_ids":[1,2,3],"completion_ids":[4,5]}""",
            """{"id":"b","prompt_ids":[9],"completion_ids":[10,11,12]}""",
        });
        var parquet = Path.Combine(dir, "in.parquet");
        using (var s = File.Create(parquet))
            await ParquetSerializer.SerializeAsync(pairs.Select((p, i) => new ScoreInputRow { id = i == 0 ? "a" : "b", prompt_ids = p.Item1.ToList(), completion_ids = p.Item2.ToList() }), s);

        using var model = Checkpoint.Load(ckpt);
        var expected = CompletionScorer.Score(model, pairs, batchSize: 1);
        foreach (var input in new[] { jsonl, parquet })
        {
            var output = Path.Combine(dir, Path.GetFileName(input) + ".out.jsonl");
            Assert.Equal(0, Program.Main(new[] { "model", "score", ckpt, "--input", input, "--out", output, "--batch-size", "2" }));
            var rows = File.ReadAllLines(output).Select(l => JsonNode.Parse(l)!).ToList();
            Assert.Equal(2, rows.Count);
            for (int i = 0; i < 2; i++)
            {
                Assert.Equal(i == 0 ? "a" : "b", rows[i]["id"]!.GetValue<string>());
                var lp = rows[i]["logprobs"]!.AsArray().Select(x => x!.GetValue<float>()).ToArray();
                Assert.Equal(expected[i].Length, rows[i]["num_tokens"]!.GetValue<int>());
                for (int j = 0; j < lp.Length; j++) Assert.True(Math.Abs(expected[i][j] - lp[j]) < 1e-5);
                Assert.Equal(expected[i].Sum(x => (double)x), rows[i]["sum_logprob"]!.GetValue<double>(), 4);
            }
        }
    }

    [Fact]
    public void BadInputIsAOneLineErrorNamingFileAndRow()
    {
        var dir = TempDir();
        var ckpt = Path.Combine(dir, "ckpt");
        Assert.Equal(0, Program.Main(new[] { "model", "init", ckpt, "--config", "tiny" }));
        var input = Path.Combine(dir, "bad.jsonl");
        File.WriteAllLines(input, new[] { """{"prompt_ids":[1],"completion_ids":[2]}""", """{"prompt_ids":[1],"completion_ids":[999]}""" });
        var err = new StringWriter();
        var old = Console.Error;
        Console.SetError(err);
        try { Assert.Equal(1, Program.Main(new[] { "model", "score", ckpt, "--input", input, "--out", Path.Combine(dir, "o.jsonl") })); }
        finally { Console.SetError(old); }
        Assert.Contains("bad.jsonl: row 2: token id outside the vocabulary", err.ToString());
        Assert.False(File.Exists(Path.Combine(dir, "o.jsonl")));
    }

    [Fact]
    public void GenerateWithPromptIdsPrintsGreedyTokens()
    {
        var dir = TempDir();
        var ckpt = Path.Combine(dir, "ckpt");
        Assert.Equal(0, Program.Main(new[] { "model", "init", ckpt, "--config", "tiny", "--seed", "2" }));
        var outWriter = new StringWriter();
        var old = Console.Out;
        Console.SetOut(outWriter);
        try { Assert.Equal(0, Program.Main(new[] { "model", "generate", ckpt, "--prompt-ids", "5,6,7", "--max-new-tokens", "4" })); }
        finally { Console.SetOut(old); }
        using var model = Checkpoint.Load(ckpt);
        var expected = TokenGenerator.Generate(model, new[] { new[] { 5, 6, 7 } }, new GenerationOptions(MaxNewTokens: 4))[0].Tokens;
        Assert.Equal(string.Join(",", expected), outWriter.ToString().Trim());
    }

    [Fact]
    public void ChatGenerationAndTextScoringUseTheCheckpointsTokenizer()
    {
        var dir = TempDir();
        var ckpt = Path.Combine(dir, "ckpt");
        Assert.Equal(0, Program.Main(new[] { "model", "init", ckpt, "--config", "tiny", "--seed", "3", "--vocab-size", IwSft.Pipelines.Demo.CharTokenizerDirectory.VocabularySize.ToString() }));
        IwSft.Pipelines.Demo.CharTokenizerDirectory.Write(ckpt);
        var tok = IwSft.Text.HfTokenizer.Load(ckpt);
        using var model = Checkpoint.Load(ckpt);

        var prompt = new IwSft.Text.QwenChatTemplate().Prompt("2+2=?");
        var stops = new[] { tok.EosId, tok.TokenId("<|im_end|>") };
        var expected = TokenGenerator.Generate(model, new[] { tok.EncodeToIds(prompt).ToArray() }, new GenerationOptions(MaxNewTokens: 6, StopTokens: stops))[0];
        var outWriter = new StringWriter();
        var old = Console.Out;
        Console.SetOut(outWriter);
        try { Assert.Equal(0, Program.Main(new[] { "model", "generate", ckpt, "--prompt", "2+2=?", "--chat", "--max-new-tokens", "6" })); }
        finally { Console.SetOut(old); }
        Assert.Equal(tok.Decode(expected.Tokens, skipSpecial: true) + Environment.NewLine, outWriter.ToString());

        var input = Path.Combine(dir, "text.jsonl");
        File.WriteAllLines(input, new[] { """{"id":"t","prompt":"1+1=","completion":"2"}""" });
        var output = Path.Combine(dir, "text.out.jsonl");
        Assert.Equal(0, Program.Main(new[] { "model", "score", ckpt, "--input", input, "--out", output }));
        var row = JsonNode.Parse(File.ReadAllLines(output).Single())!;
        var want = CompletionScorer.Score(model, new[] { (tok.EncodeToIds("1+1=").ToArray(), tok.EncodeToIds("2").ToArray()) }, 1)[0];
        Assert.Single(want);
        Assert.Equal(want[0], row["logprobs"]![0]!.GetValue<float>(), 5);
    }
}
