using System.Text;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Decontaminate;
using IwSft.Cli.Bench;
using IwSft.Stages.Tests.IngestDecontam;

namespace IwSft.Stages.Tests;

/// <summary>Properties of the n-gram index over generated texts, each checked for many seeds.</summary>
public class DecontamPropertyTests
{
    // Benchmark words and filler words are disjoint, so the only shared n-grams are the planted ones.
    static readonly string[] BenchmarkVocabulary = Enumerable.Range(0, 60).Select(i => $"b{i}w").Concat(["$x$,", "(a)", "=", "\\frac{m}{n}"]).ToArray();
    static readonly string[] FillerVocabulary = Enumerable.Range(0, 60).Select(i => $"f{i}z").ToArray();

    static string RandomWords(Random rng, string[] vocabulary, int count) =>
        string.Join(' ', Enumerable.Range(0, count).Select(_ => vocabulary[rng.Next(vocabulary.Length)]));

    /// <summary>Joins words with random runs of whitespace (space, tab, newline, NBSP, U+001F) and random case.</summary>
    static string Scramble(Random rng, IEnumerable<string> words)
    {
        string[] gaps = [" ", "  ", "\t", "\n", " \r\n ", "\u00A0", "\u001F", "\u2003"];
        var sb = new StringBuilder(gaps[rng.Next(gaps.Length)]);
        foreach (var w in words)
        {
            foreach (var c in w) sb.Append(rng.Next(2) == 0 ? char.ToUpperInvariant(c) : c);
            sb.Append(gaps[rng.Next(gaps.Length)]);
        }
        return sb.ToString();
    }

    static List<BenchmarkText> Pool(Random rng) =>
        Enumerable.Range(0, 20).Select(i => new BenchmarkText(i % 2 == 0 ? "even" : "odd", $"item{i}", RandomWords(rng, BenchmarkVocabulary, rng.Next(8, 40)))).ToList();

