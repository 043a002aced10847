using System.Globalization;
using System.Text.RegularExpressions;

namespace IwSft.Pipelines.Demo;

/// <summary>What the verifier found in one completion.</summary>
public sealed record Verdict(bool AnswerFound, int? FinalAnswer, bool Correct, int VerifiedSteps)
{
    /// <summary>
    /// Verifier confidence, the demo's quality score: 0 for a wrong or missing answer; for a right one
    /// 0.5 plus 0.5 × the fraction of the problem's steps shown and checked. A right answer backed by
    /// checked work (1.0) is worth more than a bare right answer (0.5), which may be a lucky guess.
    /// </summary>
    public double Confidence => Correct ? 0.5 + 0.5 * VerifiedSteps / ArithmeticTask.StepCount : 0.0;
}

/// <summary>Checks a completion against the problem: the sparse reward (final answer) and the shown work.</summary>
public static class Verifier
{
    static readonly Regex AnswerPattern = new(@"Answer:\s*(-?\d+)", RegexOptions.CultureInvariant);
    static readonly Regex EquationPattern = new(@"(-?\d+)([+-])(\d+)=(-?\d+)", RegexOptions.CultureInvariant);

    /// <summary>The last "Answer: N" in the text, or null.</summary>
    public static int? FinalAnswer(string completion)
    {
        var matches = AnswerPattern.Matches(completion);
        if (matches.Count == 0) return null;
        return int.TryParse(matches[^1].Groups[1].Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v) ? v : null;
    }

    public static Verdict Verify(ArithmeticProblem problem, string completion)
    {
        int? answer = FinalAnswer(completion);
        return new Verdict(answer is not null, answer, answer == problem.Answer, VerifiedSteps(problem, completion));
    }

    /// <summary>
    /// How many of the problem's steps appear, in order, as a correct equation "before±operand=after"
    /// (the first equations of the text are compared with steps 1, 2, 3).
    /// </summary>
    public static int VerifiedSteps(ArithmeticProblem problem, string completion)
    {
        var values = problem.RunningValues();
        var equations = EquationPattern.Matches(completion);
        int verified = 0, before = problem.Start;
        for (int i = 0; i < problem.Steps.Count && i < equations.Count; i++)
        {
            var g = equations[i].Groups;
            var step = problem.Steps[i];
            bool matches = g[1].Value == before.ToString(CultureInfo.InvariantCulture)
                && g[2].Value == (step.Add ? "+" : "-")
                && g[3].Value == step.Operand.ToString(CultureInfo.InvariantCulture)
                && g[4].Value == values[i].ToString(CultureInfo.InvariantCulture);
            if (!matches) break;
            verified++;
            before = values[i];
        }
        return verified;
    }
}
