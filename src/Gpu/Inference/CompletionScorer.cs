using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Inference;

/// <summary>
/// Per-token log-probabilities of completions given prompts, without gradients. Pairs are sorted by
/// length so each batch carries little padding; results come back in input order. The same pair
/// gives the same values (to float tolerance) alone or in any batch, because padding is on the
/// right and causal attention never looks at it.
/// </summary>
public static class CompletionScorer
{
    public static float[][] Score(ICausalLanguageModel model, IReadOnlyList<(int[] Prompt, int[] Completion)> pairs, int batchSize, int padId = 0)
    {
        if (batchSize <= 0) throw new ArgumentOutOfRangeException(nameof(batchSize), "batch size must be positive");
        var result = new float[pairs.Count][];
        var order = Enumerable.Range(0, pairs.Count).OrderByDescending(i => pairs[i].Prompt.Length + pairs[i].Completion.Length).ToArray();
        using var _ = no_grad();
        for (int start = 0; start < order.Length; start += batchSize)
        {
            var idx = order.Skip(start).Take(batchSize).ToArray();
            using var scope = NewDisposeScope();
            using var batch = CompletionBatch.Build(idx.Select(i => pairs[i]).ToList(), model.Device, padId);
            var values = batch.CompletionValues(model.TargetLogProbs(batch.InputIds, batch.AttentionMask));
            for (int j = 0; j < idx.Length; j++) result[idx[j]] = values[j];
        }
        return result;
    }
}
