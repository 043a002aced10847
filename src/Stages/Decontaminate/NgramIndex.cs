using System.Runtime.Intrinsics;
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

    // One bit per (8 x table capacity) positions, set from the keys' high bits. Almost every window of a
    // clean text misses, and this filter (an eighth of the table's size, so it stays in cache) rejects
    // most of those misses without touching the table, whose probes would mostly be cache misses.
    ulong[] _filter = new ulong[1024 * 8 / 64];
    int _filterShift = 64 - 13;

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
        for (int w = 0; w < words.Count; w++) AddWord(words.Hash[w]);
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
        var scratch = t_scratch ??= new Scratch();
        ReadOnlySpan<char> lower;
        if (IsPlainAscii(text))
        {
            // The common case, vectorised: ASCII lower-casing into a reused buffer; every char <= ' ' is a separator.
            var buffer = scratch.LowerBuffer(text.Length);
            System.Text.Ascii.ToLower(text, buffer, out _);
            lower = buffer.AsSpan(0, text.Length);
            TokenizeAscii(lower, scratch);
        }
        else
        {
            lower = S1Text.Lower(text);
            Tokenize(lower, scratch);
        }
        var words = scratch;
        if (words.Count < _n) return null;

        var keys = _keys;
        var filter = _filter;
        var wordFilter = _wordFilter;
        int filterShift = _filterShift, wordFilterShift = _wordFilterShift, n = _n;
        ulong mask = (ulong)keys.Length - 1;
        ulong h = 0;
        int known = 0; // length of the run of vocabulary words ending at w
        for (int w = 0; w < words.Count; w++)
        {
            h = Roll(h, words, w);
            ulong wordBit = words.Hash[w] >> wordFilterShift;
            known = (wordFilter[wordBit >> 6] & (1UL << (int)(wordBit & 63))) == 0 ? 0 : known + 1;
            if (known < n) continue;
            ulong key = Finish(h);
            ulong bit = key >> filterShift;
            if ((filter[bit >> 6] & (1UL << (int)(bit & 63))) == 0) continue;
            ulong slot = key & mask;
            while (true)
            {
                ulong k = keys[slot];
                if (k == 0) break;
                if (k == key)
                {
                    int first = w - n + 1;
                    var item = VerifiedItem(_heads[slot], lower, words, first);
                    if (item >= 0) return new NgramMatch(_items[item].Source, JoinWords(lower, words, first), first);
                    break; // a collision: this window's n-gram is not in the pool
                }
                slot = (slot + 1) & mask;
            }
        }
        return null;
    }

    /// <summary>
    /// ASCII without the control characters that are not separators (U+0000..U+0008, U+000E..U+001B): then
    /// "char &lt;= ' '" is exactly Python's whitespace test and ASCII lower-casing is exactly ToLowerInvariant.
    /// </summary>
    static bool IsPlainAscii(string text)
    {
        var s = text.AsSpan();
        return System.Text.Ascii.IsValid(s) && s.IndexOfAnyInRange('\0', '\x08') < 0 && s.IndexOfAnyInRange('\x0e', '\x1b') < 0;
    }

    /// <summary>The earliest-added item whose words at a posting equal the text's window; -1 if none (hash collision).</summary>
    int VerifiedItem(int posting, ReadOnlySpan<char> lower, Scratch words, int first)
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

    bool SameWords(IndexedItem item, int itemFirst, ReadOnlySpan<char> lower, Scratch words, int first)
    {
        for (int k = 0; k < _n; k++)
        {
            int a = itemFirst + k, b = first + k;
            if (item.Length[a] != words.Length[b]) return false;
            if (!item.Lower.AsSpan(item.Start[a], item.Length[a]).SequenceEqual(lower.Slice(words.Start[b], words.Length[b])))
                return false;
        }
        return true;
    }

    string JoinWords(ReadOnlySpan<char> lower, Scratch words, int first)
    {
        var sb = new System.Text.StringBuilder();
        for (int w = first; w < first + _n; w++)
        {
            if (w > first) sb.Append(' ');
            sb.Append(lower.Slice(words.Start[w], words.Length[w]));
        }
        return sb.ToString();
    }

    ulong Roll(ulong h, Scratch words, int w)
    {
        if (w >= _n) h -= words.Hash[w - _n] * _basePowNMinus1;
        return h * RollBase + words.Hash[w];
    }

    /// <summary>Spreads the rolling hash over the table's low bits; 0 is reserved for empty slots.</summary>
    ulong Finish(ulong h)
    {
        if (_collideAll) return 1;
        h = (h ^ (h >> 31)) * 0xBF58476D1CE4E5B9UL; // word hashes are already mixed; one round spreads the sum
        h ^= h >> 29;
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
            SetFilterBit(key);
            _postNext[_postings] = -1;
            _distinct++;
        }
        else _postNext[_postings] = _heads[slot];
        _heads[slot] = _postings++;
    }

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

    void SetFilterBit(ulong key)
    {
        ulong bit = key >> _filterShift;
        _filter[bit >> 6] |= 1UL << (int)(bit & 63);
    }

    void Grow()
    {
        var oldKeys = _keys;
        var oldHeads = _heads;
        _keys = new ulong[oldKeys.Length * 2];
        _heads = new int[oldKeys.Length * 2];
        _filter = new ulong[_keys.Length * 8 / 64];
        _filterShift--;
        ulong mask = (ulong)_keys.Length - 1;
        for (int i = 0; i < oldKeys.Length; i++)
        {
            if (oldKeys[i] == 0) continue;
            ulong slot = oldKeys[i] & mask;
            while (_keys[slot] != 0) slot = (slot + 1) & mask;
            _keys[slot] = oldKeys[i];
            _heads[slot] = oldHeads[i];
            SetFilterBit(oldKeys[i]);
        }
    }

    /// <summary>Word boundaries and word hashes of one text; reused per thread to avoid allocation.</summary>
    sealed class Scratch
    {
        public int[] Start = new int[256];
        public int[] Length = new int[256];
        public ulong[] Hash = new ulong[256];
        public int Count;
        char[] _lower = new char[1024];

        public char[] LowerBuffer(int length)
        {
            if (_lower.Length < length) _lower = new char[Math.Max(length, _lower.Length * 2)];
            return _lower;
        }

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

    /// <summary>Splits lower-cased text into words (s1's split()) and hashes each word.</summary>
    static Scratch Tokenize(ReadOnlySpan<char> lower, Scratch words)
    {
        words.Count = 0;
        int i = 0, len = lower.Length;
        while (i < len)
        {
            if (IsSplit(lower[i])) { i++; continue; }
            int start = i;
            while (i < len && !IsSplit(lower[i])) i++;
            words.Append(start, i - start, WordHash(lower.Slice(start, i - start)));
        }
        return words;
    }

    /// <summary>
    /// <see cref="Tokenize"/> for lower-cased plain ASCII (see <see cref="IsPlainAscii"/>), where separators are
    /// exactly the chars &lt;= ' '. Separator positions are found 64 chars at a time with vector compares and
    /// words are walked with bit scans, so the per-char cost is a fraction of a scalar loop's.
    /// </summary>
    static void TokenizeAscii(ReadOnlySpan<char> lower, Scratch words)
    {
        words.Count = 0;
        int len = lower.Length, wordStart = 0;
        bool inWord = false;
        for (int block = 0; block < len; block += 64)
        {
            ulong sep = SeparatorMask(lower, block);
            int pos = 0;
            while (pos < 64)
            {
                if (!inWord)
                {
                    ulong rest = ~sep >> pos;
                    if (rest == 0) break;
                    pos += System.Numerics.BitOperations.TrailingZeroCount(rest);
                    if (block + pos >= len) break;
                    wordStart = block + pos;
                    inWord = true;
                }
                else
                {
                    ulong rest = sep >> pos;
                    if (rest == 0) break;
                    pos += System.Numerics.BitOperations.TrailingZeroCount(rest);
                    int end = Math.Min(block + pos, len);
                    words.Append(wordStart, end - wordStart, WordHash(lower.Slice(wordStart, end - wordStart)));
                    inWord = false;
                }
            }
        }
        if (inWord) words.Append(wordStart, len - wordStart, WordHash(lower.Slice(wordStart, len - wordStart)));
    }

    /// <summary>Bit j set when char block+j is &lt;= ' ' or lies past the end.</summary>
    static ulong SeparatorMask(ReadOnlySpan<char> s, int block)
    {
        ulong mask = 0;
        if (block + 64 <= s.Length && System.Runtime.Intrinsics.Vector128.IsHardwareAccelerated)
        {
            var space = System.Runtime.Intrinsics.Vector128.Create((ushort)' ');
            var u = System.Runtime.InteropServices.MemoryMarshal.Cast<char, ushort>(s.Slice(block, 64));
            for (int k = 0; k < 8; k++)
            {
                var v = System.Runtime.Intrinsics.Vector128.Create<ushort>(u.Slice(k * 8, 8));
                mask |= (ulong)System.Runtime.Intrinsics.Vector128.LessThanOrEqual(v, space).ExtractMostSignificantBits() << (k * 8);
            }
            return mask;
        }
        for (int j = 0; j < 64; j++)
            if (block + j >= s.Length || s[block + j] <= ' ') mask |= 1UL << j;
        return mask;
    }

    /// <summary>
    /// A 64-bit hash of one lower-cased word: four UTF-16 units per multiply (read as one 64-bit value),
    /// then the length and a full avalanche, so that the rolling n-gram sum stays well spread.
    /// </summary>
    static ulong WordHash(ReadOnlySpan<char> word)
    {
        const ulong K = 0x9E3779B97F4A7C15UL;
        ulong h = 0x243F6A8885A308D3UL;
        foreach (ulong four in System.Runtime.InteropServices.MemoryMarshal.Cast<char, ulong>(word)) h = (h ^ four) * K;
        int rest = word.Length & 3;
        if (rest != 0)
        {
            ulong tail = 0;
            for (int k = 0; k < rest; k++) tail |= (ulong)word[word.Length - rest + k] << (16 * k);
            h = (h ^ tail) * K;
        }
        return Mix(h ^ (ulong)word.Length);
    }

    static bool IsSplit(char c) => c <= ' ' ? S1Text.IsSplitWhitespace(c) : c >= '\x7f' && S1Text.IsSplitWhitespace(c);
}
