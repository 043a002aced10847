using System.Diagnostics;
using System.Text.Json.Nodes;
using IwSft.Gpu.Models;
using TorchSharp;

namespace IwSft.Pipelines.Tests;

/// <summary>Issue 14 items 10 and 11 through the real <c>iwsft model</c> commands (child processes).</summary>
public sealed class ModelInputSafetyCliTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-model-safety-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    string TinyCheckpoint()
    {
        var dir = Path.Combine(_dir, "ckpt");
        Checkpoint.WriteRandom(dir, TransformerConfig.Preset("tiny"), seed: 1);
        return dir;
    }

    static void RewriteConfig(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, "config.json");
        var o = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(o);
        File.WriteAllText(path, o.ToJsonString());
    }

    [Theory]
    [InlineData("\"abc\"", "'hidden_size' must be an integer in [1, 65536], got a string \"abc\"")]
    [InlineData("1e10", "'hidden_size' must be an integer in [1, 65536], got a number 1e10")]
    public void ABadConfigValueIsOneLineNotAStackTrace(string value, string message)
    {
        var ckpt = TinyCheckpoint();
        RewriteConfig(ckpt, o => o["hidden_size"] = JsonNode.Parse(value));
        var r = CliProcess.Run(_dir, null, "model", "info", ckpt);
        Assert.Equal(1, r.Code);
        Assert.Equal($"error: {Path.Combine(ckpt, "config.json")}: {message}", r.Stderr.Trim());
    }

    [Fact]
    public async Task A70BConfigNextToATinyCheckpointFailsOnShapesWithoutAllocatingTheModel()
    {
        var ckpt = TinyCheckpoint();
        RewriteConfig(ckpt, o =>
        {
            o["hidden_size"] = 8192; o["num_hidden_layers"] = 80; o["num_attention_heads"] = 64; o["num_key_value_heads"] = 8;
            o["intermediate_size"] = 28672; o["vocab_size"] = 128256; o["tie_word_embeddings"] = false;
        });
        // Under a 6 GB address-space cap the 4.2 GB embedding alone cannot be allocated, let alone the ~280 GB model:
        // the command must fail on the safetensors headers before it tries.
        var psi = new ProcessStartInfo("bash") { WorkingDirectory = _dir, RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("ulimit -v 6000000 && exec dotnet \"$0\" model generate \"$1\" --prompt-ids 1,2 --max-new-tokens 1");
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "iwsft.dll"));
        psi.ArgumentList.Add(ckpt);
        psi.Environment["DOTNET_GCHeapHardLimit"] = "0x20000000"; // the runtime's own reservation fits under the cap
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(120_000), "iwsft timed out");
        Assert.Equal(1, p.ExitCode);
        Assert.Equal($"error: {Path.Combine(ckpt, "model.safetensors")}: tensor 'model.embed_tokens.weight' has shape [256, 64], " +
                     "but config.json (80 layers, hidden 8192, intermediate 28672, vocab 128256) needs [128256, 8192]", (await stderr).Trim());
    }

    [Fact]
    public void NonFiniteLogProbsInModelScoreNameTheRow()
    {
        var ckpt = TinyCheckpoint();
        using (var m = Checkpoint.Load(ckpt))
        {
            using (torch.no_grad()) m.named_parameters().First(x => x.name == "model.norm.weight").parameter.fill_(double.NaN);
            Checkpoint.Save(m, ckpt);
        }
        var input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllLines(input, ["{\"id\":\"first\",\"prompt_ids\":[1,2],\"completion_ids\":[3,4]}"]);
        var r = CliProcess.Run(_dir, null, "model", "score", ckpt, "--input", input, "--out", Path.Combine(_dir, "out.jsonl"));
        Assert.Equal(1, r.Code);
        Assert.Equal($"error: {input}: row 1 (id 'first'): log-prob of completion token 1 is NaN; the model in {ckpt} produces non-finite values (check its weights and --dtype)", r.Stderr.Trim());
        Assert.False(File.Exists(Path.Combine(_dir, "out.jsonl")));
    }
}
