using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Training;

/// <summary>A padded micro-batch on the model's device. Targets are positions 1..T−1 of the ids.</summary>
public sealed class MicroBatch : IDisposable
{
    public required Tensor InputIds { get; init; }       // [B, T] int64, right-padded with 0
    public required Tensor AttentionMask { get; init; }  // [B, T] int64, 1 = real token
    public required Tensor LossMask { get; init; }       // [B, T−1] bool, true = completion target
    public Tensor? RefLogProbs { get; init; }            // [B, T−1] float32 (precomputed reference)
    public long Tokens { get; init; }
    public long LossTokens { get; init; }

    /// <summary>Right-pads <paramref name="examples"/> (truncated to <paramref name="maxLength"/>).</summary>
    public static MicroBatch Build(IReadOnlyList<TrainingExample> examples, int maxLength, Device device, bool withReference)
    {
        int b = examples.Count;
        int t = Math.Min(maxLength, examples.Max(e => e.InputIds.Length));
        var ids = new long[b * t];
        var attention = new long[b * t];
        var loss = new bool[b * (t - 1)];
        var reference = withReference ? new float[b * (t - 1)] : null;
        long tokens = 0, lossTokens = 0;
        for (int i = 0; i < b; i++)
        {
            var e = examples[i];
            int len = Math.Min(t, e.InputIds.Length);
            tokens += len;
            for (int j = 0; j < len; j++) { ids[i * t + j] = e.InputIds[j]; attention[i * t + j] = 1; }
            for (int j = Math.Max(1, e.CompletionStart); j < len; j++) { loss[i * (t - 1) + j - 1] = true; lossTokens++; }
            if (reference is not null)
            {
                if (e.RefLogProbs is null)
                    throw new InvalidDataException($"sequence '{e.Id}' has no reference log-probs; the trainer is configured for precomputed reference log-probs");
                for (int j = Math.Max(1, e.CompletionStart); j < len; j++) reference[i * (t - 1) + j - 1] = e.RefLogProbs[j - e.CompletionStart];
            }
        }
        return new MicroBatch
        {
            InputIds = tensor(ids, [b, t], ScalarType.Int64, device),
            AttentionMask = tensor(attention, [b, t], ScalarType.Int64, device),
            LossMask = tensor(loss, [b, t - 1], ScalarType.Bool, device),
            RefLogProbs = reference is null ? null : tensor(reference, [b, t - 1], ScalarType.Float32, device),
            Tokens = tokens,
            LossTokens = lossTokens,
        };
    }

    public void Dispose()
    {
        InputIds.Dispose(); AttentionMask.Dispose(); LossMask.Dispose(); RefLogProbs?.Dispose();
    }
}

/// <summary>Loss of one micro-batch plus the weights that entered it (for the step's statistics).</summary>
public sealed record ObjectiveResult(Tensor Loss, Tensor Weights, Tensor WeightMask);

/// <summary>
/// The one loss path shared by the LLM trainer and the bandit: target log-probs (<see cref="ICausalLanguageModel.TargetLogProbs"/>,
/// chunked over the vocabulary for the transformers), importance
/// weights (none for SFT), weighted token NLL normalised by the global batch's loss-token count.
/// </summary>
public static class TrainingObjective
{
    /// <param name="proposal">q's model when q is an EMA copy; null means q = the policy, detached.</param>
    /// <param name="reference">π_ref's live model; null means use <see cref="MicroBatch.RefLogProbs"/>.</param>
    public static ObjectiveResult Compute(ICausalLanguageModel policy, MicroBatch batch, TrainerConfig config, double lossTokensInGlobalBatch,
                                          ICausalLanguageModel? proposal = null, ICausalLanguageModel? reference = null)
    {
        var logp = policy.TargetLogProbs(batch.InputIds, batch.AttentionMask);
        var normaliser = Math.Max(1.0, lossTokensInGlobalBatch);

        if (config.Loss == LossKind.Sft)
        {
            var loss = Losses.WeightedTokenNll(logp, batch.LossMask, null, normaliser);
            // SFT's implicit weights are all 1, one per sequence with loss tokens.
            var seqMask = batch.LossMask.any(1);
            return new ObjectiveResult(loss, ones(seqMask.shape[0], ScalarType.Float32, seqMask.device), seqMask);
        }

        Tensor qLogp, refLogp;
        using (no_grad())
        {
            qLogp = proposal is null ? logp.detach() : ScoreTargets(proposal, batch);
            refLogp = reference is not null ? ScoreTargets(reference, batch)
                : batch.RefLogProbs ?? throw new InvalidOperationException("iw-SFT needs reference log-probs: precomputed in the batch, or a live reference model");
        }

        Tensor weights, weightMask;
        if (config.Loss == LossKind.IwSftSequence)
        {
            weights = ImportanceWeights.Sequence(qLogp, refLogp, batch.LossMask, config.WeightTemperature, config.WeightClipMin, config.WeightClipMax);
            weightMask = batch.LossMask.any(1);
        }
        else
        {
            weights = ImportanceWeights.Token(qLogp, refLogp, batch.LossMask, config.TokenClipEpsilon);
            weightMask = batch.LossMask;
        }
        var result = Losses.WeightedTokenNll(logp, batch.LossMask, weights, normaliser);
        return new ObjectiveResult(result, weights, weightMask);
    }

    static Tensor ScoreTargets(ICausalLanguageModel model, MicroBatch batch) => model.TargetLogProbs(batch.InputIds, batch.AttentionMask);
}
