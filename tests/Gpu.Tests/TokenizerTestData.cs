using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Gpu.Tests;

/// <summary>
/// Builds a tiny byte-level BPE tokenizer directory (the Qwen2.5 files are not available here):
/// ids 0..255 are the 256 byte symbols in GPT-2's byte→unicode mapping (id = byte value), followed by a
/// handful of merges, then the ChatML added tokens.
/// </summary>
public static class TokenizerTestData
{
    public static readonly string[] Merges = ["Ġ t", "t h", "h e", "Ġt h", "Ġth e", "i n", "Ġ a", "e r"];
    public const int EndOfText = 264, ImStart = 265, ImEnd = 266;

    /// <summary>GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.</summary>
    public static string[] ByteSymbols()
    {
        var printable = new List<int>();
        for (int b = '!'; b <= '~'; b++) printable.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) printable.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) printable.Add(b);
        var sym = new string[256];
        int n = 0;
        for (int b = 0; b < 256; b++)
            sym[b] = printable.Contains(b) ? ((char)b).ToString() : ((char)(256 + n++)).ToString();
        return sym;
    }

    public static Dictionary<string, int> Vocab()
    {
        var v = new Dictionary<string, int>();
        var sym = ByteSymbols();
        for (int b = 0; b < 256; b++) v[sym[b]] = b;
        foreach (var m in Merges) v[m.Replace(" ", "")] = v.Count;
        return v;
    }

    static JsonObject Config() => new()
    {
        ["eos_token"] = "<|im_end|>",
        ["pad_token"] = "<|endoftext|>",
        ["added_tokens_decoder"] = new JsonObject
        {
            [EndOfText.ToString()] = new JsonObject { ["content"] = "<|endoftext|>", ["special"] = true },
            [ImStart.ToString()] = new JsonObject { ["content"] = "<|im_start|>", ["special"] = true },
            [ImEnd.ToString()] = new JsonObject { ["content"] = "<|im_end|>", ["special"] = true },
        },
    };

    /// <summary>vocab.json + merges.txt + tokenizer_config.json in a fresh temp directory.</summary>
    public static string WriteVocabMergesDir()
    {
        string dir = NewDir();
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(Vocab()), new UTF8Encoding(false));
        File.WriteAllLines(Path.Combine(dir, "merges.txt"), ["#version: 0.2", .. Merges], new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), Config().ToJsonString());
        return dir;
    }

    /// <summary>The same tokenizer as a single tokenizer.json (merges as pairs, the newer HF format) + config.</summary>
    public static string WriteTokenizerJsonDir()
    {
        string dir = NewDir();
        var vocab = new JsonObject();
        foreach (var (k, id) in Vocab()) vocab[k] = id;
        var tok = new JsonObject
        {
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = EndOfText, ["content"] = "<|endoftext|>", ["special"] = true },
                new JsonObject { ["id"] = ImStart, ["content"] = "<|im_start|>", ["special"] = true },
                new JsonObject { ["id"] = ImEnd, ["content"] = "<|im_end|>", ["special"] = true }),
            ["pre_tokenizer"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new JsonArray(
                    new JsonObject { ["type"] = "Split", ["pattern"] = new JsonObject { ["Regex"] = IwSft.Text.HfTokenizer.Qwen2PreTokenizerPattern } },
                    new JsonObject { ["type"] = "ByteLevel" }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE",
                ["vocab"] = vocab,
                ["merges"] = new JsonArray(Merges.Select(m => (JsonNode)new JsonArray(m.Split(' ')[0], m.Split(' ')[1])).ToArray()),
            },
        };
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), tok.ToJsonString());
        var cfg = Config();
        cfg.Remove("added_tokens_decoder");
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), cfg.ToJsonString());
        return dir;
    }

    static string NewDir()
    {
        string dir = Path.Combine(Path.GetTempPath(), "iwsft-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        return dir;
    }
}
