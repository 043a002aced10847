using System.Security.Cryptography;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>
/// The store's two file primitives on their own: the hashing read stream (verification on read) and the atomic
/// metadata write. The end-to-end guarantees are in StoreSafetyTests; these pin the exact contracts those rely on.
/// </summary>
public class StoreFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-storefile-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    (string Path, byte[] Bytes, string Sha) File(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        var path = Path.Combine(_dir, $"f{seed}-{length}.bin");
        System.IO.File.WriteAllBytes(path, bytes);
        return (path, bytes, Convert.ToHexStringLower(SHA256.HashData(bytes)));
    }

    // ---------------------------------------------------------------- VerifyingReadStream

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(70_000)]   // more than the stream's 64 KiB buffer
    [InlineData(200_001)]
    public async Task ASequentialReaderIsHashedAsItReadsAndNothingIsReadTwice(int length)
    {
        var (path, bytes, sha) = File(length);
        await using var s = new VerifyingReadStream(path);
        var copy = new MemoryStream();
        var buffer = new byte[4096];
        int n;
        while ((n = await s.ReadAsync(buffer)) > 0) copy.Write(buffer, 0, n);
        Assert.Equal(bytes, copy.ToArray());
        Assert.Equal(sha, await s.FinishAsync(CancellationToken.None));
        Assert.Equal(0, s.CatchUpBytes);
    }

    [Fact]
    public async Task SynchronousAndArrayReadsAreHashedToo()
    {
        var (path, _, sha) = File(10_000);
        await using var s = new VerifyingReadStream(path);
        var buffer = new byte[777];
        int total = 0, n;
        while ((n = total % 2 == 0 ? s.Read(buffer, 0, buffer.Length) : await s.ReadAsync(buffer, 0, buffer.Length, CancellationToken.None)) > 0) total += n;
        Assert.Equal(10_000, total);
        Assert.Equal(sha, await s.FinishAsync(CancellationToken.None));
        Assert.Equal(0, s.CatchUpBytes);
    }

    [Fact]
    public async Task AFooterReadFirstThenTheBodyGivesTheFileHashReadingOnlyTheFooterTwice()
    {
        var (path, bytes, sha) = File(50_000);
        await using var s = new VerifyingReadStream(path);
        s.Seek(-100, SeekOrigin.End);
        var footer = new byte[100];
        s.ReadExactly(footer);
        Assert.Equal(bytes[^100..], footer);
        s.Position = 0;
        var body = new byte[50_000 - 100];
        await s.ReadExactlyAsync(body);
        Assert.Equal(bytes[..^100], body);
        Assert.Equal(sha, await s.FinishAsync(CancellationToken.None));
        Assert.Equal(100, s.CatchUpBytes);
    }

    [Fact]
    public async Task SkippedAndRereadBytesAreHashedOnceInFileOrder()
    {
        var (path, _, sha) = File(30_000);
        await using var s = new VerifyingReadStream(path);
        var buffer = new byte[10_000];
        s.ReadExactly(buffer);          // [0, 10000): hashed
        s.Position = 5_000;
        s.ReadExactly(buffer);          // [5000, 15000): only [10000, 15000) is new
        s.Position = 20_000;
        s.ReadExactly(buffer);          // [20000, 30000): beyond the hashed prefix, passed through
        Assert.Equal(sha, await s.FinishAsync(CancellationToken.None));
        Assert.Equal(15_000, s.CatchUpBytes); // [15000, 30000) read again by FinishAsync
    }

    [Fact]
    public async Task AStreamNeverReadIsHashedWholeByFinish()
    {
        var (path, _, sha) = File(100_000);
        await using var s = new VerifyingReadStream(path);
        Assert.Equal(sha, await s.FinishAsync(CancellationToken.None));
        Assert.Equal(100_000, s.CatchUpBytes);
    }

    [Fact]
    public async Task ChangedBytesGiveAnotherHash()
    {
        var (path, bytes, sha) = File(5_000);
        bytes[4_321] ^= 1;
        System.IO.File.WriteAllBytes(path, bytes);
        await using var s = new VerifyingReadStream(path);
        s.ReadExactly(new byte[5_000]);
        Assert.NotEqual(sha, await s.FinishAsync(CancellationToken.None));
    }

    [Fact]
    public void ItIsAReadOnlySeekableViewOfTheFile()
    {
        var (path, _, _) = File(1234);
        using var s = new VerifyingReadStream(path);
        Assert.True(s.CanRead);
        Assert.True(s.CanSeek);
        Assert.False(s.CanWrite);
        Assert.Equal(1234, s.Length);
        Assert.Equal(34, s.Seek(34, SeekOrigin.Begin));
        Assert.Equal(34, s.Position);
        s.Flush();
        Assert.Throws<NotSupportedException>(() => s.Write([1], 0, 1));
        Assert.Throws<NotSupportedException>(() => s.SetLength(1));
    }

    [Fact]
    public void DisposingReleasesTheFile()
    {
        var (path, _, _) = File(10);
        var s = new VerifyingReadStream(path);
        s.Dispose();
        System.IO.File.Delete(path); // would fail on a platform that locks open files; on any platform, the handle is gone:
        Assert.Throws<ObjectDisposedException>(() => s.Length);
    }

    [Fact]
    public async Task DisposingAsynchronouslyReleasesTheFile()
    {
        var (path, _, _) = File(10);
        var s = new VerifyingReadStream(path);
        await s.DisposeAsync();
        Assert.Throws<ObjectDisposedException>(() => s.Length);
    }

    // ---------------------------------------------------------------- AtomicFile

    [Fact]
    public void AnAtomicWriteCreatesTheFoldersReplacesTheFileAndLeavesNoTemporary()
    {
        var path = Path.Combine(_dir, "a", "b", "meta.json");
        AtomicFile.WriteAllText(path, "first — ünïcode");
        Assert.Equal("first — ünïcode", System.IO.File.ReadAllText(path));
        AtomicFile.WriteAllText(path, "second");
        Assert.Equal("second", System.IO.File.ReadAllText(path));
        Assert.Equal(["meta.json"], Directory.GetFiles(Path.GetDirectoryName(path)!).Select(Path.GetFileName));
    }

    [Fact]
    public void AFailedRenameLeavesNoTemporaryAndTheErrorReachesTheCaller()
    {
        var path = Path.Combine(_dir, "target");
        Directory.CreateDirectory(path); // a directory where the file should go: the rename fails
        Assert.ThrowsAny<Exception>(() => AtomicFile.WriteAllText(path, "x"));
        Assert.Empty(Directory.GetFiles(_dir));
    }
}
