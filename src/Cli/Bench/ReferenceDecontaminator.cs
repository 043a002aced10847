using IwSft.Stages.Decontaminate;

namespace IwSft.Cli.Bench;

/// <summary>
/// The plain, obviously-correct baseline of s1's decontamination, used by tests (as the oracle the fast
/// <see cref="NgramIndex"/> must agree with) and by <c>iwsft bench decontaminate</c> (as the speed
/// baseline). It mirrors s1's Python line by line: a dictionary from n-gram string to the items that
/// contain it; a text is contaminated iff the set of its n-gram strings meets that dictionary.
/// Not used by the pipeline: it allocates a string per n-gram.
/// </summary>
public sealed class ReferenceDecontaminator
{
    readonly int _n;
    readonly Dictionary<string, List<BenchmarkText>> _lookup = new(StringComparer.Ordinal);

    public ReferenceDecontaminator(int n, IEnumerable<BenchmarkText> testItems)
    {
        _n = n;
        foreach (var item in testItems) Add(item);
    }

    public int N => _n;

    /// <summary>Adds one test item's n-grams to the pool (s1's build_ngram_lookup).</summary>
    public void Add(BenchmarkText item)
    {
        foreach (var gram in S1Text.Ngrams(item.Text, _n))
        {
            if (!_lookup.TryGetValue(gram, out var items)) _lookup[gram] = items = new List<BenchmarkText>();
            items.Add(item);
        }
    }

    /// <summary>s1's find_contaminated_questions for one text: any shared n-gram.</summary>
    public bool IsContaminated(string text)
    {
        var grams = new HashSet<string>(S1Text.Ngrams(text, _n), StringComparer.Ordinal);
        foreach (var gram in grams)
            if (_lookup.ContainsKey(gram)) return true;
        return false;
    }

    /// <summary>The first n-gram of <paramref name="text"/> (in text order) that some test item contains, and those items.</summary>
    public (string Ngram, IReadOnlyList<BenchmarkText> Items)? FirstMatch(string text)
    {
        foreach (var gram in S1Text.Ngrams(text, _n))
            if (_lookup.TryGetValue(gram, out var items)) return (gram, items);
        return null;
    }
}

