using IwSft.Text;
using IwSft.Runtime;
using Apache.Arrow;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Curate.Format;

public sealed class TokenLengthConfig
{
    /// <summary>"cl100k_base" (packaged) or a Hugging Face tokenizer directory.</summary>
    public string Tokenizer { get; set; } = HfTokenizer.Cl100kBaseSpec;
    public string Column { get; set; } = "trace";
    public string OutputColumn { get; set; } = "trace_tokens";
}

/// <summary>Token-length feature (kind "token-lengths"): OutputColumn = tokens of Column (null stays null).</summary>
public sealed class TokenLengthStage(string name, TokenLengthConfig? config = null) : Stage<TokenLengthConfig>(name, config)
{
    public override string Kind => "token-lengths";
    public override int Version => 1;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table("records", "candidates"), PortSpec.Dir("tokenizer", optional: true)];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table("records", "features")];
    public override IEnumerable<string> ExternalInputs =>
        Bindings.ContainsKey("tokenizer") || Config.Tokenizer == HfTokenizer.Cl100kBaseSpec ? [] : [Config.Tokenizer];

    public override async Task RunAsync(IStageContext ctx)
    {
        // A bound "tokenizer" directory input (e.g. written by an upstream stage) wins over the configured path.
        var tok = ctx.HasInput("tokenizer") ? HfTokenizer.Load(ctx.InputDirectory("tokenizer")) : HfTokenizer.FromSpec(Config.Tokenizer);
        var reader = ctx.ReadTable("records");
        if (reader.Schema.GetFieldIndex(Config.Column) < 0)
            throw new ArgumentException($"stage '{Name}': column '{Config.Column}' is not in input '{reader.Artifact}'");
        var features = TableSchema.Get("features");
        var field = CurateTables.NullableField(Config.OutputColumn, ColumnType.Int32);
        // Only the counted column is read; the output is the input's rows plus the count (a derived table: no copy).
        await using var writer = ctx.DeriveTable("records", reader);
        long done = 0, tokens = 0;
        await foreach (var batch in reader.ReadColumnsAsync([Config.Column], ctx.CancellationToken))
        {
            var counts = new object?[batch.Length];
            var text = batch.Column(0);
            Parallel.For(0, batch.Length, new ParallelOptions { MaxDegreeOfParallelism = ctx.Execution.MaxDegreeOfParallelism, CancellationToken = ctx.CancellationToken }, r =>
            {
                // Literal text: a special-token string inside a trace counts as the characters it is.
                if (CurateTables.Cell(text, r) is string s) counts[r] = tok.CountTokens(s, allowSpecial: false);
            });
            tokens += counts.Sum(c => (int?)c ?? 0);
            await writer.WriteRowsAsync(CurateTables.RowNumbers(done, batch.Length), CurateTables.AddedColumns(reader.Schema, features, batch.Length, (field, CurateTables.BuildArray(field, counts))), ctx.CancellationToken);
            done += batch.Length;
            ctx.ReportProgress(done, reader.RowCount);
        }
        if (done == 0) await writer.WriteRowsAsync([], CurateTables.AddedColumns(reader.Schema, features, 0, (field, CurateTables.BuildArray(field, []))), ctx.CancellationToken);
        ctx.SetMetric("tokens.total", tokens);
        ctx.Log($"{Name}: {done} records, {tokens} tokens in '{Config.Column}' ({tok.Name})");
    }
}
