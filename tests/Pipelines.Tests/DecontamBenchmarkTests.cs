using IwSft.Cli.Bench;
using IwSft.Stages.Tests;
using Xunit.Abstractions;

namespace IwSft.Pipelines.Tests;

/// <summary>The benchmark's correctness (not its speed): same results as the plain reference, pool built as described.</summary>
public class DecontamBenchmarkTests(ITestOutputHelper output)
{
    [SharedDataFact]
    public async Task Bench_on_a_small_pool_agrees_with_the_reference()
    {
        var result = await DecontaminateBenchmark.RunAsync(SharedData.RootWith("candidates/gsm8k_train.jsonl", "candidates/aime_1983_2024.csv", "benchmarks"), poolSize: 12_000, threads: 2, repeats: 1);
        output.WriteLine(result.Report());
        Assert.True(result.Identical);
        Assert.Equal(12_000, result.Candidates);
        Assert.Equal(30 + 30 + 40 + 674 + 272 + 500 + 1319, result.TestItems);
    }

    [Fact]
    public void Pool_copies_differ_from_their_original_by_numbered_words()
    {
        var pool = DecontaminateBenchmark.BuildPool(["a b c d e f g h i j", "k l"], 5);
        // copy k marks word w when (31w + 7k) mod 9 == 0: copy 1 → word 5, copy 2 → words 1 (and 10, 19, ...)
        Assert.Equal(["a b c d e f g h i j", "k l", "a b c d e f1 g h i j", "k l", "a b2 c d e f g h i j"], pool);
    }
}
