using IwSft.Stages.Decontaminate;

namespace IwSft.Stages.Tests;

/// <summary>The n-gram size's bounds: 1 is the smallest size (single words), 0 is refused.</summary>
public class NgramIndexSizeTests
{
    [Fact]
    public void Size_one_matches_a_single_shared_word_and_reports_the_earliest_item_holding_it()
    {
        var index = new NgramIndex(1, [new BenchmarkText("b", "first", "alpha beta"), new BenchmarkText("b", "second", "gamma beta")]);
        var match = index.FirstMatch("nothing here but beta");
        Assert.NotNull(match);
        Assert.Equal(("first", "beta", 3), (match.Item.ItemId, match.Ngram, match.Word));
        Assert.Equal("second", index.FirstMatch("gamma rays")!.Item.ItemId);
        Assert.Null(index.FirstMatch("delta epsilon"));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void A_size_below_one_is_refused(int n)
    {
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => new NgramIndex(n));
        Assert.Equal("n", e.ParamName);
    }
}
