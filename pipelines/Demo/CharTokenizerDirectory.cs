using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace IwSft.Pipelines.Demo;

/// <summary>
/// Writes a character-level tokenizer as a Hugging Face byte-level BPE tokenizer directory
/// (<c>vocab.json</c>, <c>merges.txt</c>, <c>tokenizer_config.json</c>) in the layout of Qwen2's, so the
/// demo's tiny model goes through the same tokenizer loader as real checkpoints. With no merges, every
/// byte is its own token: one token per ASCII character, which keeps the model small and fast.
/// </summary>
public static class CharTokenizerDirectory
{
    public const string EndOfText = "<|endoftext|>";
    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";
    public static readonly string[] SpecialTokens = [EndOfText, ImStart, ImEnd];

    /// <summary>The characters the vocabulary covers: newline and printable ASCII.</summary>
    public static IReadOnlyList<char> Characters { get; } =
        new[] { '\n' }.Concat(Enumerable.Range(32, 127 - 32).Select(i => (char)i)).ToArray();

    /// <summary>GPT-2's byte → printable character map used by byte-level BPE vocabularies (space → 'Ġ', '\n' → 'Ċ').</summary>
    public static char ByteToUnicode(byte b)
    {
        bool printable = b is >= (byte)'!' and <= (byte)'~' or >= 0xA1 and <= 0xAC or >= 0xAE;
        if (printable) return (char)b;
        int n = 0;
        for (int x = 0; x < b; x++)
            if (!(x is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE)) n++;
        return (char)(256 + n);
    }

    /// <summary>Vocabulary in id order: the byte-level symbols of <see cref="Characters"/>.</summary>
    public static IReadOnlyList<string> VocabularySymbols() =>
        Characters.Select(c => ByteToUnicode((byte)c).ToString()).ToArray();

    /// <summary>Id of each special token: they follow the base vocabulary, as in Qwen2.</summary>
    public static int SpecialTokenId(string token) =>
        Array.IndexOf(SpecialTokens, token) is var i and >= 0 ? Characters.Count + i
            : throw new ArgumentException($"'{token}' is not a special token of the demo tokenizer");

    public static int VocabularySize => Characters.Count + SpecialTokens.Length;

    /// <summary>Writes the three files into <paramref name="directory"/> (created if needed).</summary>
    public static void Write(string directory)
    {
        Directory.CreateDirectory(directory);
        var vocab = new JsonObject();
        var symbols = VocabularySymbols();
        for (int i = 0; i < symbols.Count; i++) vocab[symbols[i]] = i;
        var indented = new JsonSerializerOptions { WriteIndented = true };
        File.WriteAllText(Path.Combine(directory, "vocab.json"), vocab.ToJsonString(indented), new UTF8Encoding(false));
        // Header only: no merges, so tokens stay single bytes.
        File.WriteAllText(Path.Combine(directory, "merges.txt"), "#version: 0.2\n", new UTF8Encoding(false));

        var added = new JsonObject();
        foreach (var token in SpecialTokens)
            added[SpecialTokenId(token).ToString(System.Globalization.CultureInfo.InvariantCulture)] = new JsonObject
            {
                ["content"] = token, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false,
                ["single_word"] = false, ["special"] = true,
            };
        var config = new JsonObject
        {
            ["add_prefix_space"] = false,
            ["added_tokens_decoder"] = added,
            ["additional_special_tokens"] = new JsonArray(ImStart, ImEnd),
            ["bos_token"] = null,
            ["chat_template"] = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}",
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = ImEnd,
            ["errors"] = "replace",
            ["model_max_length"] = 512,
            ["pad_token"] = EndOfText,
            ["split_special_tokens"] = false,
            ["tokenizer_class"] = "Qwen2Tokenizer",
            ["unk_token"] = null,
        };
        File.WriteAllText(Path.Combine(directory, "tokenizer_config.json"), config.ToJsonString(indented), new UTF8Encoding(false));
    }
}
