using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Curate.Weight;

public enum QualityWeightMode
{
    /// <summary>w = clamp((q - QualityMin) / (QualityMax - QualityMin), 0, 1) ^ Alpha.</summary>
    Power,
    /// <summary>w = AboveWeight if q >= Threshold else BelowWeight.</summary>
    Threshold,
}

/// <summary>How SFT(Q) turns graded quality into a per-example sampling / loss weight.</summary>
public sealed class QualityWeightConfig
{
    public QualityWeightMode Mode { get; set; } = QualityWeightMode.Power;
    public string QualityColumn { get; set; } = "quality";
    public double QualityMin { get; set; } = 1;
    public double QualityMax { get; set; } = 10;
    public double Alpha { get; set; } = 1;
    public double Threshold { get; set; } = 7;
    public double AboveWeight { get; set; } = 1;
    public double BelowWeight { get; set; } = 0;
    /// <summary>Weight of a record with no quality; null makes a missing quality an error.</summary>
    public double? MissingWeight { get; set; }
    /// <summary>Rescale so the weights average 1 over the table (keeps the effective learning rate of plain SFT).</summary>
    public bool NormalizeMean { get; set; }
}

/// <summary>Writes sampling_weight from quality (kind "quality-weight"); every record is kept.</summary>
public sealed class QualityWeightStage(string name, QualityWeightConfig? config = null) : Stage<QualityWeightConfig>(name, config)
{
    public override string Kind => "quality-weight";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table("records", "features")];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table("records", "features")];

    /// <summary>The weight of one quality value before mean normalisation.</summary>
    public double RawWeight(double? quality, Func<string> where)
    {
        var c = Config;
        if (quality is not { } q)
            return c.MissingWeight ?? throw new InvalidDataException($"{where()}: '{c.QualityColumn}' is null and missing_weight is not configured");
        return c.Mode switch
        {
            QualityWeightMode.Power => Math.Pow(Math.Clamp((q - c.QualityMin) / (c.QualityMax - c.QualityMin), 0, 1), c.Alpha),
            QualityWeightMode.Threshold => q >= c.Threshold ? c.AboveWeight : c.BelowWeight,
            _ => throw new ArgumentOutOfRangeException(),
        };
    }

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.Mode == QualityWeightMode.Power && !(Config.QualityMax > Config.QualityMin))
            throw new ArgumentException($"stage '{Name}': quality_max ({Config.QualityMax}) must exceed quality_min ({Config.QualityMin})");
        var reader = ctx.ReadTable("records");
        var features = TableSchema.Get("features");
        double scale = 1;
        if (Config.NormalizeMean)
        {
            double sum = 0;
            long n = 0;
            await foreach (var b in reader.ReadBatchesAsync(ctx.CancellationToken))
                for (int r = 0; r < b.Length; r++, n++) sum += RawWeight(Quality(b, r), () => Where(reader, n));
            if (n > 0 && sum <= 0) throw new InvalidDataException($"stage '{Name}': all weights are 0, cannot normalise their mean to 1");
            scale = n == 0 ? 1 : n / sum;
        }
        var field = CurateTables.NullableField("sampling_weight", ColumnType.Float32);
        await using var writer = ctx.DeriveTable("records", reader);
        long row = 0;
        double total = 0;
        await foreach (var raw in reader.ReadBatchesAsync(ctx.CancellationToken))
        {
            var batch = CurateTables.EnsureColumns(raw, features);
            var w = new object?[batch.Length];
            long first = row;
            for (int r = 0; r < batch.Length; r++, row++)
            {
                long at = row;
                w[r] = (float)(RawWeight(Quality(batch, r), () => Where(reader, at)) * scale);
                total += (float)w[r]!;
            }
            await writer.WriteRowsAsync(CurateTables.RowNumbers(first, batch.Length),
                CurateTables.AddedColumns(reader.Schema, features, batch.Length, (field, CurateTables.BuildArray(field, w))), ctx.CancellationToken);
        }
        if (row == 0) await writer.WriteRowsAsync([], CurateTables.AddedColumns(reader.Schema, features, 0, (field, CurateTables.BuildArray(field, []))), ctx.CancellationToken);
        ctx.SetMetric("sampling_weight.mean", row == 0 ? 0 : total / row);
    }

    double? Quality(RecordBatch b, int r) => CurateTables.Cell(b.Col(Config.QualityColumn), r) switch
    {
        null => null,
        float f => f,
        double d => d,
        int i => i,
        long l => l,
        var other => throw new InvalidDataException($"stage '{Name}': column '{Config.QualityColumn}' holds {other.GetType().Name}, not a number"),
    };

    string Where(ITableReader reader, long row) => $"stage '{Name}', input '{reader.Artifact}', row {row}";
}
