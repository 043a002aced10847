namespace IwSft.Stages.Evaluate;

/// <summary>One graded response: what was extracted and whether it matches the gold answer.</summary>
public sealed record Grade(string? Extracted, AnswerSource Source, bool Correct);

/// <summary>
/// Grades a response against an item's gold answer. Items with choices are multiple choice (a letter
/// A.. is extracted; the gold may be a letter or the text of the correct choice); all others are math
/// (the answer is extracted and compared with <see cref="MathEquivalence"/>).
/// </summary>
public sealed class Grader(GraderOptions? options = null)
{
    readonly GraderOptions _options = options ?? new GraderOptions();

    public Grade Grade(string response, string goldAnswer, IReadOnlyList<string>? choices)
    {
        if (choices is { Count: > 0 }) return GradeChoice(response, goldAnswer, choices);
        var extracted = AnswerExtractor.ExtractMath(response, _options.LastNumberFallback, _options.LastMathFallback, _options.DecimalComma);
        if (extracted is null) return new(null, AnswerSource.None, false);
        bool ok = MathEquivalence.AreEquivalent(GoldMathAnswer(goldAnswer), extracted.Text, _options.Equivalence);
        return new(extracted.Text, extracted.Source, ok);
    }

    /// <summary>
    /// The final answer inside a gold field: GSM8K's rationale ending "#### N" gives N; a gold solution
    /// with \boxed{} gives its content (several boxes joined by "and" give them all, "1, 2"); a gold
    /// with "Answer:" or "The final answer is" gives what follows; anything else is used as is.
    /// </summary>
    public static string GoldMathAnswer(string gold)
    {
        if (gold.Contains("####")) return AnswerExtractor.LastGsm8k(gold)?.Text ?? gold;
        var marked = AnswerExtractor.ExtractMath(gold);
        return marked?.Text ?? gold;
    }

    Grade GradeChoice(string response, string gold, IReadOnlyList<string> choices)
    {
        char goldLetter = GoldLetter(gold, choices);
        var letter = AnswerExtractor.ExtractChoice(response, choices.Count);
        if (letter is not null) return new(letter.Text, letter.Source, letter.Text[0] == goldLetter);

        // A response may state the option's text instead of its letter.
        var stated = AnswerExtractor.ExtractMath(response);
        if (stated is null) return new(null, AnswerSource.None, false);
        for (int i = 0; i < choices.Count; i++)
        {
            if (MathEquivalence.AreEquivalent(choices[i], stated.Text, _options.Equivalence))
                return new(((char)('A' + i)).ToString(), stated.Source, 'A' + i == goldLetter);
        }
        return new(stated.Text, stated.Source, false);
    }

    /// <summary>The gold letter: the gold itself when it is a letter ("B", "(B)", "B)", "\\text{B}"), else the index of the choice whose text it is.</summary>
    public static char GoldLetter(string gold, IReadOnlyList<string> choices)
    {
        string g = MathEquivalence.Clean(gold).Trim('(', ')', '.', ' ');
        if (g.Length == 1 && char.ToUpperInvariant(g[0]) - 'A' is var idx && idx >= 0 && idx < choices.Count)
            return (char)('A' + idx);
        for (int i = 0; i < choices.Count; i++)
            if (string.Equals(choices[i].Trim(), gold.Trim(), StringComparison.Ordinal)) return (char)('A' + i);
        for (int i = 0; i < choices.Count; i++)
            if (MathEquivalence.AreEquivalent(choices[i], gold)) return (char)('A' + i);
        throw new FormatException($"gold answer '{gold}' is neither a choice letter nor the text of one of the {choices.Count} choices");
    }
}

public sealed record GraderOptions
{
    /// <summary>Relative tolerance for a decimal standing for a value without a finite decimal expansion (see <see cref="MathEquivalenceOptions.RelativeTolerance"/>).</summary>
    public double RelativeTolerance { get; init; } = MathEquivalence.DefaultRelativeTolerance;
    /// <summary>Take the last number in a response when it has no answer marker (lm-eval's "flexible extract"); off = strict.</summary>
    public bool LastNumberFallback { get; init; }
    /// <summary>Take the last math span ($..$, \(..\), \[..\]) of a response without an answer marker (Math-Verify's fallback); off = strict.</summary>
    public bool LastMathFallback { get; init; }
    /// <summary>Read 1000,99 as a decimal (see <see cref="MathEquivalenceOptions.DecimalComma"/>).</summary>
    public bool DecimalComma { get; init; }
    /// <summary>Lists must match in order (see <see cref="MathEquivalenceOptions.OrderedLists"/>).</summary>
    public bool OrderedLists { get; init; }

    public MathEquivalenceOptions Equivalence => new()
    {
        RelativeTolerance = RelativeTolerance,
        DecimalComma = DecimalComma,
        OrderedLists = OrderedLists,
    };
}
