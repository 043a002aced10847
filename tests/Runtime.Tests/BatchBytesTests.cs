using Apache.Arrow;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

/// <summary>
/// The batch byte budget (<see cref="ExecutionOptions.BatchBytes"/>): row sizes as <see cref="RowBytes"/> counts them, and
/// the Parquet writer closing a row group at the row that reaches the budget (so a reader's batches are bounded too).
/// </summary>
public class BatchBytesTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-bytes-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static readonly TableSchema Texts = new("texts", new[]
    {
        new ColumnSpec("id", ColumnType.Int32, false), new ColumnSpec("text", ColumnType.String, true),
        new ColumnSpec("parts", ColumnType.ListString, true), new ColumnSpec("ids", ColumnType.ListInt32, true),
    });

    /// <summary>Row r: id (4 bytes), text of <paramref name="sizes"/>[r] ASCII bytes, no parts, no ids.</summary>
    static RecordBatch Batch(params int[] sizes)
    {
        var bb = new BatchBuilder(Texts);
        for (int r = 0; r < sizes.Length; r++) bb.Set("id", r).Set("text", new string('x', sizes[r])).EndRow();
        return bb.Build();
    }

    [Fact]
    public void RowBytesCountValueBytesOfEveryColumn()
    {
        var bb = new BatchBuilder(Texts);
        bb.Set("id", 1).Set("text", "héllo").Set("parts", new[] { "ab", "ü" }).Set("ids", new[] { 1, 2, 3 }).EndRow();
        Assert.Equal(4 + 6 + (2 + 2) + 12, bb.Bytes);       // é and ü are two UTF-8 bytes each
        bb.Set("id", 2).EndRow();                            // nulls count nothing
        Assert.Equal(4 + 6 + 4 + 12 + 4, bb.Bytes);
        var batch = bb.Build();
        Assert.Equal(0, bb.Bytes);
        Assert.Equal(new long[] { 26, 4 }, RowBytes.Of(batch));
        Assert.Equal(new long[] { 4 }, RowBytes.Of(batch.Slice(1, 1)));
        Assert.Equal(new long[] { 26 }, RowBytes.Of(batch.Slice(0, 1)));
    }

    [Fact]
    public void BatchFullAtRowsOrBytes()
    {
        var e = new ExecutionOptions { BatchRows = 3, BatchBytes = 100 };
        Assert.False(e.BatchFull(2, 99));
        Assert.True(e.BatchFull(3, 0));
        Assert.True(e.BatchFull(1, 100));
        Assert.Equal(16L << 20, new ExecutionOptions().BatchBytes);
    }

    async Task<List<int>> RowGroupsAsync(int rowGroupRows, long rowGroupBytes, params RecordBatch[] batches)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".parquet");
        var w = await ParquetTableFileWriter.CreateAsync(path, Texts.ToArrow(), rowGroupRows, rowGroupBytes, default);
        foreach (var b in batches) await w.WriteAsync(b, default);
        await w.CloseAsync(default);
        var read = new List<int>();
        var texts = new List<string?>();
        await foreach (var b in ParquetTableFileReader.ReadBatchesAsync(path))
        {
            read.Add(b.Length);
            for (int r = 0; r < b.Length; r++) texts.Add(b.GetString("text", r));
        }
        Assert.Equal(w.RowGroupRows, read);
        Assert.Equal(batches.SelectMany(b => Enumerable.Range(0, b.Length).Select(r => b.GetString("text", r))), texts);
        return read;
    }

    [Fact]
    public async Task StoreFilesKeepNoStringMinMaxInTheFooterSoItDoesNotGrowWithTheText()
    {
        // Parquet.Net would store each string column chunk's whole smallest and largest value in the footer.
        async Task<(long Footer, Parquet.Meta.FileMetaData Meta)> Write(int textBytes)
        {
            var path = Path.Combine(_dir, $"stats-{textBytes}.parquet");
            var w = await ParquetTableFileWriter.CreateAsync(path, Texts.ToArrow(), rowGroupRows: 2, rowGroupBytes: 1 << 20, default);
            for (int g = 0; g < 6; g++)
            {
                var bb = new BatchBuilder(Texts);
                for (int r = 0; r < 2; r++) bb.Set("id", g * 2 + r).Set("text", new string((char)('a' + g + r), textBytes)).Set("parts", new[] { new string('p', textBytes) }).EndRow();
                await w.WriteAsync(bb.Build(), default);
            }
            await w.CloseAsync(default);
            await using var stream = File.OpenRead(path);
            await using var reader = await Parquet.ParquetReader.CreateAsync(stream);
            stream.Seek(-8, SeekOrigin.End);
            var trailer = new byte[4];
            stream.ReadExactly(trailer);
            return (BitConverter.ToInt32(trailer), reader.Metadata!);
        }

        var (small, meta) = await Write(10);
        var (large, _) = await Write(100_000);
        Assert.Equal(6, meta.RowGroups.Count);
        foreach (var chunk in meta.RowGroups.SelectMany(g => g.Columns))
        {
            var stats = chunk.MetaData!.Statistics;
            if (chunk.MetaData.Type == Parquet.Meta.Type.BYTE_ARRAY)
                Assert.True(stats is null || stats is { Min: null, Max: null, MinValue: null, MaxValue: null }, $"{string.Join(".", chunk.MetaData.PathInSchema)} keeps min/max");
        }
        // The numeric column keeps its statistics (they are small), and null counts stay.
        Assert.Contains(meta.RowGroups.SelectMany(g => g.Columns), c => c.MetaData!.Type == Parquet.Meta.Type.INT32 && c.MetaData.Statistics?.MinValue is not null);
        Assert.True(large - small < 200, $"footer {small} bytes with 10-byte texts, {large} with 100 KB texts");
    }

    [Fact]
    public async Task RowGroupClosesAtTheRowThatReachesTheByteBudget()
    {
        // Rows of 4 + 96 = 100 bytes; budget 250: the third row reaches 300 >= 250, so groups of 3 (each at most one row
        // over the budget), within one batch and across batches alike.
        var sizes = Enumerable.Repeat(96, 10).ToArray();
        Assert.Equal(new[] { 3, 3, 3, 1 }, await RowGroupsAsync(1000, 250, Batch(sizes)));
        Assert.Equal(new[] { 3, 3, 3, 1 }, await RowGroupsAsync(1000, 250, Batch(96, 96), Batch(96, 96, 96, 96), Batch(96, 96, 96, 96)));
        // Exactly at the budget closes the group: 2 rows = 200 bytes with budget 200.
        Assert.Equal(new[] { 2, 2, 2, 2, 2 }, await RowGroupsAsync(1000, 200, Batch(sizes)));
        // A row larger than the budget is a group of its own; rows gather until one takes them to the budget (20 + 1000),
        // and the last rows (4 × 50) are the final group.
        Assert.Equal(new[] { 1, 2, 4 }, await RowGroupsAsync(1000, 1000, Batch(5000, 16, 996, 46, 46, 46, 46)));
        // Rows bound first when rows are small.
        Assert.Equal(new[] { 4, 4, 2 }, await RowGroupsAsync(4, 1 << 20, Batch(sizes)));
    }
}
