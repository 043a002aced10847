using System.Security.Cryptography;
using System.Text;
using Apache.Arrow;
using IwSft.Gpu.Training;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Stages.Training;

/// <summary>Reading the `sequences` and `ref_logprobs` tables into trainer examples; content hashes.</summary>
public static class TrainingData
{
    /// <summary>One row of the `sequences` table.</summary>
    public sealed record SequenceRow(string Id, int[] InputIds, int CompletionStart, double SamplingWeight);

    /// <summary>The whole `sequences` table (the trainer samples from all of it).</summary>
    public static async Task<List<SequenceRow>> ReadSequencesAsync(IStageContext context, string input)
    {
        var rows = new List<SequenceRow>();
        await foreach (var batch in ReadSequenceBatchesAsync(context, input)) rows.AddRange(batch);
        return rows;
    }

    /// <summary>
    /// The `sequences` table one stored batch at a time, each row checked (at least 2 tokens, a completion start
    /// inside them, a finite non-negative weight) and ids unique over the whole table; errors name stage, table,
    /// row, id and column.
    /// </summary>
    public static async IAsyncEnumerable<List<SequenceRow>> ReadSequenceBatchesAsync(IStageContext context, string input)
    {
        var reader = context.ReadTable(input);
        TableSchema.Get("sequences").Validate(reader.Schema, context.StageName, reader.Artifact);
        var firstRow = new Dictionary<string, long>(StringComparer.Ordinal);
        long row = 0;
        await foreach (var batch in reader.ReadBatchesAsync(context.CancellationToken))
        {
            var rows = new List<SequenceRow>(batch.Length);
            for (int r = 0; r < batch.Length; r++, row++)
            {
                var id = batch.GetString("id", r)!;
                var ids = batch.GetInt32List("input_ids", r)!;
                int start = batch.GetInt32("completion_start", r)!.Value;
                double weight = batch.GetFloat("sampling_weight", r)!.Value;
                var where = $"stage '{context.StageName}', {reader.Artifact} row {row} (id '{id}')";
                if (ids.Length < 2) throw new InvalidDataException($"{where}, column input_ids: {ids.Length} tokens, at least 2 needed");
                if (start < 1 || start >= ids.Length)
                    throw new InvalidDataException($"{where}, column completion_start: {start} is outside [1, {ids.Length - 1}]");
                if (!double.IsFinite(weight) || weight < 0)
                    throw new InvalidDataException($"{where}, column sampling_weight: {weight} is not a finite non-negative number");
                if (!firstRow.TryAdd(id, row))
                    throw new InvalidDataException($"{where}, column id: '{id}' appears again (first at row {firstRow[id]})");
                rows.Add(new SequenceRow(id, ids, start, weight));
            }
            yield return rows;
        }
    }

    /// <summary>id → (log-probs, reference hash) from the `ref_logprobs` table.</summary>
    public static async Task<Dictionary<string, (float[] LogProbs, string SequenceHash, string ModelHash)>> ReadReferenceAsync(IStageContext context, string input)
    {
        var reader = context.ReadTable(input);
        TableSchema.Get("ref_logprobs").Validate(reader.Schema, context.StageName, reader.Artifact);
        var result = new Dictionary<string, (float[], string, string)>();
        await foreach (var batch in reader.ReadBatchesAsync(context.CancellationToken))
            for (int r = 0; r < batch.Length; r++)
                result[batch.GetString("id", r)!] = (batch.GetFloatList("ref_logprobs", r)!, batch.GetString("sequence_hash", r)!, batch.GetString("ref_model_hash", r)!);
        return result;
    }

    /// <summary>sha256 over the token ids and the completion start: what the reference log-probs depend on.</summary>
    public static string SequenceHash(int[] inputIds, int completionStart)
    {
        var bytes = new byte[4 * inputIds.Length + 4];
        BitConverter.TryWriteBytes(bytes.AsSpan(0, 4), completionStart);
        Buffer.BlockCopy(inputIds, 0, bytes, 4, 4 * inputIds.Length);
        return Convert.ToHexStringLower(SHA256.HashData(bytes));
    }

    /// <summary>Exact float32 array ↔ compact memo string.</summary>
    public static string EncodeFloats(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
        return Convert.ToBase64String(bytes);
    }

    public static float[] DecodeFloats(string text)
    {
        var bytes = Convert.FromBase64String(text);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
