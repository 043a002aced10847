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

        // A failing writer must stop the reader too (otherwise SendAsync would wait forever on a full buffer).
        _ = writeBlock.Completion.ContinueWith(t => { if (t.IsFaulted) linked.Cancel(); }, TaskScheduler.Default);

        long rows = 0;
        Exception? readError = null;
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
            readError = e;
            ((IDataflowBlock)transformBlock).Fault(e);
            linked.Cancel();
        }
        try { await writeBlock.Completion; } catch { /* inspected below */ }
        // Report the root cause: the transform's or writer's own exception, else the reader's, else cancellation.
        if (transformBlock.Completion.IsFaulted && FirstRealError(transformBlock.Completion.Exception!) is { } te && te != readError) throw te;
        if (writeBlock.Completion.IsFaulted && FirstRealError(writeBlock.Completion.Exception!) is { } we && we != readError) throw we;
        if (readError != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(readError).Throw();
        ct.ThrowIfCancellationRequested();
        if (writeBlock.Completion.IsCanceled) throw new OperationCanceledException("transform cancelled");
        return rows;
    }

    static Exception? FirstRealError(AggregateException e) =>
        e.Flatten().InnerExceptions.FirstOrDefault(x => x is not OperationCanceledException) ?? e.Flatten().InnerExceptions.FirstOrDefault();
}
