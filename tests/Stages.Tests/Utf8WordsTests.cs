using System.Text;
using IwSft.Stages.Decontaminate;

namespace IwSft.Stages.Tests;

/// <summary>
/// The byte-level normaliser behind <see cref="NgramIndex"/> against s1's string normalisation
/// (<see cref="S1Text.Words"/>), on texts built to hit its edge cases: words and separators straddling
/// 64-byte blocks, texts ending exactly on a block, words of 8 and 16 bytes (whole hash loads), and
/// non-plain characters that appear only after the first blocks were already split.
/// </summary>
public class Utf8WordsTests
{
    static readonly string[] AsciiGaps = [" ", "  ", "\t", "\n", "\r\n", "\v", "\f", "\u001c", "\u001d", "\u001e", "\u001f", "   \t "];

    static string RandomWord(Random rng)
    {
        int length = rng.Next(4) == 0 ? 8 * rng.Next(1, 3) : rng.Next(1, 21);
        var sb = new StringBuilder();
        for (int i = 0; i < length; i++)
        {
            // letters of both cases, digits and TeX punctuation: everything printable ASCII can be part of a word
            char c = (char)rng.Next(0x21, 0x7f);
            sb.Append(c);
        }
        return sb.ToString();
    }

    static string PlainText(Random rng, int targetBytes)
    {
        var sb = new StringBuilder();
        if (rng.Next(3) == 0) sb.Append(AsciiGaps[rng.Next(AsciiGaps.Length)]);
        while (sb.Length < targetBytes)
        {
            sb.Append(RandomWord(rng));
            if (sb.Length < targetBytes || rng.Next(2) == 0) sb.Append(AsciiGaps[rng.Next(AsciiGaps.Length)]);
        }
        return sb.ToString();
    }

    static List<string> WordsOf(Utf8Words words) =>
        Enumerable.Range(0, words.Count).Select(w => Encoding.UTF8.GetString(words.Word(w))).ToList();

    /// <summary>
    /// Normalises with 16-, 32- or 64-byte vectors. Every width runs on every machine (without the hardware,
    /// .NET emulates the wider vectors), so the AVX-512 path is checked on a CI machine without AVX-512 too.
    /// </summary>
    static void Normalise(Utf8Words words, int vectorBytes, byte[] utf8)
    {
        switch (vectorBytes)
        {
            case 16: words.Normalise<PlainBlock128>(utf8); break;
            case 32: words.Normalise<PlainBlock256>(utf8); break;
            case 64: words.Normalise<PlainBlock512>(utf8); break;
            default: throw new ArgumentOutOfRangeException(nameof(vectorBytes));
        }
    }

    public static IEnumerable<object[]> LengthsAndWidths =>
        from n in new[] { 0, 1, 7, 8, 63, 64, 65, 127, 128, 129, 191, 192, 250, 1000 }
        from width in new[] { 16, 32, 64 }
        select new object[] { n, width };

    [Theory]
    [MemberData(nameof(LengthsAndWidths))]
    public void Plain_texts_split_exactly_like_s1_at_every_block_boundary(int targetBytes, int vectorBytes)
    {
        var words = new Utf8Words();
        for (int seed = 0; seed < 300; seed++)
        {
            var rng = new Random(seed * 7919 + targetBytes);
            var text = PlainText(rng, targetBytes);
            if (targetBytes > 0 && rng.Next(2) == 0) text = text[..Math.Min(text.Length, targetBytes)]; // end on the exact length
            Normalise(words, vectorBytes, Encoding.UTF8.GetBytes(text));
            Assert.Equal(S1Text.Words(text), WordsOf(words));
        }
    }

    [Theory]
    [InlineData("\u00e9", 16)]     // non-ASCII: ToLowerInvariant territory
    [InlineData("\u00e9", 64)]
    [InlineData("\u00a0", 32)]     // NBSP: a separator only in the general path
    [InlineData("\u0001", 16)]     // a control character Python does not split on
    [InlineData("\u0001", 32)]
    [InlineData("\u0001", 64)]
    [InlineData("\u001b", 64)]
    [InlineData("\u2003", 16)]
    public void A_non_plain_character_late_in_the_text_sends_the_whole_text_down_the_general_path(string odd, int vectorBytes)
    {
        var words = new Utf8Words();
        for (int seed = 0; seed < 200; seed++)
        {
            var rng = new Random(seed);
            var text = PlainText(rng, 300);
            int at = rng.Next(64, text.Length);
            text = text[..at] + odd + text[at..];
            Normalise(words, vectorBytes, Encoding.UTF8.GetBytes(text));
            Assert.Equal(S1Text.Words(text), WordsOf(words));
        }
    }

