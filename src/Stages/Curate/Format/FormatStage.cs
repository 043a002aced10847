using IwSft.Text;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Curate.Format;

/// <summary>
/// Format / tokenise (kind "format-sequences"): curated records → training sequences (schema "sequences")
/// with completion-only loss via <c>completion_start</c>. Every record gets one decision: kept "fits",
/// kept "truncated" (cut to the block size), or dropped ("missing_features", "prompt_exceeds_block",
/// "too_long" under the Drop policy). Truncation is never silent.
/// </summary>
public sealed class FormatStage(string name, FormatConfig? config = null) : Stage<FormatConfig>(name, config)
{
    public override string Kind => "format-sequences";
    // v2: s1's answer rule ("Answer: " only when the attempt lacks it; stripped), as in s1's data/tokenization.py.
    public override int Version => 2;
    public override bool WritesDecisions => true;
    public override IReadOnlyList<PortSpec> Inputs { get; } = [PortSpec.Table("records", "candidates"), PortSpec.Dir("tokenizer", optional: true)];
    public override IReadOnlyList<PortSpec> Outputs { get; } = [PortSpec.Table("sequences", "sequences")];
    public override IEnumerable<string> ExternalInputs =>
        Bindings.ContainsKey("tokenizer") || string.IsNullOrEmpty(Config.Tokenizer) || Config.Tokenizer == HfTokenizer.Cl100kBaseSpec ? [] : [Config.Tokenizer];

    public override async Task RunAsync(IStageContext ctx)
    {
        if (Config.BlockSize <= 0) throw new ArgumentException($"stage '{Name}': block_size must be positive, got {Config.BlockSize}");
        // A bound "tokenizer" directory input (e.g. written by an upstream stage) wins over the configured path.
        var tok = ctx.HasInput("tokenizer") ? HfTokenizer.Load(ctx.InputDirectory("tokenizer")) : HfTokenizer.FromSpec(Config.Tokenizer);
        var formatter = new SequenceFormatter(tok, Config);
        var reader = ctx.ReadTable("records");
        var schema = TableSchema.Get("sequences");
        await using var writer = ctx.WriteTable("sequences");
        var counts = new Dictionary<string, long>();
        long done = 0, tokens = 0;
        await foreach (var batch in reader.ReadBatchesAsync(ctx.CancellationToken))
        {
            var results = new (FormattedSequence? Seq, string Reason, string? Detail, float Weight)[batch.Length];
            Parallel.For(0, batch.Length, new ParallelOptions { MaxDegreeOfParallelism = ctx.Execution.MaxDegreeOfParallelism, CancellationToken = ctx.CancellationToken }, r =>
            {
                string? Col(string c) => CurateTables.OptString(batch, c, r);
                float weight = batch.HasColumn(Config.WeightColumn) && CurateTables.Cell(batch.Col(Config.WeightColumn), r) is float w ? w : 1f;
                string? question = Col(Config.QuestionColumn);
                string? content = formatter.AssistantContent(Col, out var missing);
                if (question is null) missing = Config.QuestionColumn;
                if (missing != null) { results[r] = (null, "missing_features", $"missing: {missing}", weight); return; }
                var seq = formatter.Format(question!, content!);
                if (seq.CompletionStart >= Config.BlockSize)
                    results[r] = (null, "prompt_exceeds_block", $"prompt {seq.CompletionStart} tokens >= block {Config.BlockSize}", weight);
                else if (seq.Truncated && Config.Truncation == TruncationPolicy.Drop)
                    results[r] = (null, "too_long", $"{seq.FullTokens} tokens > block {Config.BlockSize}", weight);
                else if (seq.Truncated)
                    results[r] = (seq, "truncated", $"{seq.FullTokens} tokens > block {Config.BlockSize}: cut {seq.FullTokens - Config.BlockSize} completion tokens", weight);
                else
                    results[r] = (seq, "fits", null, weight);
            });

            var bb = new BatchBuilder(schema);
            for (int r = 0; r < batch.Length; r++)
            {
                var (seq, reason, detail, weight) = results[r];
                string id = batch.GetString("id", r)!;
                ctx.Decisions.Record(id, seq != null, reason, detail);
                counts[reason] = counts.GetValueOrDefault(reason) + 1;
                if (seq is null) continue;
                bb.Set("id", id).Set("input_ids", seq.InputIds).Set("completion_start", seq.CompletionStart)
                  .Set("num_tokens", seq.InputIds.Length).Set("prompt_tokens", seq.CompletionStart)
                  .Set("completion_tokens", seq.InputIds.Length - seq.CompletionStart).Set("full_tokens", seq.FullTokens)
                  .Set("truncated", seq.Truncated).Set("sampling_weight", weight).Set("text", Config.EmitText ? seq.Text : null);
                bb.EndRow();
                tokens += seq.InputIds.Length;
            }
            if (bb.Count > 0) await writer.WriteAsync(bb.Build(), ctx.CancellationToken);
            done += batch.Length;
            ctx.ReportProgress(done, reader.RowCount);
        }
        foreach (var (reason, n) in counts) ctx.SetMetric($"decisions.{reason}", n);
        ctx.SetMetric("tokens.total", tokens);
        ctx.Log($"{Name}: {done} records → {counts.GetValueOrDefault("fits") + counts.GetValueOrDefault("truncated")} sequences " +
                $"({counts.GetValueOrDefault("truncated")} truncated to {Config.BlockSize}), {tokens} tokens, tokenizer {tok.Name}");
    }
}
