using System.Threading.Tasks.Dataflow;
using Apache.Arrow;

namespace IwSft.Runtime;

/// <summary>
/// Helpers for stage authors: stream an input table through a transform into an output table on linked
/// Dataflow blocks. Every block is bounded (<see cref="ExecutionOptions.BoundedCapacity"/>), so a slow
/// transform or writer holds back the reader and memory stays bounded; the transform runs with
/// <see cref="ExecutionOptions.MaxDegreeOfParallelism"/> workers and output order equals input order.
/// </summary>
public static class StageDataflow
{
    /// <summary>Synchronous transform; return null (or an empty batch) to write nothing for a batch.</summary>
    public static Task<long> TransformAsync(ITableReader reader, ITableWriter writer, Func<RecordBatch, RecordBatch?> transform,
        ExecutionOptions options, CancellationToken ct = default, IStageContext? progress = null) =>
        TransformAsync(reader, writer, (b, _) => Task.FromResult(transform(b)), options, ct, progress);

    /// <summary>
    /// Asynchronous transform. Returns rows read. When <paramref name="progress"/> is given, reports rows
    /// read against the input's row count (for rows/s and ETA).
    /// </summary>
    public static async Task<long> TransformAsync(ITableReader reader, ITableWriter writer,
        Func<RecordBatch, CancellationToken, Task<RecordBatch?>> transform, ExecutionOptions options,
        CancellationToken ct = default, IStageContext? progress = null)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var token = linked.Token;
        var bounded = Math.Max(1, options.BoundedCapacity);
        var transformBlock = new TransformBlock<RecordBatch, RecordBatch?>(b => transform(b, token), new ExecutionDataflowBlockOptions
        {
            MaxDegreeOfParallelism = Math.Max(1, options.MaxDegreeOfParallelism),
            BoundedCapacity = bounded,
            EnsureOrdered = true,
            CancellationToken = token,
        });
        var writeBlock = new ActionBlock<RecordBatch?>(async b =>
        {
            if (b is { Length: > 0 }) await writer.WriteAsync(b, token);
        }, new ExecutionDataflowBlockOptions { MaxDegreeOfParallelism = 1, BoundedCapacity = bounded, CancellationToken = token });
        transformBlock.LinkTo(writeBlock, new DataflowLinkOptions { PropagateCompletion = true });

        long rows = 0;
        try
        {
            await foreach (var batch in reader.ReadBatchesAsync(token))
            {
                // SendAsync waits while the transform's buffer is full: this is the back-pressure.
                if (!await transformBlock.SendAsync(batch, token)) break;
                rows += batch.Length;
                progress?.ReportProgress(rows, reader.RowCount);
            }
            transformBlock.Complete();
        }
        catch (Exception e)
        {
            ((IDataflowBlock)transformBlock).Fault(e);
            linked.Cancel();
            try { await writeBlock.Completion; } catch { /* the reader's exception is the one to report */ }
            throw;
        }
        try { await writeBlock.Completion; }
        catch (Exception) when (transformBlock.Completion.IsFaulted)
        {
            // Surface the transform's own exception rather than the propagated wrapper.
            throw transformBlock.Completion.Exception!.Flatten().InnerExceptions[0];
        }
        if (transformBlock.Completion.IsFaulted) throw transformBlock.Completion.Exception!.Flatten().InnerExceptions[0];
        return rows;
    }

    /// <summary>Writes batches produced by an async generator with back-pressure from the writer.</summary>
    public static async Task<long> WriteAllAsync(IAsyncEnumerable<RecordBatch> batches, ITableWriter writer, CancellationToken ct = default)
    {
        long rows = 0;
        await foreach (var b in batches.WithCancellation(ct)) { await writer.WriteAsync(b, ct); rows += b.Length; }
        return rows;
    }
}