    public static IEnumerable<object[]> Seeds => Enumerable.Range(1, 25).Select(s => new object[] { s });

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Finds_every_planted_ngram_whatever_its_case_and_whitespace(int seed)
    {
        var rng = new Random(seed);
        var pool = Pool(rng);
        var index = new NgramIndex(8, pool);
        var reference = new ReferenceDecontaminator(8, pool);
        for (int trial = 0; trial < 40; trial++)
        {
            var source = pool[rng.Next(pool.Count)];
            var words = S1Text.Words(source.Text);
            int at = rng.Next(words.Count - 8 + 1);
            var planted = words.GetRange(at, 8);
            var before = RandomWords(rng, FillerVocabulary, rng.Next(0, 30)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var after = RandomWords(rng, FillerVocabulary, rng.Next(0, 30)).Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var text = Scramble(rng, before.Concat(planted).Concat(after));

            var match = index.FirstMatch(text);
            Assert.NotNull(match);
            Assert.Equal(string.Join(' ', planted), match!.Ngram);
            Assert.Equal(before.Length, match.Word);
            Assert.Contains(string.Join(' ', planted), S1Text.Ngrams(match.Item.Text, 8));
            Assert.True(reference.IsContaminated(text));
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Finds_nothing_when_every_window_of_benchmark_words_is_interrupted(int seed)
    {
        var rng = new Random(seed);
        var pool = Pool(rng);
        var index = new NgramIndex(8, pool);
        var reference = new ReferenceDecontaminator(8, pool);
        foreach (var item in pool)
        {
            // the item's own words, with a filler word after every 7th: no 8 consecutive words survive
            var words = S1Text.Words(item.Text);
            var broken = new List<string>();
            for (int i = 0; i < words.Count; i++)
            {
                broken.Add(words[i]);
                if (i % 7 == 6) broken.Add(FillerVocabulary[rng.Next(FillerVocabulary.Length)]);
            }
            var text = Scramble(rng, broken);
            Assert.Null(index.FirstMatch(text));
            Assert.False(reference.IsContaminated(text));
            // and the unbroken text is found (a control that the interruption is what matters)
            if (words.Count >= 8) Assert.NotNull(index.FirstMatch(Scramble(rng, words)));
        }
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Verification_alone_decides_even_if_every_ngram_hash_collides(int seed)
    {
        var rng = new Random(seed);
        var pool = Pool(rng);
        var fast = new NgramIndex(8, pool);
        var colliding = new NgramIndex(8, pool, collideAll: true);
        var reference = new ReferenceDecontaminator(8, pool);
        for (int trial = 0; trial < 30; trial++)
        {
            // mixed texts: filler with runs of benchmark words of random length (some ≥ 8, most not)
            var parts = new List<string>();
            while (parts.Count < 40)
            {
                parts.AddRange(RandomWords(rng, FillerVocabulary, rng.Next(1, 4)).Split(' '));
                var item = S1Text.Words(pool[rng.Next(pool.Count)].Text);
                int len = Math.Min(item.Count, rng.Next(1, 10)), at = rng.Next(item.Count - len + 1);
                parts.AddRange(item.GetRange(at, len));
            }
            var text = Scramble(rng, parts);
            var expected = reference.FirstMatch(text)?.Ngram;
            Assert.Equal(expected, fast.FirstMatch(text)?.Ngram);
            Assert.Equal(expected, colliding.FirstMatch(text)?.Ngram);
        }
    }

    /// <summary>
    /// Near misses, made only of pool words so that every window passes the vocabulary filter and, in the colliding
    /// index, reaches verification: (a) a real 8-gram of an item with one word (the first, the last, or one between)
    /// replaced by another pool word; (b) the tail of one item run straight into the head of another, so that the
    /// windows across the seam are 8 pool words in a row that no item contains. Only word-by-word verification of all
    /// n words tells these from matches; skipping a word of it, or skipping it, flags them.
    /// </summary>
    [Theory]
    [MemberData(nameof(Seeds))]
    public void Near_misses_are_rejected_by_verification_word_for_word(int seed)
    {
        var rng = new Random(seed);
        var pool = Pool(rng);
        var fast = new NgramIndex(8, pool);
        var colliding = new NgramIndex(8, pool, collideAll: true);
        var reference = new ReferenceDecontaminator(8, pool);
        var long8 = pool.Where(p => S1Text.Words(p.Text).Count >= 8).ToList();
        int clean = 0, trials = 0;

        void Check(string text)
        {
            trials++;
            var expected = reference.FirstMatch(text)?.Ngram;
            if (expected is null) clean++;
            Assert.Equal(expected, fast.FirstMatch(text)?.Ngram);
            Assert.Equal(expected, colliding.FirstMatch(text)?.Ngram);
        }

        for (int trial = 0; trial < 48; trial++)
        {
            // (a) 7 of 8 words: replace word k of a real 8-gram (k runs over every position).
            var words = S1Text.Words(long8[rng.Next(long8.Count)].Text);
            int at = rng.Next(words.Count - 8 + 1), k = trial % 8;
            var window = words.GetRange(at, 8);
            string replacement;
            do replacement = BenchmarkVocabulary[rng.Next(BenchmarkVocabulary.Length)].ToLowerInvariant();
            while (replacement == window[k]);
            window[k] = replacement;
            Check(Scramble(rng, window));

            // (b) two items touching: the last j words of one, then the first 7 of another (no filler between).
            var a = S1Text.Words(pool[rng.Next(pool.Count)].Text);
            var b = S1Text.Words(long8[rng.Next(long8.Count)].Text);
            int j = 1 + rng.Next(Math.Min(7, a.Count));
            Check(Scramble(rng, a.Skip(a.Count - j).Concat(b.Take(7))));
        }
        // The generator makes near misses, not matches: almost every text is clean, so verification is what is tested.
        Assert.True(clean >= trials * 9 / 10, $"only {clean} of {trials} generated texts are clean");
    }

    [Fact]
    public void Normalisation_is_s1s_lowercase_and_whitespace_only()
    {
        var index = new NgramIndex(3, [new BenchmarkText("b", "1", "Let $x$ be REAL.")]);
        Assert.Equal("let $x$ be", index.FirstMatch("so,  LET\t$X$\nbe it")!.Ngram);
        Assert.Null(index.FirstMatch("let $x$, be real."));           // punctuation is part of the word
        Assert.Null(index.FirstMatch("let x be real."));
        Assert.Equal("let $x$ be", index.FirstMatch("LET\u001F$x$\u00A0be   real.")!.Ngram); // Python splits on U+001F and NBSP
        Assert.Null(new NgramIndex(8, [new BenchmarkText("b", "1", "one two three four five six seven")]).FirstMatch("one two three four five six seven"));
        Assert.Equal(["a b", "b c"], S1Text.Ngrams(" A\tb\n\nC ", 2));
    }

    [Theory]
    [InlineData("x\u0001y z w v", "x\u0001y z w v", true)]       // U+0001 is not whitespace: part of the word
    [InlineData("x\u0001y z w v", "x y z w v", false)]
    [InlineData("ÉTÉ ΣΟΦΊΑ straße q", "été σοφία STRASSE q", false)] // simple case mapping only, as str.lower()
    [InlineData("ÉTÉ ΣΟΦΊΑ Straße q", "été σοφία straße Q", true)]
    [InlineData("a\u2003b\u001cc d", "A B C D", true)]
    [InlineData("𐐀𐐁 b c d", "𐐨𐐩 B C D", true)]                 // Deseret: surrogate pairs lower-case as one code point
    public void Plain_ascii_and_general_paths_agree_with_the_reference(string pooled, string text, bool shared)
    {
        var index = new NgramIndex(4, [new BenchmarkText("b", "1", pooled)]);
        var reference = new ReferenceDecontaminator(4, [new BenchmarkText("b", "1", pooled)]);
        Assert.Equal(shared, reference.IsContaminated(text));
        Assert.Equal(shared, index.FirstMatch(text) is not null);
    }

    [Fact]
    public void First_match_is_first_in_text_order_and_names_the_earliest_item()
    {
        var index = new NgramIndex(2, [
            new BenchmarkText("x", "1", "c d e"),
            new BenchmarkText("y", "2", "a b"),
            new BenchmarkText("z", "3", "a b again"),
        ]);
        var m = index.FirstMatch("zz a b c d")!;
        Assert.Equal(("a b", 1, "y", "2"), (m.Ngram, m.Word, m.Item.Benchmark, m.Item.ItemId));
    }

    [Fact]
    public async Task Stage_checks_configured_fields_and_chains_sources_like_s1()
    {
        var schema = TableSchema.Get("candidates");
        var b = new BatchBuilder(schema);
        void Row(string id, string source, string question, string? solution = null) =>
            b.Set("id", id).Set("question", question).Set("solution", solution).Set("source", source).EndRow();
        Row("a1", "A", "alpha beta gamma delta");
        Row("a2", "A", "alpha beta gamma delta again");           // same source: not checked against a1
        Row("b1", "B", "say alpha beta gamma delta");            // later source: hits A's kept a1
        Row("b2", "B", "nothing here at all", "uses bench one two three");
        var candidates = new List<Apache.Arrow.RecordBatch> { b.Build() };
        var bb = new BatchBuilder(TableSchema.Get("benchmark_items"));
        bb.Set("id", "t").Set("benchmark", "bench").Set("item_id", "7").Set("question", "bench one two three four").EndRow();
        var benchmarks = new List<Apache.Arrow.RecordBatch> { bb.Build() };

        var plain = await Harness.DecontaminateAsync(candidates, benchmarks, new DecontaminateConfig { N = 4, Fields = ["question", "solution"] });
        var removed = plain.DecisionRows.Where(d => !d.Kept).ToList();
        Assert.Equal("b2", Assert.Single(removed).Id);
        Assert.Equal("benchmark=bench item=7 field=solution word=1 ngram=\"bench one two three\"", removed[0].Detail);
        Assert.Equal(["a1", "a2", "b1"], plain.Column(DecontaminateStage.CleanOutput, "id"));

        var chained = await Harness.DecontaminateAsync(candidates, benchmarks, new DecontaminateConfig { N = 4, Fields = ["question", "solution"], ChainSources = true });
        Assert.Equal(["a1", "a2"], chained.Column(DecontaminateStage.CleanOutput, "id"));
        var b1 = chained.DecisionRows.Single(d => d.Id == "b1");
        Assert.Equal("benchmark=source:A item=a1 field=question word=1 ngram=\"alpha beta gamma delta\"", b1.Detail);
        Assert.Equal(1, chained.Metrics["contaminated.source:A"]);
        Assert.Equal(1, chained.Metrics["contaminated.bench"]);
        Assert.Equal(2, chained.Metrics["kept"]);
    }
}
