using System.CommandLine;
using System.Globalization;
using IwSft.Stages.Evaluate;

namespace IwSft.Cli;

/// <summary>
/// <c>iwsft grade GOLD PREDICTION</c>: the grader's verdict on one pair, with what it extracted and how it
/// normalised and parsed both sides — the tool to reach for when a score looks wrong. Exit code 0 when
/// equivalent, 1 when not.
/// </summary>
public static class GradeCommand
{
    public static Command Create()
    {
        var gold = new Argument<string>("gold") { Description = "The gold answer (a bare answer, a solution with \\boxed{}, or a GSM8K rationale ending '#### N')." };
        var prediction = new Argument<string>("prediction") { Description = "The prediction: a bare answer, or a whole response (the answer is extracted as in evaluation)." };
        var tolerance = new Option<double>("--tolerance")
        {
            Description = "A decimal stands for a value it rounds when written to at least -log10(TOLERANCE) places and significant digits.",
            DefaultValueFactory = _ => MathEquivalence.DefaultRelativeTolerance,
        };
        var decimalComma = new Option<bool>("--decimal-comma") { Description = "Read 1000,99 as a decimal (1,000 stays one thousand)." };
        var ordered = new Option<bool>("--ordered") { Description = "Lists must match in order (default: compared as sets)." };
        var setRelation = new Option<bool>("--allow-set-relation") { Description = "A predicted inequality may match a gold interval." };
        var choices = new Option<int>("--choices") { Description = "Grade as multiple choice with this many options (A, B, ...): the gold is a letter." };
        var c = new Command("grade", "Grade one prediction against a gold answer: the verdict, and the extracted, normalised and parsed forms of both. Exit code 0 = equivalent, 1 = not.")
            { gold, prediction, tolerance, decimalComma, ordered, setRelation, choices };
        c.SetAction(r =>
        {
            var options = new MathEquivalenceOptions
            {
                RelativeTolerance = r.GetValue(tolerance),
                DecimalComma = r.GetValue(decimalComma),
                OrderedLists = r.GetValue(ordered),
                AllowSetRelationComparison = r.GetValue(setRelation),
            };
            if (options.RelativeTolerance is <= 0 or >= 1)
            {
                Console.Error.WriteLine($"error: --tolerance must be in (0, 1), got {options.RelativeTolerance.ToString(CultureInfo.InvariantCulture)}");
                return 2;
            }
            int n = r.GetValue(choices);
            return n > 0
                ? Choice(r.GetValue(gold)!, r.GetValue(prediction)!, n, Console.Out)
                : Math(r.GetValue(gold)!, r.GetValue(prediction)!, options, Console.Out);
        });
        return c;
    }

    /// <summary>Prints the verdict and both sides' forms; returns the exit code (0 equivalent, 1 not).</summary>
    public static int Math(string gold, string prediction, MathEquivalenceOptions options, TextWriter output)
    {
        string goldAnswer = Grader.GoldMathAnswer(gold);
        var goldSource = goldAnswer == gold ? "as given" : gold.Contains("####") ? "gsm8k_hashes" : "marker in the gold";
        var extracted = AnswerExtractor.ExtractAnswer(prediction, lastNumberFallback: false, lastMathFallback: false, options.DecimalComma);
        bool equivalent = extracted is not null && MathEquivalence.AreEquivalent(goldAnswer, extracted.Text, options);
        output.WriteLine($"verdict      {(equivalent ? "equivalent" : "not equivalent")}");
        Side(output, "gold", goldAnswer, goldSource, options);
        if (extracted is null) output.WriteLine("prediction   (no answer found: no \\boxed{}, Answer: line or final-answer phrase, and the text reads as prose)");
        else Side(output, "prediction", extracted.Text, EvaluateStage.SourceName(extracted.Source), options);
        return equivalent ? 0 : 1;
    }

    static void Side(TextWriter output, string label, string answer, string source, MathEquivalenceOptions options)
    {
        output.WriteLine($"{label,-12} {answer}");
        output.WriteLine($"  extracted  {source}");
        output.WriteLine($"  cleaned    {MathEquivalence.Clean(answer, options)}");
        output.WriteLine($"  normalised {MathEquivalence.Normalize(answer, options)}");
        output.WriteLine($"  parsed     {MathEquivalence.ParsedForm(answer, options) ?? "(not parsed: compared as text only)"}");
    }

    static int Choice(string gold, string prediction, int count, TextWriter output)
    {
        var letters = Enumerable.Range(0, count).Select(i => ((char)('A' + i)).ToString()).ToList();
        char goldLetter;
        try { goldLetter = Grader.GoldLetter(gold, letters); }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        var grade = new Grader().Grade(prediction, goldLetter.ToString(), letters);
        output.WriteLine($"verdict      {(grade.Correct ? "equivalent" : "not equivalent")}");
        output.WriteLine($"gold         {goldLetter}");
        output.WriteLine($"prediction   {grade.Extracted ?? "(no choice letter found)"}");
        output.WriteLine($"  extracted  {EvaluateStage.SourceName(grade.Source)}");
        return grade.Correct ? 0 : 1;
    }
}
