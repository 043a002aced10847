using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>
/// The demo's completion tables (schema <c>demo_completions</c>): one row per (problem, completion),
/// whether a demonstration of the behaviour mixture or a sample from the reference policy.
/// </summary>
public static class DemoRows
{
    public const string Schema = "demo_completions";

    /// <summary>The problem a row belongs to, parsed back from its question; an error names stage, artifact and row.</summary>
    public static ArithmeticProblem ParseProblem(RecordBatch batch, int row, long rowOffset, string stage, string artifact)
    {
        var question = batch.GetString("question", row)
            ?? throw new InvalidDataException($"stage '{stage}', artifact '{artifact}', row {rowOffset + row}, column 'question': null");
        return ArithmeticTask.Parse(question)
            ?? throw new InvalidDataException($"stage '{stage}', artifact '{artifact}', row {rowOffset + row}, column 'question': not a demo problem: \"{question}\"");
    }

    /// <summary>careful when the completion opens with worked steps, shortcut otherwise.</summary>
    public static string BehaviourOf(string completion) => completion.TrimStart().StartsWith("Answer", StringComparison.Ordinal) ? "shortcut" : "careful";

    /// <summary>Appends one completion row; <paramref name="verdict"/> fills the verifier columns when given;
    /// <paramref name="question"/> replaces the problem's word question as the prompt (a drill's instruction and question).</summary>
    public static void Add(BatchBuilder b, string problemId, ArithmeticProblem problem, int index, string behaviour, string completion, string? source, Verdict? verdict,
        string? question = null)
    {
        var inv = System.Globalization.CultureInfo.InvariantCulture;
        var id = DemoIds.Sha16(problemId, index.ToString(inv), completion);
        b.Set("id", id).Set("problem_id", problemId).Set("question", question ?? problem.Question)
            .Set("solution", problem.CarefulSolution).Set("answer", problem.Answer.ToString(inv))
            .Set("trace", completion).Set("sample", index).Set("domain", behaviour).Set("source", source);
        if (verdict is not null)
            b.Set("attempt", verdict.FinalAnswer?.ToString(inv)).Set("correct", verdict.Correct)
                .Set("quality", (float)verdict.Confidence).Set("verified_steps", verdict.VerifiedSteps);
        b.EndRow();
    }
}