    [Theory]
    [MemberData(nameof(LengthsAndWidths))]
    public void Non_ascii_texts_split_exactly_like_s1_at_every_block_boundary(int targetBytes, int vectorBytes)
    {
        // Non-ASCII letters of 2, 3 and 4 UTF-8 bytes (some lower-case to a different length) and non-ASCII
        // whitespace, mixed into ASCII words: the path that lower-cases code points and re-splits by blocks.
        string[] letters = ["\u00c9", "\u00df", "\u03a3", "\u023a", "\u2c65", "\ud801\udc00", "\u2019"];
        string[] gaps = [" ", "\u00a0", "\u2003", "\u3000", "\n"];
        var words = new Utf8Words();
        for (int seed = 0; seed < 200; seed++)
        {
            var rng = new Random(seed * 104729 + targetBytes);
            var sb = new StringBuilder();
            while (Encoding.UTF8.GetByteCount(sb.ToString()) < targetBytes)
            {
                var word = RandomWord(rng);
                int at = rng.Next(word.Length + 1);
                sb.Append(word[..at]).Append(letters[rng.Next(letters.Length)]).Append(word[at..]);
                if (rng.Next(4) > 0) sb.Append(gaps[rng.Next(gaps.Length)]);
            }
            var text = sb.ToString();
            Normalise(words, vectorBytes, Encoding.UTF8.GetBytes(text));
            Assert.Equal(S1Text.Words(text), WordsOf(words));
        }
    }

    [Fact]
    public void A_word_hashes_the_same_from_the_plain_and_the_general_path()
    {
        var plain = new Utf8Words();
        var general = new Utf8Words();
        plain.Normalise(Encoding.UTF8.GetBytes("Exactly8 SixteenBytesLong Seventeen_Bytes_X $\\frac{a}{b}$"));
        general.Normalise(Encoding.UTF8.GetBytes("exactly8\u00a0SIXTEENBYTESLONG seventeen_bytes_x $\\FRAC{A}{B}$ \u00e9"));
        Assert.Equal(4, plain.Count);
        Assert.Equal(5, general.Count);
        Assert.Equal(plain.Hash[..4], general.Hash[..4]);
        Assert.Equal(4, plain.Hash[..4].Distinct().Count());
    }

    [Fact]
    public void Code_point_lower_casing_equals_string_lower_casing_for_every_scalar_value()
    {
        // The general path lower-cases rune by rune; the reference (and s1) lower-case the whole string.
        var mismatches = new List<string>();
        for (int cp = 0; cp <= 0x10FFFF; cp++)
        {
            if (cp is >= 0xD800 and <= 0xDFFF) continue;
            var rune = new Rune(cp);
            if (Rune.ToLowerInvariant(rune).ToString() != rune.ToString().ToLowerInvariant()) mismatches.Add($"U+{cp:X4}");
            if (!rune.IsBmp && Rune.IsWhiteSpace(rune)) mismatches.Add($"U+{cp:X4} is whitespace outside the BMP");
        }
        Assert.Empty(mismatches);
    }

    [Fact]
    public void Characters_whose_utf8_grows_when_lower_cased_and_invalid_utf8_match_the_string_path()
    {
        var words = new Utf8Words();
        // U+023A lower-cases to U+2C65 (2 → 3 bytes); a whole text of them needs the general buffer's headroom.
        var text = string.Concat(Enumerable.Repeat("\u023a\u023a\u023e ", 40));
        words.Normalise(Encoding.UTF8.GetBytes(text));
        Assert.Equal(S1Text.Words(text), WordsOf(words));
        // Invalid UTF-8 (a lone continuation byte, a truncated sequence) reads as U+FFFD, as a string decode does.
        byte[] invalid = [(byte)'A', 0x80, (byte)'b', (byte)' ', 0xE2, 0x82, (byte)' ', (byte)'C'];
        words.Normalise(invalid);
        Assert.Equal(S1Text.Words(Encoding.UTF8.GetString(invalid)), WordsOf(words));
    }
}
