namespace IwSft.Stages.Decontaminate;

/// <summary>Where a text first shares an n-gram with the test pool.</summary>
/// <param name="Item">The test item containing the n-gram (the earliest added, when several do).</param>
/// <param name="Ngram">The shared n-gram, normalised (lower case, single spaces).</param>
/// <param name="Word">0-based word position of the n-gram in the checked text.</param>
public sealed record NgramMatch(BenchmarkText Item, string Ngram, int Word);

/// <summary>
/// The fast form of s1's n-gram decontamination. Test items are tokenised once (s1 normalisation);
/// every n-gram is reduced to a 64-bit rolling hash of its word hashes and stored in an
/// open-addressing table whose postings say which item and word position produced it. A checked text
/// is tokenised without allocating per word or per n-gram, and each window costs one table probe.
/// <para>
/// Hashes only nominate: every hash hit is re-checked word by word against the posting's actual
/// n-gram, so a 64-bit collision can never flag a clean record. (A collision between unrelated
/// n-grams is rare but certain to happen somewhere over billions of windows, and a false
/// "contaminated" would silently drop training data and misreport which test item leaked.)
/// </para>
/// Reads (<see cref="FirstMatch"/>) are thread-safe as long as no <see cref="Add"/> runs concurrently.
/// </summary>
public sealed class NgramIndex
{
    const ulong RollBase = 0x9E3779B97F4A7C15UL; // odd, so multiplication by it is a bijection mod 2^64

    readonly int _n;
    readonly ulong _basePowNMinus1;
    readonly List<IndexedItem> _items = new();

    ulong[] _keys = new ulong[1024];     // 0 = empty slot
    int[] _heads = new int[1024];        // first posting of the slot's n-gram
    int _distinct;

    int[] _postItem = new int[1024];
    int[] _postWord = new int[1024];
    int[] _postNext = new int[1024];     // -1 ends a chain
    int _postings;

    sealed record IndexedItem(BenchmarkText Source, string Lower, int[] Start, int[] Length);

    readonly bool _collideAll;

    public NgramIndex(int n, IEnumerable<BenchmarkText>? items = null) : this(n, items, collideAll: false) { }

