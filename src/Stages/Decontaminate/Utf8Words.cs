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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
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
    /// Lower-cases and splits <paramref name="utf8"/> and hashes every word (<see cref="Hash"/>).
    /// Plain text (see <see cref="SplitPlain{TBlock}"/>) takes one vectorised pass; anything else a code-point loop
    /// (<see cref="SplitGeneral"/>); both produce the same bytes for the same words.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)] // a batch job's hot loop: skip tiered JIT's slow first phases
    public void Normalise(ReadOnlySpan<byte> utf8)
    {
        // The JIT keeps one of these branches: the widest vectors the machine has.
        if (Vector512.IsHardwareAccelerated) Normalise<PlainBlock512>(utf8);
        else if (Vector256.IsHardwareAccelerated) Normalise<PlainBlock256>(utf8);
        else Normalise<PlainBlock128>(utf8);
    }

    /// <summary><see cref="Normalise(ReadOnlySpan{byte})"/> with a given vector width (tests run every width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Normalise<TBlock>(ReadOnlySpan<byte> utf8) where TBlock : struct, IPlainBlock
    {
        Buffer(utf8.Length);
        if (SplitPlain<TBlock>(utf8)) return;
        if (utf8.IndexOfAnyInRange((byte)0x00, (byte)0x08) < 0 && utf8.IndexOfAnyInRange((byte)0x0e, (byte)0x1b) < 0)
        {
            LowerNonAscii(utf8);
            return;
        }
        SplitGeneral(utf8);
        for (int w = 0; w < Count; w++) Hash[w] = WordHash(ref MemoryMarshal.GetArrayDataReference(_lower), Start[w], End[w]);
    }

    /// <summary>
    /// Text that is plain but for non-ASCII characters (4% of the real pool: a curly quote, a ½): runs of ASCII
    /// are lower-cased with vector instructions (<see cref="Ascii.ToLower(ReadOnlySpan{byte}, Span{byte}, out int)"/>),
    /// each non-ASCII code point with <see cref="Rune.ToLowerInvariant"/>, and Unicode whitespace becomes a
    /// space. What is left has a byte &lt;= ' ' exactly at each separator, so the block splitter finishes it.
    /// Invalid UTF-8 reads as U+FFFD, as it does when decoded to a string.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    void LowerNonAscii(ReadOnlySpan<byte> utf8)
    {
        var lower = Buffer(2 * utf8.Length); // lower-casing lengthens a few characters' UTF-8 by half (U+023A → U+2C65)
        int i = 0, o = 0;
        while (i < utf8.Length)
        {
            int run = utf8[i..].IndexOfAnyInRange((byte)0x80, (byte)0xff);
            if (run < 0) run = utf8.Length - i;
            Ascii.ToLower(utf8.Slice(i, run), lower.AsSpan(o), out _);
            i += run;
            o += run;
            if (i == utf8.Length) break;
            Rune.DecodeFromUtf8(utf8[i..], out var rune, out int width);
            if (rune.IsBmp && S1Text.IsSplitWhitespace((char)rune.Value)) lower[o++] = (byte)' ';
            else o += Rune.ToLowerInvariant(rune).EncodeToUtf8(lower.AsSpan(o));
            i += width;
        }
        _length = o;
        SplitPlain<LoweredBlock>(lower.AsSpan(0, o)); // never "not plain": LoweredBlock reports nothing
    }


    /// <summary>
    /// A buffer for <paramref name="length"/> bytes with room up to the next 64-byte block and one block
    /// beyond, so that the splitter writes whole blocks and the hash makes whole 8-byte loads without bounds
    /// checks; also room for the most words such a text can have (one per two bytes).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)] // called per text from optimised code: never left as tier-0 code
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
    bool SplitPlain<TBlock>(ReadOnlySpan<byte> utf8) where TBlock : struct, IPlainBlock
    {
        ref byte lower = ref MemoryMarshal.GetArrayDataReference(_lower);
        ref int start = ref MemoryMarshal.GetArrayDataReference(Start);
        ref int end = ref MemoryMarshal.GetArrayDataReference(End);
        ref ulong hash = ref MemoryMarshal.GetArrayDataReference(Hash);
        int count = 0, length = utf8.Length, wordStart = 0;
        bool inWord = false; // the byte before the text counts as a separator
        bool bad = false;
        for (int block = 0; block < length; block += 64)
        {
            ref byte text = ref Unsafe.AsRef(in utf8[block]);
            if (length - block < 64)
            {
                ref byte tail = ref MemoryMarshal.GetArrayDataReference(_tail);
                Unsafe.InitBlockUnaligned(ref tail, (byte)' ', 64); // the last, partial block: padded with separators
                utf8[block..].CopyTo(_tail);
                text = ref tail;
            }
            ulong sep = TBlock.Lower(ref text, ref Unsafe.Add(ref lower, block), ref bad);
            // Word boundaries are where separator and non-separator meet; they alternate start, end, start, ...
            // A word ending in this block is lower-cased by now (this block was stored above), so it is hashed
            // here while its bounds are in registers; the hash's 8-byte loads may read past it into bytes not
            // yet written, which it masks off.
            for (ulong b = sep ^ (sep << 1 | (inWord ? 0UL : 1UL)); b != 0; b &= b - 1)
            {
                int at = block + BitOperations.TrailingZeroCount(b);
                if (!inWord) wordStart = at;
                else
                {
                    Unsafe.Add(ref start, count) = wordStart;
                    Unsafe.Add(ref end, count) = at;
                    Unsafe.Add(ref hash, count) = WordHash(ref lower, wordStart, at);
                    count++;
                }
                inWord = !inWord;
            }
        }
        if (bad) return false;
        if (inWord) // a word running to a 64-byte boundary at the very end
        {
            Start[count] = wordStart;
            End[count] = length;
            Hash[count] = WordHash(ref lower, wordStart, length);
            count++;
        }
        Count = count;
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

/// <summary>
/// One 64-byte block of <see cref="Utf8Words.SplitPlain{TBlock}"/>: stores it lower-cased (A-Z only) at
/// <c>lower</c>, returns its separator bits (bit j: byte j &lt;= ' ') and sets <c>bad</c> if a byte is not plain.
/// Compares are signed, one instruction each: bytes &gt;= 0x80 read as negative, which only matters in text that
/// is not plain, and that is what <c>bad</c> reports. One implementation per vector width (AVX-512: one vector a
/// block, AVX2: two, SSE2/NEON: four), as structs so that the JIT compiles a specialised splitter for each and
/// tests can run every width the machine has.
/// </summary>
interface IPlainBlock
{
    static abstract ulong Lower(ref byte text, ref byte lower, ref bool bad);
}

readonly struct PlainBlock512 : IPlainBlock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Lower(ref byte text, ref byte lower, ref bool bad)
    {
        var v = Vector512.LoadUnsafe(ref text).AsSByte();
        var upper = Vector512.GreaterThan(v, Vector512.Create((sbyte)('A' - 1))) & Vector512.LessThan(v, Vector512.Create((sbyte)('Z' + 1)));
        (v | (upper & Vector512.Create((sbyte)0x20))).AsByte().StoreUnsafe(ref lower);
        var odd = v | Vector512.LessThan(v, Vector512.Create((sbyte)0x09)) | (Vector512.GreaterThan(v, Vector512.Create((sbyte)0x0d)) & Vector512.LessThan(v, Vector512.Create((sbyte)0x1c)));
        bad |= odd.ExtractMostSignificantBits() != 0;
        return Vector512.LessThan(v, Vector512.Create((sbyte)0x21)).ExtractMostSignificantBits();
    }
}

