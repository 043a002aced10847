using System.Security.Cryptography;

namespace IwSft.Runtime.Store;

/// <summary>
/// A read-only file stream that hashes the file's bytes in file order while a reader consumes them, so an
/// artifact is verified against its address as it is read, without a separate pass. Bytes are hashed when a
/// read reaches the end of the prefix hashed so far; reads elsewhere (a Parquet reader's footer first) are
/// passed through. <see cref="FinishAsync"/> hashes whatever the reader skipped or read out of order (for a
/// Parquet file read row group by row group: its footer) and returns the file's sha256.
/// </summary>
internal sealed class VerifyingReadStream : Stream
{
    readonly FileStream _inner;
    readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
    long _hashedTo;

    // Stryker disable once all : the buffer size changes speed only
    public VerifyingReadStream(string path) =>
        _inner = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous);

    /// <summary>Bytes read a second time by <see cref="FinishAsync"/> (0 for a strictly sequential reader).</summary>
    public long CatchUpBytes { get; private set; }

    void Feed(long position, ReadOnlySpan<byte> data)
    {
        // Stryker disable once Equality : '<=' -> '<' re-reads exactly the hashed prefix and appends zero bytes
        if (position > _hashedTo || position + data.Length <= _hashedTo) return;
        _sha.AppendData(data[(int)(_hashedTo - position)..]);
        _hashedTo = position + data.Length;
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        long at = _inner.Position;
        int n = _inner.Read(buffer);
        Feed(at, buffer[..n]);
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        long at = _inner.Position;
        int n = await _inner.ReadAsync(buffer, ct);
        Feed(at, buffer.Span[..n]);
        return n;
    }

    /// <summary>Hashes the rest of the file (from the end of the sequentially hashed prefix) and returns the sha256.</summary>
    public async Task<string> FinishAsync(CancellationToken ct)
    {
        long length = RandomAccess.GetLength(_inner.SafeFileHandle);
        var buffer = new byte[1 << 16];
        // Stryker disable once Equality : '<=' makes one extra read that returns 0 and breaks
        while (_hashedTo < length)
        {
            int n = await RandomAccess.ReadAsync(_inner.SafeFileHandle, buffer, _hashedTo, ct);
            // Stryker disable once all : only a file shrinking during FinishAsync reaches this
            if (n == 0) break;
            _sha.AppendData(buffer, 0, n);
            _hashedTo += n;
            CatchUpBytes += n;
        }
        return Convert.ToHexStringLower(_sha.GetHashAndReset());
    }

    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Length => _inner.Length;
    public override long Position { get => _inner.Position; set => _inner.Position = value; }
    public override long Seek(long offset, SeekOrigin origin) => _inner.Seek(offset, origin);
    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    // Stryker disable all : the base Dispose/DisposeAsync dispose the inner stream again and the hash holds no
    // resource a test can observe, so dropping any one of these calls changes nothing observable
    protected override void Dispose(bool disposing)
    {
        if (disposing) { _inner.Dispose(); _sha.Dispose(); }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        await _inner.DisposeAsync();
        _sha.Dispose();
        await base.DisposeAsync();
    }
    // Stryker restore all
}
