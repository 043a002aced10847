using IwSft.Stages.Decontaminate;

namespace IwSft.Stages.Tests;

/// <summary>
/// The n-gram table across many growths: with thousands of distinct n-grams, keys collide in the open-addressed table
/// and are displaced; after every growth each one must still be found where a lookup probes for it.
/// </summary>
public class NgramIndexGrowthTests
{
    [Fact]
    public void Every_item_is_found_by_its_own_text_after_the_table_has_grown_many_times()
    {
        var rng = new Random(20261202);
        string Word() => new string(Enumerable.Range(0, 3 + rng.Next(5)).Select(_ => (char)('a' + rng.Next(26))).ToArray());
        var items = Enumerable.Range(0, 3000).Select(i => new BenchmarkText("bench", $"item{i}", string.Join(' ', Enumerable.Range(0, 12).Select(_ => Word())))).ToList();
        var index = new NgramIndex(8);
        foreach (var item in items) index.Add(item);
        // 5 windows of 8 words per 12-word item: ~15,000 keys, so the table (starting small, kept at most half full) grew many times.
        Assert.True(index.DistinctNgrams > 14_000, $"{index.DistinctNgrams} distinct n-grams");
        foreach (var item in items)
        {
            var match = index.FirstMatch(item.Text);
            Assert.True(match is not null, $"{item.ItemId} is not found by its own text");
            Assert.Equal(item.ItemId, match.Item.ItemId);
            Assert.Equal(0, match.Word);
        }
        // And a text of other words matches nothing.
        Assert.Null(index.FirstMatch(string.Join(' ', Enumerable.Range(0, 40).Select(i => $"zz{i}"))));
    }
}
