using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;

namespace IwSft.Runtime.Tests;

public class SchemaAndBatchTests
{
    [Fact]
    public void ShippedSchemasLoadAndDecisionsHasTheDocumentedColumns()
    {
        var d = TableSchema.Get("decisions");
        Assert.Equal(new[] { "record_id", "stage", "kept", "reason", "detail" }, d.Columns.Select(c => c.Name));
        Assert.Contains(TableSchema.All, s => s.Name == "candidates");
    }

    [Fact]
    public void UnknownSchemaListsTheKnownOnes()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => TableSchema.Get("nope"));
        Assert.Contains("decisions", e.Message);
    }

    [Fact]
    public void AProgramRegistersItsOwnSchemaOnceAndANameKeepsOneShape()
    {
        // A unique name per test run: the registry is process-wide, as the embedded schemas are.
        string name = "registered_" + Guid.NewGuid().ToString("N");
        var mine = new TableSchema(name, [new ColumnSpec("source", ColumnType.String, false), new ColumnSpec("count", ColumnType.Int64, false)]);
        Assert.Throws<KeyNotFoundException>(() => TableSchema.Get(name));
        Assert.Same(mine, TableSchema.Register(mine));
        Assert.Same(mine, TableSchema.Get(name));
        // The same shape again (a second stage instance building its schema) is the first one.
        Assert.Same(mine, TableSchema.Register(new TableSchema(name, [new ColumnSpec("source", ColumnType.String, false), new ColumnSpec("count", ColumnType.Int64, false)])));
        var other = Assert.Throws<ArgumentException>(() => TableSchema.Register(new TableSchema(name, [new ColumnSpec("source", ColumnType.String, true)])));
        Assert.Contains($"schema '{name}' is already registered with other columns", other.Message);
        var shipped = Assert.Throws<ArgumentException>(() => TableSchema.Register(new TableSchema("candidates", [new ColumnSpec("id", ColumnType.String, false)])));
        Assert.Contains("schema 'candidates' is shipped in schemas/", shipped.Message);
        Assert.Same(TableSchema.Get("decisions"), TableSchema.Register(TableSchema.Get("decisions")));
        Assert.Contains(name, Assert.Throws<KeyNotFoundException>(() => TableSchema.Get("nope")).Message);
    }

    [Fact]
    public void BatchBuilderRoundTripsEveryColumnType()
    {
        var schema = new TableSchema("t", new[]
        {
            new ColumnSpec("s", ColumnType.String, true), new ColumnSpec("i", ColumnType.Int32, false),
            new ColumnSpec("l", ColumnType.Int64, false), new ColumnSpec("f", ColumnType.Float32, false),
            new ColumnSpec("d", ColumnType.Float64, false), new ColumnSpec("b", ColumnType.Bool, false),
            new ColumnSpec("lf", ColumnType.ListFloat32, true), new ColumnSpec("li", ColumnType.ListInt32, false),
        });
        var bb = new BatchBuilder(schema);
        bb.Set("s", "x").Set("i", 1).Set("l", 2L).Set("f", 0.5f).Set("d", 0.25).Set("b", true)
          .Set("lf", new[] { 1f, 2f }).Set("li", new[] { 3, 4, 5 }).EndRow();
        bb.Set("i", -1).Set("l", long.MaxValue).Set("f", -0.5f).Set("d", double.Epsilon).Set("b", false)
          .Set("li", System.Array.Empty<int>()).EndRow();
        var batch = bb.Build();
        Assert.Equal(2, batch.Length);
        Assert.Equal("x", batch.GetString("s", 0));
        Assert.Null(batch.GetString("s", 1));
        Assert.Equal(long.MaxValue, batch.GetInt64("l", 1));
        Assert.Equal(new[] { 1f, 2f }, batch.GetFloatList("lf", 0));
        Assert.Null(batch.GetFloatList("lf", 1));
        Assert.Equal(new[] { 3, 4, 5 }, batch.GetInt32List("li", 0));
        Assert.Empty(batch.GetInt32List("li", 1)!);
        schema.Validate(batch.Schema, "test-stage", "t");
    }

    [Fact]
    public void ValidationNamesStageArtifactColumnAndTypes()
    {
        var expected = TableSchema.Get("decisions");
        var actual = new Schema.Builder()
            .Field(new Field("record_id", Apache.Arrow.Types.Int64Type.Default, false)).Build();
        var e = Assert.Throws<SchemaMismatchException>(() => expected.Validate(actual, "filter", "filter.decisions"));
        Assert.Equal("schema mismatch in stage 'filter', artifact 'filter.decisions', column 'record_id': expected string, got int64", e.Message);
    }

    [Fact]
    public void NonNullableColumnLeftUnsetIsAnErrorNamingIt()
    {
        var bb = new BatchBuilder(TableSchema.Get("decisions"));
        bb.Set("record_id", "a");
        var e = Assert.Throws<ArgumentException>(() => bb.EndRow());
        Assert.Contains("'stage'", e.Message);
    }
}
