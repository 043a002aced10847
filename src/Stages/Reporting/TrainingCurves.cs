using Apache.Arrow;
using IwSft.Runtime;

namespace IwSft.Stages.Reporting;

/// <summary>Per-step training metrics of one run (the train_metrics table; optional columns may be absent).</summary>
public sealed record TrainingCurve(string Run, double[] Step, double[] Loss, double[]? LearningRate, double[]? GradNorm,
    double[]? WeightMean, double[]? WeightMin, double[]? WeightMax, double[]? WeightEss);

public static class TrainingCurveReader
{
    /// <summary>Reads step and loss (required) and lr, grad_norm, w_mean, w_min, w_max, w_ess (optional), any numeric type.</summary>
    public static async Task<TrainingCurve> ReadAsync(string run, ITableReader reader, string stage, CancellationToken ct)
    {
        string[] names = ["step", "loss", "lr", "grad_norm", "w_mean", "w_min", "w_max", "w_ess"];
        var columns = names.ToDictionary(n => n, _ => new List<double>());
        var present = new HashSet<string>();
        long row = 0;
        await foreach (var batch in reader.ReadBatchesAsync(ct))
        {
            foreach (var n in names)
            {
                int idx = batch.Schema.GetFieldIndex(n);
                if (idx < 0)
                {
                    if (n is "step" or "loss")
                        throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}': training metrics need column '{n}'; columns: {string.Join(", ", batch.Schema.FieldsList.Select(f => f.Name))}");
                    continue;
                }
                present.Add(n);
                var array = batch.Column(idx);
                for (int r = 0; r < batch.Length; r++)
                    columns[n].Add(Number(array, r) ?? (n is "step" or "loss"
                        ? throw new InvalidDataException($"stage '{stage}', artifact '{reader.Artifact}', row {row + r}, column '{n}': null or not numeric")
                        : double.NaN));
            }
            row += batch.Length;
        }
        double[]? Opt(string n) => present.Contains(n) ? columns[n].ToArray() : null;
        return new TrainingCurve(run, columns["step"].ToArray(), columns["loss"].ToArray(), Opt("lr"), Opt("grad_norm"),
            Opt("w_mean"), Opt("w_min"), Opt("w_max"), Opt("w_ess"));
    }

    static double? Number(IArrowArray a, int i) => a.IsNull(i) ? null : a switch
    {
        DoubleArray d => d.GetValue(i),
        FloatArray f => f.GetValue(i),
        Int32Array x => x.GetValue(i),
        Int64Array x => x.GetValue(i),
        _ => null,
    };
}
