using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
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
/// is normalised as UTF-8 bytes (<see cref="Utf8Words"/>; straight from an Arrow value buffer in the
/// stage) without allocating anything, and a window reaches the table only when every word is in the
/// pool's vocabulary and its hash passes a cache-resident bit filter.
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

    // A Bloom filter of 16 x table capacity bits (at least 32 per distinct n-gram, as the table is at most half
    // full) with two bits per key: one from its high bits, one from the same bits rotated (FilterBits). Almost
    // every window of a clean text misses, and this filter (a quarter of the table's size, so it stays in the
    // L2 cache) rejects all but ~0.5% of those misses without touching the table, whose probes would mostly
    // be cache misses. The second bit is read only when the first is set.
    ulong[] _filter = new ulong[1024 * 16 / 64];
    int _filterShift = 64 - 14;

    // The pool's vocabulary as a small bit filter (at least 8 bits per distinct word, so it stays in L1/L2):
    // a window can only match if all its words are in the vocabulary, so only windows ending a run of n
    // known words reach the n-gram filter. Words outside the vocabulary (names, numbers, typos) are common.
    readonly HashSet<ulong> _vocabulary = new();
    ulong[] _wordFilter = new ulong[(1 << 15) / 64];
    int _wordFilterShift = 64 - 15;

    int[] _postItem = new int[1024];
    int[] _postWord = new int[1024];
    int[] _postNext = new int[1024];     // -1 ends a chain
    int _postings;

    sealed record IndexedItem(BenchmarkText Source, byte[] Lower, int[] Start, int[] End);

    readonly bool _collideAll;
    readonly Utf8Words _addWords = new();

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
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Add(BenchmarkText item)
    {
        var words = _addWords;
        words.Normalise(words.Encode(item.Text));
        for (int w = 0; w < words.Count; w++) AddWord(words.Hash[w]);
        int itemIndex = _items.Count;
        _items.Add(new IndexedItem(item, words.Lower.ToArray(), words.Start[..words.Count], words.End[..words.Count]));
        if (words.Count < _n) return;

        ulong h = 0;
        for (int w = 0; w < words.Count; w++)
        {
            if (w >= _n) h -= words.Hash[w - _n] * _basePowNMinus1;
            h = h * RollBase + words.Hash[w];
            if (w >= _n - 1) AddPosting(NonZero(_collideAll ? EveryNgramCollides.Key(h) : h), itemIndex, w - _n + 1);
        }
    }

    /// <summary>
    /// The first n-gram of <paramref name="text"/>, in text order, that a test item contains, verified
    /// against the item's words; null when the text shares no n-gram with the pool.
    /// </summary>
    public NgramMatch? FirstMatch(string text)
    {
        var words = t_words ??= new Utf8Words();
        return FirstMatch(words.Encode(text));
    }

    /// <summary>
    /// <see cref="FirstMatch(string)"/> on UTF-8 text, e.g. straight from an Arrow string column's value
    /// buffer: the common plain-ASCII row is lower-cased, split and hashed as bytes, with no string at all.
    /// </summary>
    public NgramMatch? FirstMatch(ReadOnlySpan<byte> utf8) =>
        _collideAll ? FirstMatch<EveryNgramCollides>(utf8) : FirstMatch<RollingHashKeys>(utf8);

    /// <summary>What a window's rolling hash becomes as a table key: itself, or (tests) one key for all.</summary>
    interface IKeys { static abstract ulong Key(ulong rollingHash); }
    readonly struct RollingHashKeys : IKeys { public static ulong Key(ulong rollingHash) => rollingHash; }
    readonly struct EveryNgramCollides : IKeys { public static ulong Key(ulong rollingHash) => 1; }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a batch job's hot loop: skip tiered JIT's slow first phases
    NgramMatch? FirstMatch<TKeys>(ReadOnlySpan<byte> utf8) where TKeys : struct, IKeys
    {
        if (_postings == 0) return null;
        var words = t_words ??= new Utf8Words();
        words.Normalise(utf8);
        int n = _n, count = words.Count;
        if (count < n) return null;

        // The per-word loop reads through refs: the arrays' sizes are invariants of this class (the word
        // arrays hold Count entries, the filters cover every index their shifts can produce), so bounds checks
        // would only cost; and it keeps few values live, so that they stay in registers.
        ref ulong filter = ref MemoryMarshal.GetArrayDataReference(_filter);
        ref ulong wordFilter = ref MemoryMarshal.GetArrayDataReference(_wordFilter);
        ref ulong hashes = ref MemoryMarshal.GetArrayDataReference(words.Hash);
        int filterShift = _filterShift, wordFilterShift = _wordFilterShift;
        ulong basePow = _basePowNMinus1;
        ulong h = 0;
        int known = 0; // length of the run of vocabulary words ending at w
        for (int w = 0; w < count; w++)
        {
            ulong wordHash = Unsafe.Add(ref hashes, w);
            if (w >= n) h -= Unsafe.Add(ref hashes, w - n) * basePow;
            h = h * RollBase + wordHash;
            // Branch-free bookkeeping: most words are in the vocabulary (90% on GSM8K), so "is the run long
            // enough" is a coin flip the CPU cannot predict, whereas the n-gram filter almost always says no.
            ulong wordBit = wordHash >> wordFilterShift;
            known = (known + 1) & -(int)((Unsafe.Add(ref wordFilter, (nint)(wordBit >> 6)) >> (int)(wordBit & 63)) & 1);
            // The filter takes the rolling hash's high bits as they are (well mixed by the multiplications);
            // the finishing mix that spreads keys over the table's slots is paid only by the few that pass.
            ulong key = TKeys.Key(h);
            ulong bit = key >> filterShift;
            if (((Unsafe.Add(ref filter, (nint)(bit >> 6)) >> (int)(bit & 63)) & 1) == 0 || known < n) continue;
            bit = SecondFilterBit(key, filterShift);
            if (((Unsafe.Add(ref filter, (nint)(bit >> 6)) >> (int)(bit & 63)) & 1) == 0) continue;
            if (Probe(NonZero(key), words, w - n + 1) is { } match) return match;
        }
        return null;
    }

    /// <summary>Looks a window's key up in the table and verifies the candidates; null for a miss or a collision.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    NgramMatch? Probe(ulong key, Utf8Words words, int first)
    {
        var keys = _keys;
        ulong mask = (ulong)keys.Length - 1;
        for (ulong slot = Slot(key, mask); keys[slot] != 0; slot = (slot + 1) & mask)
        {
            if (keys[slot] != key) continue;
            var item = VerifiedItem(_heads[slot], words, first);
            return item >= 0 ? new NgramMatch(_items[item].Source, JoinWords(words, first), first) : null; // else a collision
        }
        return null;
    }

    [ThreadStatic] static Utf8Words? t_words;

    /// <summary>The earliest-added item whose words at a posting equal the text's window; -1 if none (hash collision).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    int VerifiedItem(int posting, Utf8Words words, int first)
    {
        int best = -1;
        for (int p = posting; p >= 0; p = _postNext[p])
        {
            int item = _postItem[p];
            if (best >= 0 && item >= best) continue;
            if (SameWords(_items[item], _postWord[p], words, first)) best = item;
        }
        return best;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    bool SameWords(IndexedItem item, int itemFirst, Utf8Words words, int first)
    {
        for (int k = 0; k < _n; k++)
        {
            int a = itemFirst + k;
            if (!item.Lower.AsSpan(item.Start[a], item.End[a] - item.Start[a]).SequenceEqual(words.Word(first + k))) return false;
        }
        return true;
    }

    string JoinWords(Utf8Words words, int first)
    {
        var sb = new StringBuilder();
        for (int w = first; w < first + _n; w++)
        {
            if (w > first) sb.Append(' ');
            sb.Append(Encoding.UTF8.GetString(words.Word(w)));
        }
        return sb.ToString();
    }

    /// <summary>A key is the n-gram's rolling hash, with 0 (reserved for empty slots) read as 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong NonZero(ulong h) => h == 0 ? 1 : h;

    /// <summary>A key's home slot: one mixing round spreads the rolling sum over the table's low bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong Slot(ulong key, ulong mask)
    {
        ulong h = (key ^ (key >> 31)) * 0xBF58476D1CE4E5B9UL;
        return (h ^ (h >> 29)) & mask;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // index builds are too short for tiered JIT to reach optimised code
    void AddPosting(ulong key, int item, int word)
    {
        if ((_distinct + 1) * 2 > _keys.Length) Grow();
        ulong mask = (ulong)_keys.Length - 1;
        ulong slot = Slot(key, mask);
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
            SetFilterBit(key);
            _postNext[_postings] = -1;
            _distinct++;
        }
        else _postNext[_postings] = _heads[slot];
        _heads[slot] = _postings++;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void AddWord(ulong wordHash)
    {
        if (!_vocabulary.Add(wordHash)) return;
        if ((long)_vocabulary.Count * 8 > (long)_wordFilter.Length * 64)
        {
            _wordFilter = new ulong[_wordFilter.Length * 2];
            _wordFilterShift--;
            foreach (var known in _vocabulary) SetBit(_wordFilter, _wordFilterShift, known);
        }
        else SetBit(_wordFilter, _wordFilterShift, wordHash);
    }

    static void SetBit(ulong[] bits, int shift, ulong hash)
    {
        ulong bit = hash >> shift;
        bits[bit >> 6] |= 1UL << (int)(bit & 63);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    void SetFilterBit(ulong key)
    {
        ulong bit = key >> _filterShift;
        _filter[bit >> 6] |= 1UL << (int)(bit & 63);
        bit = SecondFilterBit(key, _filterShift);
        _filter[bit >> 6] |= 1UL << (int)(bit & 63);
    }

    /// <summary>The filter's second bit for a key: the key's bits rotated, so that its index is independent of the first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static ulong SecondFilterBit(ulong key, int filterShift) => System.Numerics.BitOperations.RotateLeft(key, 29) >> filterShift;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void Grow()
    {
        var oldKeys = _keys;
        var oldHeads = _heads;
        _keys = new ulong[oldKeys.Length * 2];
        _heads = new int[oldKeys.Length * 2];
        _filter = new ulong[_keys.Length * 16 / 64];
        _filterShift--;
        ulong mask = (ulong)_keys.Length - 1;
        for (int i = 0; i < oldKeys.Length; i++)
        {
            if (oldKeys[i] == 0) continue;
            ulong slot = Slot(oldKeys[i], mask);
            while (_keys[slot] != 0) slot = (slot + 1) & mask;
            _keys[slot] = oldKeys[i];
            _heads[slot] = oldHeads[i];
            SetFilterBit(oldKeys[i]);
        }
    }
}
