using System.Text;
using System.Text.Json.Nodes;

namespace IwSft.Pipelines.Demo;

/// <summary>
/// Writes the generated task as the JSONL files the pipeline ingests, exactly as a user's own data would
/// arrive: <c>train.jsonl</c> (question, solution, answer) and <c>eval.jsonl</c> (question, answer, solution).
/// Written by the stage <see cref="Stages.GenerateTaskStage"/> into its output directory; the ingest stages read
/// them through their <c>files</c> input.
/// </summary>
public static class DemoData
{
    public const string TrainFile = "train.jsonl";
    public const string EvalFile = "eval.jsonl";

    /// <summary>Problems written to each file.</summary>
    public sealed record Counts(int Train, int Eval);

    /// <param name="plantEvalInTrain">
    /// Copies this many eval problems into the train file: half verbatim, half with another name (only a
    /// shared 8-gram, not an exact duplicate). For the decontamination test; 0 in the real demo.
    /// </param>
    public static Counts Write(string directory, int trainCount, int evalCount, int trainSeed, int evalSeed, int plantEvalInTrain = 0)
    {
        Directory.CreateDirectory(directory);
        var train = ArithmeticTask.Generate(DemoSplit.Train, trainCount, trainSeed).ToList();
        var eval = ArithmeticTask.Generate(DemoSplit.Eval, evalCount, evalSeed);
        if (plantEvalInTrain > eval.Count) throw new ArgumentOutOfRangeException(nameof(plantEvalInTrain), "more planted problems than eval problems");
        for (int i = 0; i < plantEvalInTrain; i++)
        {
            var p = eval[i];
            if (i % 2 == 1) p = p with { Name = p.Name == ArithmeticTask.Names[0] ? ArithmeticTask.Names[1] : ArithmeticTask.Names[0] };
            train.Insert(i * 2 % (train.Count + 1), p);
        }
        File.WriteAllText(Path.Combine(directory, TrainFile), Render(train), new UTF8Encoding(false));
        File.WriteAllText(Path.Combine(directory, EvalFile), Render(eval), new UTF8Encoding(false));
        return new Counts(train.Count, eval.Count);
    }

    static string Render(IEnumerable<ArithmeticProblem> problems)
    {
        var sb = new StringBuilder();
        foreach (var p in problems)
            sb.Append(new JsonObject
            {
                ["question"] = p.Question,
                ["solution"] = p.CarefulSolution,
                ["answer"] = p.Answer.ToString(System.Globalization.CultureInfo.InvariantCulture),
            }.ToJsonString()).Append('\n');
        return sb.ToString();
    }
}
