using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using Parquet;
using Parquet.Serialization;

namespace IwSft.Cli.Bench;

/// <summary>A row in the shape of <c>simplescaling/data_ablation_full59K</c> (column names, order and types of its dataset card).</summary>
public sealed class S1kPoolRow
{
    [JsonPropertyName("solution")] public string? Solution { get; set; }
    [JsonPropertyName("question")] public string? Question { get; set; }
    [JsonPropertyName("cot_type")] public string? CotType { get; set; }
    [JsonPropertyName("source_type")] public string? SourceType { get; set; }
    [JsonPropertyName("metadata")] public string? Metadata { get; set; }
    /// <summary>The Arrow null type in the real file: stored as an all-null int32 column, typed null by <c>ARROW:schema</c>.</summary>
    [JsonPropertyName("cot")] public int? Cot { get; set; }
    [JsonPropertyName("thinking_trajectories")] public List<string>? ThinkingTrajectories { get; set; }
    [JsonPropertyName("attempt")] public string? Attempt { get; set; }
}

/// <summary>What the generated pool holds (for checks and the bench's figures).</summary>
public sealed record S1kPoolInfo(string Path, int Rows, long TraceBytes, long TextBytes, long FileBytes, int RowGroups,
    int BenchmarkCopies, int DuplicateRows, int SourceCount);

/// <summary>
/// A deterministic pool shaped like s1's 59K pool: the same columns and types (<c>thinking_trajectories</c> list&lt;string&gt;,
/// a null-typed <c>cot</c>, JSON text in <c>metadata</c>, every source in one table told apart by <c>source_type</c>,
/// interleaved), questions built on real question text (variants of the given base questions, each base question's
/// variants in one source, so s1's chained decontamination does not remove them), a copy of a benchmark question in
/// every 97th row (decontamination hits), an exact duplicate in every 1,009th row, and traces of <c>traceBytes</c> on
/// average (uniform between half and 1.5 times, words drawn from the base questions' vocabulary). The same arguments
/// give the same bytes. Row groups are cut at about 64 MiB of text, written with Snappy as Parquet.Net does.
/// </summary>
public static class S1kScalePool
{
    /// <summary>The benchmark rule of s1's selection matches this source (MATH, traces over 5,600 tokens): about 1 in 150 base questions.</summary>
    public const string MathSource = "qfq/openaimath";
    static readonly string[] OtherSources =
    [
        "AI-MO/NuminaMath-CoT/aops_forum", "AI-MO/NuminaMath-CoT/olympiads", "AI-MO/NuminaMath-CoT/cn_k12", "AI-MO/NuminaMath-CoT/amc_aime",
        "KbsdJames/Omni-MATH", "daman1209arora/jeebench/math", "TIGER-Lab/TheoremQA/integer", "qq8933/AIME_1983_2024", "GAIR/OlympicArena/Math",
    ];
    static readonly string[] CotTypes = ["math", "math", "math", "math", "math", "math", "science", "science", "crossword", "math"];

    public static string SourceOf(int baseIndex) => baseIndex % 150 == 0 ? MathSource : OtherSources[baseIndex % OtherSources.Length];

    public static async Task<S1kPoolInfo> WriteAsync(string path, int rows, int traceBytes, IReadOnlyList<string> baseQuestions,
        IReadOnlyList<string> benchmarkQuestions, long rowGroupBytes = 64L << 20, CancellationToken ct = default)
    {
        if (baseQuestions.Count == 0) throw new ArgumentException("no base questions");
        var vocabulary = Vocabulary(baseQuestions);
        var rng = new SplitMix(0x51_4B_5CA1E);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        var partial = path + ".partial";
        var group = new List<S1kPoolRow>();
        long groupBytes = 0, traceTotal = 0, textTotal = 0;
        int groups = 0, benchmarkCopies = 0, duplicates = 0;
        string? previousQuestion = null, previousSource = null;
        var sources = new HashSet<string>(StringComparer.Ordinal);
        async Task FlushAsync()
        {
            if (group.Count == 0) return;
            await using var stream = groups == 0 ? File.Create(partial) : new FileStream(partial, FileMode.Open, FileAccess.ReadWrite);
            var options = new ParquetOptions { Append = groups > 0 };
            options.ColumnEncodingHints["source_type"] = EncodingHint.Dictionary;   // as pyarrow writes repeated strings
            await ParquetSerializer.SerializeAsync(group, stream, options, groups == 0 ? ArrowSchemaWithNullCot() : null, ct);
            groups++;
            group.Clear();
            groupBytes = 0;
        }

        for (int i = 0; i < rows; i++)
        {
            int baseIndex = i % baseQuestions.Count, variant = i / baseQuestions.Count;
            string source = SourceOf(baseIndex);
            string question;
            if (i % 97 == 13 && benchmarkQuestions.Count > 0)
            {
                question = $"Problem {i}: {benchmarkQuestions[(i / 97) % benchmarkQuestions.Count]}";
                benchmarkCopies++;
            }
            else if (i % 1009 == 7 && previousQuestion != null)
            {
                question = previousQuestion;
                source = previousSource!;
                duplicates++;
            }
            else question = variant == 0 ? baseQuestions[baseIndex] : $"{baseQuestions[baseIndex]} (Variant {variant}.)";
            int size = (int)(traceBytes * (0.5 + rng.NextDouble()));
            var pieces = i % 10 == 3 ? new List<string> { Words(rng, vocabulary, size / 3), Words(rng, vocabulary, size - size / 3) } : [Words(rng, vocabulary, size)];
            var row = new S1kPoolRow
            {
                Solution = Words(rng, vocabulary, 600) + $" The answer is {i % 1000}.",
                Question = question,
                CotType = CotTypes[baseIndex % CotTypes.Length],
                SourceType = source,
                Metadata = $"{{\"row\": {i}, \"level\": {1 + i % 5}, \"subject\": \"{CotTypes[baseIndex % CotTypes.Length]}\"}}",
                Cot = null,
                ThinkingTrajectories = pieces,
                Attempt = Words(rng, vocabulary, 1500) + $"\nAnswer: {i % 1000}",
            };
            long trace = pieces.Sum(p => (long)p.Length);
            long text = trace + row.Solution.Length + Encoding.UTF8.GetByteCount(row.Question) + row.CotType.Length + row.SourceType.Length
                        + row.Metadata.Length + row.Attempt.Length;
            traceTotal += trace;
            textTotal += text;
            sources.Add(source);
            group.Add(row);
            groupBytes += text;
            previousQuestion = question;
            previousSource = source;
            if (groupBytes >= rowGroupBytes) await FlushAsync();
        }
        await FlushAsync();
        File.Move(partial, path, overwrite: true);
        return new S1kPoolInfo(path, rows, traceTotal, textTotal, new FileInfo(path).Length, groups, benchmarkCopies, duplicates, sources.Count);
    }

