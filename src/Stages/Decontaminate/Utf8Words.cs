using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Text;

namespace IwSft.Stages.Decontaminate;

/// <summary>
/// s1's normalisation (lower-case, split on whitespace) of one UTF-8 text, done in place on bytes: the
/// lower-cased text and each word's [start, end) byte range. One instance per thread is reused, so
/// checking a text allocates nothing. Word hashes (<see cref="Hash"/>) are of the lower-cased UTF-8
/// bytes, so the test pool and the checked texts hash the same words the same way whichever path
/// normalised them.
/// </summary>
sealed class Utf8Words
{
    public int[] Start = new int[256];
    public int[] End = new int[256];
    public ulong[] Hash = new ulong[256];
    public int Count;
    byte[] _lower = new byte[1024];
    byte[] _input = new byte[1024];
    readonly byte[] _tail = new byte[64];

    /// <summary>The lower-cased text (valid after <see cref="Normalise"/>).</summary>
    public ReadOnlySpan<byte> Lower => _lower.AsSpan(0, _length);
    int _length;

    public ReadOnlySpan<byte> Word(int w) => _lower.AsSpan(Start[w], End[w] - Start[w]);

    /// <summary>UTF-8 of a .NET string in a reused buffer (lone surrogates become U+FFFD, as no UTF-8 source can hold them).</summary>
    public ReadOnlySpan<byte> Encode(string text)
    {
        int length = Encoding.UTF8.GetByteCount(text);
        if (_input.Length < length) _input = new byte[Math.Max(length, _input.Length * 2)];
        Encoding.UTF8.GetBytes(text, _input);
        return _input.AsSpan(0, length);
    }

