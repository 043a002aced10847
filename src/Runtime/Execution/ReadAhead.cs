using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;

namespace IwSft.Runtime;

/// <summary>
/// Reads a sequence ahead of its consumer on another thread, so decoding the next batch overlaps with whatever the
/// consumer does with this one (transform, encode, write): on a streaming stage that is one core decoding while the
/// other works. At most <c>depth</c> items wait in the queue (plus the one being produced), so memory stays bounded
/// by a few batches. Order is kept; an error of the source reaches the consumer after every item produced before
/// it; a consumer that stops early (or is cancelled) cancels the source and waits for it to stop, so files it had
/// open are closed when the enumeration ends.
/// </summary>
public static class ReadAhead
{
    public static async IAsyncEnumerable<T> Of<T>(IAsyncEnumerable<T> source, int depth,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (depth < 1)
        {
            await foreach (var item in source.WithCancellation(cancellationToken)) yield return item;
            yield break;
        }
        var channel = Channel.CreateBounded<T>(new BoundedChannelOptions(depth)
        {
            SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait,
        });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Exception? error = null;
        var producer = Task.Run(async () =>
        {
            try
            {
                await foreach (var item in source.WithCancellation(stop.Token)) await channel.Writer.WriteAsync(item, stop.Token);
            }
            catch (Exception e) { error = e; }
            finally { channel.Writer.TryComplete(); }
        }, CancellationToken.None);
        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken))
                while (channel.Reader.TryRead(out var item)) yield return item;
            await producer; // completed the channel: its error (if any) is set
            if (error != null) ExceptionDispatchInfo.Capture(error).Throw();
        }
        finally
        {
            stop.Cancel();
            await producer; // never throws: the producer catches everything
        }
    }
}
