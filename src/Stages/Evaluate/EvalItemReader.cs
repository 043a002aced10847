using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Evaluate;

/// <summary>Reads an benchmark_items table into memory (benchmarks are small), with errors naming stage, artifact, row and column.</summary>
public static class EvalItemReader
{
    public static async Task<List<EvalItem>> ReadAsync(ITableReader reader, string stage, CancellationToken ct)
    {
        var items = new List<EvalItem>();
        var seen = new HashSet<(string, string)>();
        long row = 0;
        await foreach (var batch in reader.ReadBatchesAsync(ct))
        {
            bool hasChoices = batch.HasColumn("choices");
            for (int r = 0; r < batch.Length; r++, row++)
            {
                string Required(string column) => batch.GetString(column, r) is { Length: > 0 } v ? v
                    : throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}', row {row}, column '{column}': empty or null");
                string id = Required("item_id"), bench = Required("benchmark"), question = Required("question"), answer = Required("answer");
                var choices = hasChoices ? batch.GetStringList("choices", r) : null;
                if (choices is not null && choices.Any(c => c is null))
                    throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}', row {row}, column 'choices': a choice is null");
                var item = new EvalItem(id, bench, question, answer, choices is { Length: > 0 } ? choices!.Select(c => c!).ToList() : null);
                if (item.IsMultipleChoice)
                {
                    try { Grader.GoldLetter(answer, item.Choices!); }
                    catch (FormatException e) { throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}', row {row}, column 'answer': {e.Message}"); }
                }
                if (!seen.Add((bench, id)))
                    throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}', row {row}, column 'item_id': duplicate item '{id}' in benchmark '{bench}'");
                items.Add(item);
            }
        }
        if (items.Count == 0) throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}': no benchmark items");
        return items;
    }
}
