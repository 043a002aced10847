using System.Text;
using System.Text.Json.Nodes;

namespace IwSft.Pipelines.Demo;

/// <summary>
/// Writes the generated task as the JSONL files the pipeline ingests, exactly as a user's own data would
/// arrive: <c>train.jsonl</c> (question, solution, answer) and <c>eval.jsonl</c> (question, answer, solution).
/// Files are rewritten only when their content changes, and the ingest stage keys on their content, so
/// regenerating the same task keeps every downstream artifact cached.
/// </summary>
public static class DemoData
{
    public const string TrainFile = "train.jsonl";
    public const string EvalFile = "eval.jsonl";

    public sealed record Files(string Train, string Eval);

    /// <param name="plantEvalInTrain">
    /// Copies this many eval problems into the train file: half verbatim, half with another name (only a
    /// shared 8-gram, not an exact duplicate). For the decontamination test; 0 in the real demo.
    /// </param>
    public static Files Write(string directory, int trainCount, int evalCount, int trainSeed, int evalSeed, int plantEvalInTrain = 0)
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
        var files = new Files(Path.Combine(directory, TrainFile), Path.Combine(directory, EvalFile));
        WriteIfChanged(files.Train, Render(train));
        WriteIfChanged(files.Eval, Render(eval));
        return files;
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

    static void WriteIfChanged(string path, string content)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content) return;
        // Temp file + rename: a reader never sees half a file.
        var tmp = path + ".tmp-" + Environment.ProcessId;
        File.WriteAllText(tmp, content, new UTF8Encoding(false));
        File.Move(tmp, path, overwrite: true);
    }
}
