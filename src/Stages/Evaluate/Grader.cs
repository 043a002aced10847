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
        var extracted = AnswerExtractor.ExtractMath(response, _options.LastNumberFallback);
        if (extracted is null) return new(null, AnswerSource.None, false);
        bool ok = MathEquivalence.AreEquivalent(extracted.Text, GoldMathAnswer(goldAnswer), _options.RelativeTolerance);
        return new(extracted.Text, extracted.Source, ok);
    }

    /// <summary>
    /// The final answer inside a gold field: GSM8K's rationale ending "#### N" gives N; a gold solution
    /// with a \boxed{} gives its content; anything else is used as is.
    /// </summary>
    public static string GoldMathAnswer(string gold)
    {
        if (gold.Contains("####")) return AnswerExtractor.LastGsm8k(gold)?.Text ?? gold;
        if (gold.Contains("\\boxed") || gold.Contains("\\fbox")) return AnswerExtractor.LastBoxed(gold)?.Text ?? gold;
        return gold;
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
            if (MathEquivalence.AreEquivalent(stated.Text, choices[i], _options.RelativeTolerance))
                return new(((char)('A' + i)).ToString(), stated.Source, 'A' + i == goldLetter);
        }
        return new(stated.Text, stated.Source, false);
    }

    /// <summary>The gold letter: the gold itself when it is a letter ("B", "(B)"), else the index of the choice whose text it is.</summary>
    public static char GoldLetter(string gold, IReadOnlyList<string> choices)
    {
        string g = gold.Trim().Trim('(', ')', '.', ' ');
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
    /// <summary>Relative tolerance for numeric equality of answers.</summary>
    public double RelativeTolerance { get; init; } = MathEquivalence.DefaultRelativeTolerance;
    /// <summary>Take the last number in a response when it has no answer marker (lm-eval's "flexible extract"); off = strict.</summary>
    public bool LastNumberFallback { get; init; }
}
