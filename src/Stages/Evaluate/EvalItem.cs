namespace IwSft.Stages.Evaluate;

/// <summary>One benchmark problem (a row of the benchmark_items table).</summary>
public sealed record EvalItem(string ItemId, string Benchmark, string Question, string Answer, IReadOnlyList<string>? Choices)
{
    public bool IsMultipleChoice => Choices is { Count: > 0 };
}