    /// <summary>Distinct words of the base questions (ASCII letters only, so a trace's size in bytes is its length).</summary>
    static string[] Vocabulary(IReadOnlyList<string> questions)
    {
        var words = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var q in questions.Take(2000))
            foreach (var w in q.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                if (w.Length is > 1 and < 16 && w.All(char.IsAsciiLetter)) words.Add(w.ToLowerInvariant());
        if (words.Count < 100) foreach (var w in "let us think step by step about the sum of two numbers then check the answer again carefully".Split(' ')) words.Add(w);
        return words.ToArray();
    }

    /// <summary>About <paramref name="bytes"/> characters of words from the vocabulary, sentences ending with a period.</summary>
    static string Words(SplitMix rng, string[] vocabulary, int bytes)
    {
        var sb = new StringBuilder(bytes + 16);
        int inSentence = 0;
        while (sb.Length < bytes)
        {
            sb.Append(vocabulary[rng.Next(vocabulary.Length)]);
            if (++inSentence >= 12 && rng.Next(4) == 0) { sb.Append(". "); inSentence = 0; }
            else sb.Append(' ');
        }
        return sb.ToString(0, bytes);
    }

    /// <summary>The <c>ARROW:schema</c> key pyarrow writes (base64 of an Arrow IPC schema), here typing <c>cot</c> as null.</summary>
    static Dictionary<string, string> ArrowSchemaWithNullCot()
    {
        var schema = new Schema.Builder()
            .Field(f => f.Name("solution").DataType(StringType.Default).Nullable(true))
            .Field(f => f.Name("question").DataType(StringType.Default).Nullable(true))
            .Field(f => f.Name("cot_type").DataType(StringType.Default).Nullable(true))
            .Field(f => f.Name("source_type").DataType(StringType.Default).Nullable(true))
            .Field(f => f.Name("metadata").DataType(StringType.Default).Nullable(true))
            .Field(f => f.Name("cot").DataType(NullType.Default).Nullable(true))
            .Field(f => f.Name("thinking_trajectories").DataType(new ListType(StringType.Default)).Nullable(true))
            .Field(f => f.Name("attempt").DataType(StringType.Default).Nullable(true))
            .Build();
        using var ms = new MemoryStream();
        using (var w = new ArrowStreamWriter(ms, schema, leaveOpen: true)) w.WriteStart();
        return new() { ["ARROW:schema"] = Convert.ToBase64String(ms.ToArray()) };
    }

    /// <summary>Questions of a JSONL file's <paramref name="field"/> (the shared data's candidate and benchmark files).</summary>
    public static List<string> ReadQuestions(string jsonlPath, string field)
    {
        var list = new List<string>();
        foreach (var line in File.ReadLines(jsonlPath))
        {
            if (string.IsNullOrWhiteSpace(line)) continue;
            using var doc = JsonDocument.Parse(line);
            if (doc.RootElement.TryGetProperty(field, out var v) && v.ValueKind == JsonValueKind.String) list.Add(v.GetString()!);
        }
        return list;
    }

    sealed class SplitMix(ulong seed)
    {
        ulong _state = seed;
        public ulong NextUlong()
        {
            ulong z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            return z ^ (z >> 31);
        }
        public int Next(int max) => (int)(NextUlong() % (ulong)max);
        public double NextDouble() => (NextUlong() >> 11) * (1.0 / (1UL << 53));
    }
}