    /// <summary>
    /// Lower-cases and splits <paramref name="utf8"/> (word hashes are not computed: see <see cref="HashAll"/>).
    /// Plain text (see <see cref="SplitPlain"/>) takes one vectorised pass; anything else a code-point loop
    /// (<see cref="SplitGeneral"/>); both produce the same bytes for the same words.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a batch job's hot loop: skip tiered JIT's slow first phases
    public void Normalise(ReadOnlySpan<byte> utf8)
    {
        Buffer(utf8.Length);
        if (SplitPlain(utf8)) return;
        SplitGeneral(utf8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void HashAll()
    {
        for (int w = 0; w < Count; w++) Hash[w] = WordHash(w);
    }

    /// <summary>
    /// A buffer for <paramref name="length"/> bytes with room up to the next 64-byte block and one block
    /// beyond, so that the splitter writes whole blocks and the hash makes whole 8-byte loads without bounds
    /// checks; also room for the most words such a text can have (one per two bytes).
    /// </summary>
    byte[] Buffer(int length)
    {
        int padded = (length + 63 & ~63) + 64;
        if (_lower.Length < padded) _lower = new byte[Math.Max(padded, _lower.Length * 2)];
        _length = length;
        int maxWords = length / 2 + 1;
        if (Start.Length < maxWords)
        {
            int size = Math.Max(maxWords, Start.Length * 2);
            Start = new int[size]; End = new int[size]; Hash = new ulong[size];
        }
        Count = 0;
        return _lower;
    }

    /// <summary>
    /// One pass over plain text, 64 bytes at a time with 16-byte vectors: lower-cases A-Z into the buffer,
    /// finds the separator bits (bytes &lt;= ' '), and reads word starts (a non-separator after a separator)
    /// and ends (a separator after a non-separator) off them with bit scans, so the loops run per word
    /// boundary, not per byte. Returns false, leaving the words unusable, when the text is not plain: a byte
    /// &gt;= 0x80 or a control character that Python does not split on (U+0000..U+0008, U+000E..U+001B), for
    /// only in plain text is "byte &lt;= ' '" exactly Python's whitespace and ASCII lower-casing exactly
    /// ToLowerInvariant.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    bool SplitPlain(ReadOnlySpan<byte> utf8)
    {
        ref byte lower = ref MemoryMarshal.GetArrayDataReference(_lower);
        ref int start = ref MemoryMarshal.GetArrayDataReference(Start);
        ref int end = ref MemoryMarshal.GetArrayDataReference(End);
        var tail = _tail;
        int starts = 0, ends = 0, length = utf8.Length;
        ulong before = 1; // the byte before the text counts as a separator
        var space = Vector128.Create((byte)' ');
        var bad = Vector128<byte>.Zero;
        for (int block = 0; block < length; block += 64)
        {
            ref byte text = ref Unsafe.AsRef(in utf8[block]);
            if (length - block < 64)
            {
                tail.AsSpan().Fill((byte)' '); // the last, partial block: padded with separators
                utf8[block..].CopyTo(tail);
                text = ref MemoryMarshal.GetArrayDataReference(tail);
            }
            ulong sep = 0;
            for (int k = 0; k < 4; k++)
            {
                var v = Vector128.LoadUnsafe(ref text, (nuint)(k * 16));
                var upper = Vector128.LessThan(v - Vector128.Create((byte)'A'), Vector128.Create((byte)26));
                (v | (upper & Vector128.Create((byte)0x20))).StoreUnsafe(ref lower, (nuint)(block + k * 16));
                bad |= v | Vector128.LessThan(v, Vector128.Create((byte)0x09)) | Vector128.LessThan(v - Vector128.Create((byte)0x0e), Vector128.Create((byte)14));
                sep |= (ulong)Vector128.LessThanOrEqual(v, space).ExtractMostSignificantBits() << (k * 16);
            }
            ulong previous = sep << 1 | before;
            before = sep >> 63;
            for (ulong s = ~sep & previous; s != 0; s &= s - 1) Unsafe.Add(ref start, starts++) = block + BitOperations.TrailingZeroCount(s);
            for (ulong e = sep & ~previous; e != 0; e &= e - 1) Unsafe.Add(ref end, ends++) = block + BitOperations.TrailingZeroCount(e);
        }
        if (bad.ExtractMostSignificantBits() != 0) return false;
        if (ends < starts) End[ends++] = length; // a word running to a 64-byte boundary at the very end
        Count = starts;
        return true;
    }

    /// <summary>
    /// Text with non-ASCII or odd control characters, one code point at a time: lower-cased with
    /// <see cref="Rune.ToLowerInvariant"/> (equal to <see cref="string.ToLowerInvariant()"/> for every scalar
    /// value, as a test checks exhaustively) and split on Python's whitespace (<see cref="S1Text.IsSplitWhitespace"/>;
    /// all of it is in the BMP). Invalid UTF-8 reads as U+FFFD, as it does when decoded to a string.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void SplitGeneral(ReadOnlySpan<byte> utf8)
    {
        var lower = Buffer(2 * utf8.Length); // lower-casing lengthens a few characters' UTF-8 by half (U+023A → U+2C65)
        int i = 0, o = 0, wordStart = -1;
        while (i < utf8.Length)
        {
            int width = 1, at = o;
            bool split;
            byte b = utf8[i];
            if (b < 0x80)
            {
                split = S1Text.IsSplitWhitespace((char)b);
                lower[o++] = (uint)(b - 'A') < 26 ? (byte)(b | 0x20) : b;
            }
            else
            {
                Rune.DecodeFromUtf8(utf8[i..], out var rune, out width);
                split = rune.IsBmp && S1Text.IsSplitWhitespace((char)rune.Value);
                o += Rune.ToLowerInvariant(rune).EncodeToUtf8(lower.AsSpan(o));
            }
            if (split && wordStart >= 0) { Start[Count] = wordStart; End[Count++] = at; wordStart = -1; }
            else if (!split && wordStart < 0) wordStart = at;
            i += width;
        }
        if (wordStart >= 0) { Start[Count] = wordStart; End[Count++] = o; }
        _length = o;
    }

    /// <summary>
    /// A 64-bit hash of word <paramref name="w"/>: eight bytes per multiply (unaligned loads; the buffer's
    /// padding makes reading past the word safe, and the tail is masked), seeded with the length. The high
    /// bits are well mixed (the vocabulary filter uses them); the n-gram hash built from these is mixed again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong WordHash(int w) => WordHash(ref MemoryMarshal.GetArrayDataReference(_lower), Start[w], End[w]);

    /// <summary>The buffer's first byte, for hot loops that hash words with the static <see cref="WordHash(ref byte, int, int)"/>.</summary>
    public ref byte LowerStart => ref MemoryMarshal.GetArrayDataReference(_lower);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong WordHash(ref byte text, int from, int to)
    {
        const ulong K = 0x9E3779B97F4A7C15UL;
        int length = to - from;
        ref byte word = ref Unsafe.Add(ref text, from);
        ulong h = 0x243F6A8885A308D3UL ^ (ulong)length;
        int i = 0;
        for (; length - i > 8; i += 8) h = (h ^ Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref word, i))) * K;
        h = (h ^ (Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref word, i)) & (ulong.MaxValue >> (64 - 8 * (length - i))))) * K;
        return h ^ (h >> 32);
    }
}
