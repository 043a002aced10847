using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace IwSft.Text;

/// <summary>
/// A byte-level BPE tokenizer loaded from a Hugging Face tokenizer directory (Qwen2 / GPT-2 style:
/// <c>vocab.json</c> + <c>merges.txt</c>, or <c>tokenizer.json</c>; added/special tokens from
/// <c>tokenizer_config.json</c> and/or <c>tokenizer.json</c>), or the packaged cl100k_base encoding.
/// Added tokens are matched atomically before BPE (never split) when <c>allowSpecial</c> is true,
/// and decoded back to their literal text; the BPE model itself never sees them.
/// </summary>
public sealed class HfTokenizer
{
    /// <summary>Qwen2's pre-tokenisation regex (tokenizer.json pre_tokenizer Split pattern).</summary>
    public const string Qwen2PreTokenizerPattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    readonly Tokenizer _core;
    readonly Dictionary<string, int> _added;
    readonly Dictionary<int, (string Text, bool Special)> _addedById;
    readonly Regex? _addedPattern;
    readonly bool _nfc;

    HfTokenizer(Tokenizer core, IReadOnlyList<AddedToken> added, int baseVocabSize, string eosToken, string? padToken, string name, string identity, bool nfc = false)
    {
        _core = core;
        _nfc = nfc;
        _added = added.ToDictionary(a => a.Content, a => a.Id, StringComparer.Ordinal);
        _addedById = added.ToDictionary(a => a.Id, a => (a.Content, a.Special));
        // Longest first so that a token that is a prefix of another never wins.
        _addedPattern = added.Count == 0 ? null
            : new Regex(string.Join("|", added.Select(a => a.Content).OrderByDescending(s => s.Length).Select(Regex.Escape)), RegexOptions.CultureInvariant);
        VocabSize = Math.Max(baseVocabSize, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
        EosId = _added.TryGetValue(eosToken, out int eos) ? eos
            : throw new FormatException($"tokenizer '{name}': eos token '{eosToken}' is not an added/special token");
        PadId = padToken != null && _added.TryGetValue(padToken, out int pad) ? pad : null;
        EosToken = eosToken;
        Name = name;
        Identity = identity;
    }

    public sealed record AddedToken(int Id, string Content, bool Special);

    /// <summary>Where it was loaded from (directory or "cl100k_base").</summary>
    public string Name { get; }

    /// <summary>sha256 over the files that define the tokenizer (for cache keys).</summary>
    public string Identity { get; }

    /// <summary>True when text is NFC-normalised before BPE (Qwen2's tokenizers do this).</summary>
    public bool NormalizesNfc => _nfc;

    /// <summary>One past the largest id (BPE vocabulary and added tokens).</summary>
    public int VocabSize { get; }

    public int EosId { get; }
    public string EosToken { get; }
    public int? PadId { get; }

    /// <summary>Added tokens (special or not) → id; these are never split by BPE.</summary>
    public IReadOnlyDictionary<string, int> SpecialTokens => _added;

    /// <summary>The id of an added token, or a clear error naming the known ones.</summary>
    public int TokenId(string addedToken) =>
        _added.TryGetValue(addedToken, out int id) ? id
            : throw new KeyNotFoundException($"tokenizer '{Name}' has no added token '{addedToken}'; known: {string.Join(", ", _added.Keys)}");

    /// <summary>
    /// Token ids of <paramref name="text"/>. With <paramref name="allowSpecial"/> the literal text of an
    /// added token (e.g. <c>&lt;|im_start|&gt;</c>) becomes its single id; without it, it is encoded as plain text.
    /// </summary>
    public List<int> EncodeToIds(string text, bool allowSpecial = true)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        if (!allowSpecial || _addedPattern is null)
        {
            EncodePlain(text, ids);
            return ids;
        }
        int pos = 0;
        foreach (Match m in _addedPattern.Matches(text))
        {
            if (m.Index > pos) EncodePlain(text.Substring(pos, m.Index - pos), ids);
            ids.Add(_added[m.Value]);
            pos = m.Index + m.Length;
        }
        if (pos < text.Length) EncodePlain(text.Substring(pos), ids);
        return ids;
    }

