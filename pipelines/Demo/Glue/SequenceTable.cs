using IwSft.Gpu.Training;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Pipelines.Demo.Glue;

/// <summary>Reads a <c>sequences</c> table into trainer examples (reference log-probs when the column is there).</summary>
public static class SequenceTable
{
    public const string RefLogProbsColumn = "ref_log_probs";

    public static async Task<List<TrainingExample>> ReadAsync(ITableReader reader, CancellationToken ct)
    {
        var list = new List<TrainingExample>();
        await foreach (var b in reader.ReadBatchesAsync(ct))
        {
            bool hasRef = b.HasColumn(RefLogProbsColumn);
            for (int r = 0; r < b.Length; r++)
                list.Add(new TrainingExample(b.GetString("id", r)!, b.GetInt32List("input_ids", r)!, b.GetInt32("completion_start", r)!.Value,
                    hasRef ? b.GetFloatList(RefLogProbsColumn, r) : null, b.GetFloat("sampling_weight", r) ?? 1f));
        }
        return list;
    }
}
