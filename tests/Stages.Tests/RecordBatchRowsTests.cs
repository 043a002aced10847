using Apache.Arrow;
using Apache.Arrow.Types;

namespace IwSft.Stages.Tests;

public class RecordBatchRowsTests
{
    /// <summary>A batch of (id string, steps list&lt;string&gt;) rows named prefix0..prefixN-1, each with i+1 steps.</summary>
    static RecordBatch Batch(string prefix, int n, Schema? schema = null)
    {
        var ids = new StringArray.Builder();
        var steps = new ListArray.Builder(StringType.Default);
        var values = (StringArray.Builder)steps.ValueBuilder;
        for (int i = 0; i < n; i++)
        {
            ids.Append($"{prefix}{i}");
            steps.Append();
            for (int s = 0; s <= i; s++) values.Append($"{prefix}{i}.{s}");
        }
        var list = steps.Build();
        schema ??= new Schema([new Field("id", StringType.Default, false), new Field("steps", list.Data.DataType, true)], null);
        return new RecordBatch(schema, [ids.Build(), list], n);
    }

    static List<string> Ids(RecordBatch b) => Enumerable.Range(0, b.Length).Select(i => ((StringArray)b.Column(0)).GetString(i)).ToList();

    static List<string> Steps(RecordBatch b, int row)
    {
        var list = (ListArray)b.Column(1);
        var values = (StringArray)list.GetSlicedValues(row);
        return Enumerable.Range(0, values.Length).Select(i => values.GetString(i)).ToList();
    }

    [Fact]
    public void RowsOfSeveralBatchesComeOutInTheGivenOrderWithNestedColumnsIntact()
    {
        var a = Batch("a", 4);
        var b = Batch("b", 3, a.Schema);
        var taken = RecordBatchRows.Take(a.Schema, [(b, 2), (a, 1), (a, 2), (a, 3), (b, 0), (a, 0)]);
        Assert.Equal(["b2", "a1", "a2", "a3", "b0", "a0"], Ids(taken));
        Assert.Equal(["b2.0", "b2.1", "b2.2"], Steps(taken, 0));
        Assert.Equal(["a3.0", "a3.1", "a3.2", "a3.3"], Steps(taken, 3));
        Assert.Equal(["a0.0"], Steps(taken, 5));
    }

    [Fact]
    public void OneBatchKeepsOnlyTheListedRows()
    {
        var a = Batch("a", 5);
        Assert.Equal(["a0", "a2", "a3"], Ids(RecordBatchRows.Take(a, [0, 2, 3])));
        Assert.Same(a, RecordBatchRows.Take(a, [0, 1, 2, 3, 4]));
        Assert.Equal(0, RecordBatchRows.Take(a, []).Length);
        Assert.Equal(["a4", "a3", "a2", "a1", "a0"], Ids(RecordBatchRows.Take(a, [4, 3, 2, 1, 0])));
    }

    [Fact]
    public void ABatchOfAnotherShapeIsRefused()
    {
        var a = Batch("a", 2);
        var other = new RecordBatch(new Schema([new Field("id", StringType.Default, false)], null), [a.Column(0)], 2);
        var e = Assert.Throws<ArgumentException>(() => RecordBatchRows.Take(a.Schema, [(a, 0), (other, 1)]));
        Assert.Contains("row 1 comes from a batch whose columns (id:utf8) differ", e.Message);
    }
}
