namespace IwSft.Gpu.Training;

/// <summary>
/// One curated sequence as the trainer sees it: token ids, the index of the first completion token
/// (loss is on tokens at index ≥ CompletionStart, prompt tokens are masked), an optional per-token
/// reference log-prob array over the completion tokens (entry j is log π_ref(token CompletionStart + j |
/// earlier tokens), length T − CompletionStart, as the reference log-prob stage stores them) and an
/// SFT(Q) sampling weight.
/// </summary>
public sealed record TrainingExample(string Id, int[] InputIds, int CompletionStart, float[]? RefLogProbs = null, double SamplingWeight = 1.0)
{
    public void Validate(string where)
    {
        if (InputIds.Length < 2) throw new InvalidDataException($"{where}: sequence '{Id}' has {InputIds.Length} tokens; at least 2 are needed");
        if (CompletionStart < 1 || CompletionStart >= InputIds.Length)
            throw new InvalidDataException($"{where}: sequence '{Id}' has completion_start {CompletionStart}, must be in [1, {InputIds.Length - 1}]");
        if (RefLogProbs is not null && RefLogProbs.Length != InputIds.Length - CompletionStart)
            throw new InvalidDataException($"{where}: sequence '{Id}' has {RefLogProbs.Length} reference log-probs, expected {InputIds.Length - CompletionStart} (one per completion token)");
        if (!double.IsFinite(SamplingWeight) || SamplingWeight < 0)
            throw new InvalidDataException($"{where}: sequence '{Id}' has sampling_weight {SamplingWeight}; must be finite and >= 0");
    }

    /// <summary>Number of loss (completion) tokens.</summary>
    public int LossTokens => InputIds.Length - CompletionStart;
}
