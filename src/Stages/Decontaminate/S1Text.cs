namespace IwSft.Stages.Decontaminate;

/// <summary>
/// s1's text normalisation for n-gram decontamination: <c>text.lower().strip()</c>, then words =
/// <c>text.split()</c> (runs of whitespace), n-grams = words joined by one space. No punctuation
/// stripping: "$x$," and "$x$" are different words, exactly as in s1.
/// </summary>
public static class S1Text
{
    /// <summary>
    /// Python's <c>str.split()</c> whitespace: .NET's <see cref="char.IsWhiteSpace(char)"/> plus the
    /// ASCII information separators U+001C..U+001F, which Python also splits on.
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static bool IsSplitWhitespace(char c) => char.IsWhiteSpace(c) || (c >= '\x1c' && c <= '\x1f');

    /// <summary>
    /// Lower-cases like Python's <c>str.lower()</c> for all but a handful of characters whose
    /// lower case has a different length (e.g. U+0130), where .NET keeps one UTF-16 unit.
    /// </summary>
    public static string Lower(string text) => text.ToLowerInvariant();

    /// <summary>The normalised words of <paramref name="text"/>.</summary>
    public static List<string> Words(string text)
    {
        var lower = Lower(text);
        var words = new List<string>();
        int i = 0;
        while (i < lower.Length)
        {
            while (i < lower.Length && IsSplitWhitespace(lower[i])) i++;
            int start = i;
            while (i < lower.Length && !IsSplitWhitespace(lower[i])) i++;
            if (i > start) words.Add(lower.Substring(start, i - start));
        }
        return words;
    }

    /// <summary>All word n-grams of <paramref name="text"/>, in order (none when it has fewer than n words).</summary>
    public static List<string> Ngrams(string text, int n)
    {
        if (n < 1) throw new ArgumentOutOfRangeException(nameof(n), n, "n-gram size must be at least 1");
        var words = Words(text).ToArray();
        var grams = new List<string>(Math.Max(0, words.Length - n + 1));
        for (int i = 0; i + n <= words.Length; i++) grams.Add(string.Join(' ', words, i, n));
        return grams;
    }
}

/// <summary>One test-pool text: which benchmark and item it is, and its question.</summary>
public sealed record BenchmarkText(string Benchmark, string ItemId, string Text);