    /// <summary>
    /// <c>EncodeToIds(text, allowSpecial).Count</c> without building the id list (the BPE core counts; about a fifth
    /// faster on long traces, where token-length features spend their time).
    /// </summary>
    public int CountTokens(string text, bool allowSpecial = true)
    {
        if (!allowSpecial || _addedPattern is null) return CountPlain(text);
        int pos = 0, count = 0;
        foreach (Match m in _addedPattern.Matches(text))
        {
            if (m.Index > pos) count += CountPlain(text.Substring(pos, m.Index - pos));
            count++;
            pos = m.Index + m.Length;
        }
        if (pos < text.Length) count += CountPlain(text.Substring(pos));
        return count;
    }

    string Normalized(string text) => _nfc && !text.IsNormalized(NormalizationForm.FormC) ? text.Normalize(NormalizationForm.FormC) : text;

    int CountPlain(string text) => text.Length == 0 ? 0 : _core.CountTokens(Normalized(text));

    void EncodePlain(string text, List<int> into)
    {
        if (text.Length == 0) return;
        into.AddRange(_core.EncodeToIds(Normalized(text)));
    }

    /// <summary>Text of <paramref name="ids"/>; added tokens decode to their literal text unless skipped.</summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = false)
    {
        var sb = new StringBuilder();
        var run = new List<int>();
        void Flush()
        {
            if (run.Count == 0) return;
            sb.Append(_core.Decode(run));
            run.Clear();
        }
        foreach (int id in ids)
        {
            if (_addedById.TryGetValue(id, out var t))
            {
                Flush();
                if (!(skipSpecial && t.Special)) sb.Append(t.Text);
            }
            else
            {
                if (id < 0 || id >= VocabSize)
                    throw new ArgumentOutOfRangeException(nameof(ids), $"token id {id} is outside tokenizer '{Name}' (vocabulary size {VocabSize})");
                run.Add(id);
            }
        }
        Flush();
        return sb.ToString();
    }