    /// <summary>
    /// <paramref name="collideAll"/> gives every n-gram the same hash, so that tests can show that
    /// verification alone decides (results must not change). Slow; for tests only.
    /// </summary>
    internal NgramIndex(int n, IEnumerable<BenchmarkText>? items, bool collideAll)
    {
        _collideAll = collideAll;
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "n-gram size must be at least 1");
        _n = n;
        _basePowNMinus1 = 1;
        for (int i = 1; i < n; i++) _basePowNMinus1 *= RollBase;
        if (items != null) foreach (var item in items) Add(item);
    }

    public int N => _n;
    public int ItemCount => _items.Count;
    public int DistinctNgrams => _distinct;

    /// <summary>Adds a test item's n-grams to the pool.</summary>
    public void Add(BenchmarkText item)
    {
        var lower = S1Text.Lower(item.Text);
        var words = Tokenize(lower, new Scratch());
        var starts = words.Start.AsSpan(0, words.Count).ToArray();
        var lengths = words.Length.AsSpan(0, words.Count).ToArray();
        int itemIndex = _items.Count;
        _items.Add(new IndexedItem(item, lower, starts, lengths));
        if (words.Count < _n) return;

        ulong h = 0;
        for (int w = 0; w < words.Count; w++)
        {
            h = Roll(h, words, w);
            if (w < _n - 1) continue;
            int first = w - _n + 1;
            AddPosting(Finish(h), itemIndex, first);
        }
    }

    /// <summary>
    /// The first n-gram of <paramref name="text"/>, in text order, that a test item contains, verified
    /// against the item's words; null when the text shares no n-gram with the pool.
    /// </summary>
    public NgramMatch? FirstMatch(string text)
    {
        if (_postings == 0) return null;
        var lower = S1Text.Lower(text);
        var scratch = t_scratch ??= new Scratch();
        var words = Tokenize(lower, scratch);
        if (words.Count < _n) return null;

        ulong mask = (ulong)_keys.Length - 1;
        ulong h = 0;
        for (int w = 0; w < words.Count; w++)
        {
            h = Roll(h, words, w);
            if (w < _n - 1) continue;
            ulong key = Finish(h);
            ulong slot = key & mask;
            while (true)
            {
                ulong k = _keys[slot];
                if (k == 0) break;
                if (k == key)
                {
                    int first = w - _n + 1;
                    var item = VerifiedItem(_heads[slot], lower, words, first);
                    if (item >= 0) return new NgramMatch(_items[item].Source, JoinWords(lower, words, first), first);
                    break; // a collision: this window's n-gram is not in the pool
                }
                slot = (slot + 1) & mask;
            }
        }
        return null;
    }

    /// <summary>The earliest-added item whose words at a posting equal the text's window; -1 if none (hash collision).</summary>
    int VerifiedItem(int posting, string lower, Scratch words, int first)
    {
        int best = -1;
        for (int p = posting; p >= 0; p = _postNext[p])
        {
            int item = _postItem[p];
            if (best >= 0 && item >= best) continue;
            if (SameWords(_items[item], _postWord[p], lower, words, first)) best = item;
        }
        return best;
    }

    bool SameWords(IndexedItem item, int itemFirst, string lower, Scratch words, int first)
    {
        for (int k = 0; k < _n; k++)
        {
            int a = itemFirst + k, b = first + k;
            if (item.Length[a] != words.Length[b]) return false;
            if (!item.Lower.AsSpan(item.Start[a], item.Length[a]).SequenceEqual(lower.AsSpan(words.Start[b], words.Length[b])))
                return false;
        }
        return true;
    }

    static string JoinWords(string lower, Scratch words, int first, int n) =>
        string.Join(' ', Enumerable.Range(first, n).Select(w => lower.Substring(words.Start[w], words.Length[w])));

    string JoinWords(string lower, Scratch words, int first) => JoinWords(lower, words, first, _n);

    ulong Roll(ulong h, Scratch words, int w)
    {
        if (w >= _n) h -= words.Hash[w - _n] * _basePowNMinus1;
        return h * RollBase + words.Hash[w];
    }

    /// <summary>Spreads the rolling hash over the table's low bits; 0 is reserved for empty slots.</summary>
    ulong Finish(ulong h)
    {
        if (_collideAll) return 1;
        h = Mix(h);
        return h == 0 ? 1 : h;
    }

    static ulong Mix(ulong z)
    {
        z ^= z >> 33; z *= 0xFF51AFD7ED558CCDUL;
        z ^= z >> 33; z *= 0xC4CEB9FE1A85EC53UL;
        z ^= z >> 33;
        return z;
    }

    void AddPosting(ulong key, int item, int word)
    {
        if ((_distinct + 1) * 2 > _keys.Length) Grow();
        ulong mask = (ulong)_keys.Length - 1;
        ulong slot = key & mask;
        while (_keys[slot] != 0 && _keys[slot] != key) slot = (slot + 1) & mask;
        if (_postings == _postItem.Length)
        {
            Array.Resize(ref _postItem, _postings * 2);
            Array.Resize(ref _postWord, _postings * 2);
            Array.Resize(ref _postNext, _postings * 2);
        }
        _postItem[_postings] = item;
        _postWord[_postings] = word;
        if (_keys[slot] == 0)
        {
            _keys[slot] = key;
            _postNext[_postings] = -1;
            _distinct++;
        }
        else _postNext[_postings] = _heads[slot];
        _heads[slot] = _postings++;
    }

    void Grow()
    {
        var oldKeys = _keys;
        var oldHeads = _heads;
        _keys = new ulong[oldKeys.Length * 2];
        _heads = new int[oldKeys.Length * 2];
        ulong mask = (ulong)_keys.Length - 1;
        for (int i = 0; i < oldKeys.Length; i++)
        {
            if (oldKeys[i] == 0) continue;
            ulong slot = oldKeys[i] & mask;
            while (_keys[slot] != 0) slot = (slot + 1) & mask;
            _keys[slot] = oldKeys[i];
            _heads[slot] = oldHeads[i];
        }
    }

    /// <summary>Word boundaries and word hashes of one text; reused per thread to avoid allocation.</summary>
    sealed class Scratch
    {
        public int[] Start = new int[256];
        public int[] Length = new int[256];
        public ulong[] Hash = new ulong[256];
        public int Count;

        public void Append(int start, int length, ulong hash)
        {
            if (Count == Start.Length)
            {
                Array.Resize(ref Start, Count * 2);
                Array.Resize(ref Length, Count * 2);
                Array.Resize(ref Hash, Count * 2);
            }
            Start[Count] = start;
            Length[Count] = length;
            Hash[Count] = hash;
            Count++;
        }
    }

    [ThreadStatic] static Scratch? t_scratch;

    /// <summary>Splits lower-cased text into words (s1's split()) and hashes each word (FNV-1a, then mixed).</summary>
    static Scratch Tokenize(string lower, Scratch words)
    {
        words.Count = 0;
        int i = 0, len = lower.Length;
        while (i < len)
        {
            while (i < len && S1Text.IsSplitWhitespace(lower[i])) i++;
            if (i == len) break;
            int start = i;
            ulong h = 0xCBF29CE484222325UL;
            while (i < len)
            {
                char c = lower[i];
                if (c <= ' ' ? S1Text.IsSplitWhitespace(c) : c >= '\x7f' && S1Text.IsSplitWhitespace(c)) break;
                h = (h ^ c) * 0x100000001B3UL;
                i++;
            }
            words.Append(start, i - start, Mix(h));
        }
        return words;
    }
}
