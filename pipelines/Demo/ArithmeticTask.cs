using System.Globalization;
using System.Text.RegularExpressions;

namespace IwSft.Pipelines.Demo;

/// <summary>Which half of the task a problem belongs to. The halves use disjoint item words (see <see cref="ArithmeticTask"/>).</summary>
public enum DemoSplit { Train, Eval }

/// <summary>One step of a problem: add or subtract a single digit.</summary>
public readonly record struct ArithmeticStep(bool Add, string Verb, int Operand);

/// <summary>
/// A three-step counting word problem, e.g. "Ana had 12 pens, got 5, lost 3, found 8. Pens now?".
/// Exactly 12 whitespace-separated words: the five word 8-grams start at words 0..4, the first four
/// contain word 3 ("pens,") and the last contains word 10 ("pens"), so the item word is in every
/// 8-gram, which is what makes the held-out split (disjoint items) checkable by decontamination.
/// </summary>
public sealed record ArithmeticProblem(string Name, string Item, int Start, IReadOnlyList<ArithmeticStep> Steps)
{
    /// <summary>The running values after each step; the last is the answer.</summary>
    public IReadOnlyList<int> RunningValues()
    {
        var values = new List<int>(Steps.Count);
        int v = Start;
        foreach (var s in Steps) { v = s.Add ? v + s.Operand : v - s.Operand; values.Add(v); }
        return values;
    }

    public int Answer => RunningValues()[^1];

    public string Question =>
        $"{Name} had {Start} {Item}, " + string.Join(", ", Steps.Select(s => $"{s.Verb} {s.Operand}")) +
        $". {char.ToUpperInvariant(Item[0])}{Item[1..]} now?";

    /// <summary>The careful behaviour: every intermediate sum written out, then the answer. Always right.</summary>
    public string CarefulSolution
    {
        get
        {
            var values = RunningValues();
            var parts = new List<string>(Steps.Count);
            int before = Start;
            for (int i = 0; i < Steps.Count; i++)
            {
                parts.Add($"{before}{(Steps[i].Add ? '+' : '-')}{Steps[i].Operand}={values[i]}");
                before = values[i];
            }
            // The answer on its own line, as in s1's layout, so the eval area's answer-line extractor reads it.
            return string.Join(", ", parts) + ".\n" + AnswerLine(Answer);
        }
    }

    public static string AnswerLine(int answer) => "Answer: " + answer.ToString(CultureInfo.InvariantCulture);
}

/// <summary>
/// Generates the demo's verifiable task. Train and eval problems come from separate generators (own
/// seeds) over disjoint item vocabularies, so no eval 8-gram can occur in a train question; the
/// pipeline's decontaminate stage checks that independently (and a test plants overlap to prove the
/// check catches it).
/// </summary>
public static class ArithmeticTask
{
    public static readonly string[] Names =
        ["Ana", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea", "Max", "Nia", "Omar", "Pia"];

    public static readonly string[] TrainItems =
        ["pens", "cards", "coins", "shells", "stamps", "beads", "marbles", "apples", "books", "cups", "rocks", "ribbons"];

    public static readonly string[] EvalItems = ["plums", "kites", "bells", "gems", "nuts", "tiles"];

    public static readonly string[] AddVerbs = ["got", "found"];
    public static readonly string[] SubtractVerbs = ["lost", "gave"];

    public const int StepCount = 3;
    public const int MaxStart = 20;
    public const int MaxOperand = 9;

    public static IReadOnlyList<string> ItemsOf(DemoSplit split) => split == DemoSplit.Train ? TrainItems : EvalItems;

    /// <summary>One problem from <paramref name="rng"/>; subtraction never goes below zero.</summary>
    public static ArithmeticProblem Sample(Random rng, DemoSplit split)
    {
        var items = ItemsOf(split);
        string name = Names[rng.Next(Names.Length)];
        string item = items[rng.Next(items.Count)];
        int start = rng.Next(1, MaxStart + 1);
        var steps = new ArithmeticStep[StepCount];
        int value = start;
        for (int i = 0; i < StepCount; i++)
        {
            int operand = rng.Next(1, MaxOperand + 1);
            bool add = operand > value || rng.Next(2) == 0;
            steps[i] = new ArithmeticStep(add, add ? AddVerbs[rng.Next(AddVerbs.Length)] : SubtractVerbs[rng.Next(SubtractVerbs.Length)], operand);
            value = add ? value + operand : value - operand;
        }
        return new ArithmeticProblem(name, item, start, steps);
    }

    /// <summary>
    /// <paramref name="count"/> distinct problems (by question text) of one split, deterministic in
    /// <paramref name="seed"/>. Throws if the space is too small to hold that many.
    /// </summary>
    public static IReadOnlyList<ArithmeticProblem> Generate(DemoSplit split, int count, int seed)
    {
        var rng = new Random(seed);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<ArithmeticProblem>(count);
        int attempts = 0;
        while (result.Count < count)
        {
            if (++attempts > count * 50)
                throw new InvalidOperationException($"could not draw {count} distinct {split} problems (got {result.Count})");
            var p = Sample(rng, split);
            if (seen.Add(p.Question)) result.Add(p);
        }
        return result;
    }

    static readonly Regex QuestionPattern = new(
        @"^(?<name>[A-Za-z]+) had (?<start>\d+) (?<item>[a-z]+), (?<steps>.+)\. [A-Z][a-z]+ now\?$", RegexOptions.CultureInvariant);

    static readonly Regex StepPattern = new(@"^(?<verb>[a-z]+) (?<n>\d+)$", RegexOptions.CultureInvariant);

    /// <summary>Parses a question back into its problem; null if the text is not one of ours.</summary>
    public static ArithmeticProblem? Parse(string question)
    {
        var m = QuestionPattern.Match(question);
        if (!m.Success) return null;
        var steps = new List<ArithmeticStep>();
        foreach (var part in m.Groups["steps"].Value.Split(", "))
        {
            var s = StepPattern.Match(part);
            if (!s.Success) return null;
            string verb = s.Groups["verb"].Value;
            bool add = AddVerbs.Contains(verb);
            if (!add && !SubtractVerbs.Contains(verb)) return null;
            steps.Add(new ArithmeticStep(add, verb, int.Parse(s.Groups["n"].Value, CultureInfo.InvariantCulture)));
        }
        return new ArithmeticProblem(m.Groups["name"].Value, m.Groups["item"].Value,
            int.Parse(m.Groups["start"].Value, CultureInfo.InvariantCulture), steps);
    }
}