    /// <summary>
    /// Loads a Hugging Face tokenizer directory. Uses <c>vocab.json</c> + <c>merges.txt</c> when present,
    /// else <c>tokenizer.json</c>'s BPE model. Added tokens come from <c>tokenizer.json</c> (added_tokens)
    /// and <c>tokenizer_config.json</c> (added_tokens_decoder); the eos token from tokenizer_config.json
    /// (default <c>&lt;|endoftext|&gt;</c>).
    /// </summary>
    public static HfTokenizer Load(string directory)
    {
        if (!Directory.Exists(directory))
            throw new DirectoryNotFoundException($"tokenizer directory '{directory}' does not exist");
        string vocabPath = Path.Combine(directory, "vocab.json"), mergesPath = Path.Combine(directory, "merges.txt");
        string tokJsonPath = Path.Combine(directory, "tokenizer.json"), configPath = Path.Combine(directory, "tokenizer_config.json");

        JsonNode? tokJson = File.Exists(tokJsonPath) ? ParseJson(tokJsonPath) : null;
        JsonNode? config = File.Exists(configPath) ? ParseJson(configPath) : null;

        Dictionary<string, int> vocab;
        List<string> merges;
        var hashed = new List<string>();
        if (File.Exists(vocabPath) && File.Exists(mergesPath))
        {
            vocab = ReadVocab(ParseJson(vocabPath), vocabPath);
            merges = ReadMergesTxt(mergesPath);
            hashed.AddRange([vocabPath, mergesPath]);
        }
        else if (tokJson != null)
        {
            var model = tokJson["model"] ?? throw new FormatException($"{tokJsonPath}: no 'model' object");
            string type = model["type"]?.GetValue<string>() ?? "BPE";
            if (type != "BPE") throw new FormatException($"{tokJsonPath}: model type '{type}' is not supported (only byte-level BPE)");
            vocab = ReadVocab(model["vocab"] ?? throw new FormatException($"{tokJsonPath}: model has no 'vocab'"), tokJsonPath + ":model.vocab");
            merges = ReadMergesJson(model["merges"] as JsonArray ?? throw new FormatException($"{tokJsonPath}: model has no 'merges' array"), tokJsonPath);
        }
        else
        {
            throw new FileNotFoundException($"tokenizer directory '{directory}' has neither vocab.json + merges.txt nor tokenizer.json");
        }
        if (tokJson != null) hashed.Add(tokJsonPath);
        if (config != null) hashed.Add(configPath);

        var added = new Dictionary<int, AddedToken>();
        if (tokJson?["added_tokens"] is JsonArray at)
            foreach (var t in at)
            {
                int id = t!["id"]!.GetValue<int>();
                added[id] = new AddedToken(id, t["content"]!.GetValue<string>(), t["special"]?.GetValue<bool>() ?? true);
            }
        if (config?["added_tokens_decoder"] is JsonObject atd)
            foreach (var (key, t) in atd)
            {
                if (!int.TryParse(key, out int id)) throw new FormatException($"{configPath}: added_tokens_decoder key '{key}' is not an integer id");
                added[id] = new AddedToken(id, t!["content"]!.GetValue<string>(), t["special"]?.GetValue<bool>() ?? true);
            }
        foreach (var a in added.Values)
            if (vocab.TryGetValue(a.Content, out int vid) && vid != a.Id)
                throw new FormatException($"tokenizer '{directory}': added token '{a.Content}' has id {a.Id} but the vocabulary maps it to {vid}");
        foreach (var a in added.Values) vocab.Remove(a.Content);

        string eos = TokenText(config?["eos_token"]) ?? "<|endoftext|>";
        string? pad = TokenText(config?["pad_token"]);
        string pattern = PreTokenizerPattern(tokJson) ?? Qwen2PreTokenizerPattern;
        // Qwen2's fast tokenizer declares an NFC normalizer in tokenizer.json; its slow tokenizer (vocab.json +
        // merges.txt, tokenizer_class Qwen2Tokenizer) applies NFC in code.
        string? normalizer = tokJson?["normalizer"]?["type"]?.GetValue<string>();
        if (normalizer != null && normalizer != "NFC")
            throw new FormatException($"{tokJsonPath}: normalizer '{normalizer}' is not supported (only NFC)");
        bool nfc = normalizer == "NFC" || (config?["tokenizer_class"]?.GetValue<string>()?.StartsWith("Qwen2", StringComparison.Ordinal) ?? false);

        var options = new BpeOptions(vocab)
        {
            Merges = merges,
            ByteLevel = true,
            PreTokenizer = new RegexPreTokenizer(new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant), null),
        };
        Tokenizer core = BpeTokenizer.Create(options);
        int baseSize = vocab.Count == 0 ? 0 : vocab.Values.Max() + 1;
        return new HfTokenizer(core, added.Values.OrderBy(a => a.Id).ToList(), baseSize, eos, pad, directory, HashFiles(hashed), nfc);
    }

    /// <summary>
    /// The packaged cl100k_base encoding (for token-length features when the model's own tokenizer is
    /// not available), with ChatML's <c>&lt;|im_start|&gt;</c>=100264 and <c>&lt;|im_end|&gt;</c>=100265
    /// added as in OpenAI's cl100k_im.
    /// </summary>
    public static HfTokenizer Cl100kBase()
    {
        var core = TiktokenTokenizer.CreateForEncoding("cl100k_base");
        var added = new List<AddedToken>
        {
            new(100257, "<|endoftext|>", true), new(100258, "<|fim_prefix|>", true), new(100259, "<|fim_middle|>", true),
            new(100260, "<|fim_suffix|>", true), new(100264, "<|im_start|>", true), new(100265, "<|im_end|>", true),
            new(100276, "<|endofprompt|>", true),
        };
        return new HfTokenizer(core, added, 100256, "<|endoftext|>", null, "cl100k_base", "cl100k_base");
    }

    /// <summary>The name of the packaged encoding accepted by <see cref="FromSpec"/>.</summary>
    public const string Cl100kBaseSpec = "cl100k_base";

    /// <summary>A tokenizer from configuration: "cl100k_base" for the packaged encoding, else a HF tokenizer directory.</summary>
    public static HfTokenizer FromSpec(string spec) =>
        string.IsNullOrWhiteSpace(spec) ? throw new ArgumentException("tokenizer is not configured: give a Hugging Face tokenizer directory or 'cl100k_base'")
        : spec == Cl100kBaseSpec ? Cl100kBase() : Load(spec);

    static JsonNode ParseJson(string path)
    {
        try { return JsonNode.Parse(File.ReadAllText(path)) ?? throw new FormatException($"{path}: empty JSON"); }
        catch (JsonException e) { throw new FormatException($"{path}: invalid JSON at line {e.LineNumber + 1}: {e.Message}", e); }
    }

    static Dictionary<string, int> ReadVocab(JsonNode node, string origin)
    {
        if (node is not JsonObject o) throw new FormatException($"{origin}: vocabulary must be a JSON object of token → id");
        var v = new Dictionary<string, int>(o.Count, StringComparer.Ordinal);
        foreach (var (k, id) in o) v[k] = id?.GetValue<int>() ?? throw new FormatException($"{origin}: token '{k}' has a null id");
        return v;
    }

    static List<string> ReadMergesTxt(string path)
    {
        var merges = new List<string>();
        int line = 0;
        foreach (var raw in File.ReadLines(path))
        {
            line++;
            if (raw.StartsWith("#version") || raw.Length == 0) continue;
            if (raw.Split(' ').Length != 2) throw new FormatException($"{path}:{line}: a merge must be two tokens separated by one space, got '{raw}'");
            merges.Add(raw);
        }
        return merges;
    }

    static List<string> ReadMergesJson(JsonArray arr, string origin)
    {
        var merges = new List<string>(arr.Count);
        for (int i = 0; i < arr.Count; i++)
        {
            merges.Add(arr[i] switch
            {
                JsonValue s => s.GetValue<string>(),
                JsonArray pair when pair.Count == 2 => pair[0]!.GetValue<string>() + " " + pair[1]!.GetValue<string>(),
                _ => throw new FormatException($"{origin}: model.merges[{i}] is neither \"a b\" nor [\"a\", \"b\"]"),
            });
        }
        return merges;
    }

    static string? TokenText(JsonNode? n) => n switch
    {
        null => null,
        JsonValue v => v.GetValue<string>(),
        JsonObject o => o["content"]?.GetValue<string>(),
        _ => null,
    };

    /// <summary>The first Split regex of tokenizer.json's pre_tokenizer (Qwen2 / Llama 3 style), if any.</summary>
    static string? PreTokenizerPattern(JsonNode? tokJson)
    {
        var pre = tokJson?["pre_tokenizer"];
        if (pre is null) return null;
        IEnumerable<JsonNode?> parts = pre["pretokenizers"] is JsonArray seq ? seq : [pre];
        foreach (var p in parts)
            if (p?["type"]?.GetValue<string>() == "Split" && p["pattern"]?["Regex"] is JsonValue rx)
                return rx.GetValue<string>();
        return null;
    }

    static string HashFiles(IEnumerable<string> paths)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var p in paths.OrderBy(Path.GetFileName, StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(p) + "\0"));
            sha.AppendData(File.ReadAllBytes(p));
        }
        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