readonly struct PlainBlock256 : IPlainBlock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Lower(ref byte text, ref byte lower, ref bool bad)
    {
        ulong sep = 0;
        for (int k = 0; k < 2; k++)
        {
            var v = Vector256.LoadUnsafe(ref text, (nuint)(k * 32)).AsSByte();
            var upper = Vector256.GreaterThan(v, Vector256.Create((sbyte)('A' - 1))) & Vector256.LessThan(v, Vector256.Create((sbyte)('Z' + 1)));
            (v | (upper & Vector256.Create((sbyte)0x20))).AsByte().StoreUnsafe(ref lower, (nuint)(k * 32));
            var odd = v | Vector256.LessThan(v, Vector256.Create((sbyte)0x09)) | (Vector256.GreaterThan(v, Vector256.Create((sbyte)0x0d)) & Vector256.LessThan(v, Vector256.Create((sbyte)0x1c)));
            bad |= odd.ExtractMostSignificantBits() != 0;
            sep |= (ulong)Vector256.LessThan(v, Vector256.Create((sbyte)0x21)).ExtractMostSignificantBits() << (k * 32);
        }
        return sep;
    }
}

readonly struct PlainBlock128 : IPlainBlock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Lower(ref byte text, ref byte lower, ref bool bad)
    {
        ulong sep = 0;
        for (int k = 0; k < 4; k++)
        {
            var v = Vector128.LoadUnsafe(ref text, (nuint)(k * 16)).AsSByte();
            var upper = Vector128.GreaterThan(v, Vector128.Create((sbyte)('A' - 1))) & Vector128.LessThan(v, Vector128.Create((sbyte)('Z' + 1)));
            (v | (upper & Vector128.Create((sbyte)0x20))).AsByte().StoreUnsafe(ref lower, (nuint)(k * 16));
            var odd = v | Vector128.LessThan(v, Vector128.Create((sbyte)0x09)) | (Vector128.GreaterThan(v, Vector128.Create((sbyte)0x0d)) & Vector128.LessThan(v, Vector128.Create((sbyte)0x1c)));
            bad |= odd.ExtractMostSignificantBits() != 0;
            sep |= (ulong)Vector128.LessThan(v, Vector128.Create((sbyte)0x21)).ExtractMostSignificantBits() << (k * 16);
        }
        return sep;
    }
}

/// <summary>
/// A block of text already lower-cased in place (<see cref="Utf8Words"/>' non-ASCII path): nothing to store, and
/// every byte &lt;= ' ' (compared unsigned, so UTF-8 continuation bytes are word bytes) is a separator.
/// </summary>
readonly struct LoweredBlock : IPlainBlock
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Lower(ref byte text, ref byte lower, ref bool bad)
    {
        ulong sep = 0;
        for (int k = 0; k < 4; k++)
            sep |= (ulong)Vector128.LessThanOrEqual(Vector128.LoadUnsafe(ref text, (nuint)(k * 16)), Vector128.Create((byte)' ')).ExtractMostSignificantBits() << (k * 16);
        return sep;
    }
}
