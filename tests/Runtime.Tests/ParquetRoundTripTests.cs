using Apache.Arrow;
using IwSft.Runtime.Arrow;
using IwSft.Runtime.Store;

namespace IwSft.Runtime.Tests;

public class ParquetRoundTripTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-pq-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static readonly TableSchema AllTypes = new("all_types", new[]
    {
        new ColumnSpec("s", ColumnType.String, true), new ColumnSpec("s_req", ColumnType.String, false),
        new ColumnSpec("i", ColumnType.Int32, true), new ColumnSpec("l", ColumnType.Int64, false),
        new ColumnSpec("f", ColumnType.Float32, true), new ColumnSpec("d", ColumnType.Float64, false),
        new ColumnSpec("b", ColumnType.Bool, true), new ColumnSpec("bin", ColumnType.Binary, true),
        new ColumnSpec("li", ColumnType.ListInt32, true), new ColumnSpec("lf", ColumnType.ListFloat32, false),
        new ColumnSpec("ls", ColumnType.ListString, true),
    });

    static RecordBatch Rows(int start, int count)
    {
        var bb = new BatchBuilder(AllTypes);
        for (int r = start; r < start + count; r++)
        {
            bool odd = r % 2 == 1;
            bb.Set("s", odd ? null : $"s{r}é").Set("s_req", r % 5 == 0 ? "" : $"req{r}")
              .Set("i", odd ? null : r).Set("l", (long)r * 1_000_000_007L)
              .Set("f", r % 3 == 0 ? null : r / 4f).Set("d", r / 8.0)
              .Set("b", r % 3 == 2 ? null : r % 2 == 0).Set("bin", odd ? null : new byte[] { (byte)r, 0, 255 })
              .Set("li", r % 4 == 3 ? null : Enumerable.Range(0, r % 4).ToArray())
              .Set("lf", r % 3 == 0 ? System.Array.Empty<float>() : new[] { r, -r, 0.5f })
              .Set("ls", r % 5 == 4 ? null : Enumerable.Range(0, r % 3).Select(k => $"w{k}").ToArray())
              .EndRow();
        }
        return bb.Build();
    }

    static List<List<object?>> Cells(IEnumerable<RecordBatch> batches) =>
        batches.SelectMany(b => Enumerable.Range(0, b.Length).Select(i => Enumerable.Range(0, b.ColumnCount).Select(c => CellValues.Get(b.Column(c), i)).ToList())).ToList();

    [Fact]
    public async Task EveryColumnTypeWithNullsAndEmptyListsRoundTripsAcrossRowGroups()
    {
        var path = Path.Combine(_dir, "t.parquet");
        var batches = new[] { Rows(0, 7), Rows(7, 3), Rows(10, 25) };
        var w = await ParquetTableFileWriter.CreateAsync(path, AllTypes.ToArrow(), rowGroupRows: 8, default);
        foreach (var b in batches) await w.WriteAsync(b, default);
        await w.CloseAsync(default);

        var read = new List<RecordBatch>();
        await foreach (var b in ParquetTableFileReader.ReadBatchesAsync(path)) read.Add(b);

        // A row group closes at the row that reaches 8 rows, inside a batch too: 7 + 1 of the second batch, 2 + 6 of the
        // third, then 8, 8 and the last 3.
        Assert.Equal(new[] { 8, 8, 8, 8, 3 }, read.Select(b => b.Length));
        Assert.Equal(Cells(batches), Cells(read));
        AllTypes.Validate(read[0].Schema, "test", "t");
        Assert.Equal(AllTypes.Columns.Select(c => c.Nullable), read[0].Schema.FieldsList.Select(f => f.IsNullable));
        var (schema, rows) = await ParquetTableFileReader.ReadHeaderAsync(path);
        Assert.Equal(35, rows);
        Assert.Equal(11, schema.FieldsList.Count);
        // Spot checks with hand-known values.
        Assert.Null(read[0].GetString("s", 1));
        Assert.Equal("s2é", read[0].GetString("s", 2));
        Assert.Equal(new[] { 0, 1 }, read[0].GetInt32List("li", 2));
        Assert.Null(read[0].GetInt32List("li", 3));
        Assert.Empty(read[0].GetFloatList("lf", 0)!);
        Assert.Equal(new string?[] { "w0" }, read[0].GetStringList("ls", 1));
    }

    [Fact]
    public async Task AnEmptyTableKeepsItsSchema()
    {
        var path = Path.Combine(_dir, "e.parquet");
        var w = await ParquetTableFileWriter.CreateAsync(path, AllTypes.ToArrow(), 8, default);
        await w.CloseAsync(default);
        var (schema, rows) = await ParquetTableFileReader.ReadHeaderAsync(path);
        Assert.Equal(0, rows);
        AllTypes.Validate(schema, "test", "e");
    }
}
