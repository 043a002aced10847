using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Gpu.Models;

/// <summary>
/// What the scorer, trainer and generator need from a language model. The transformer implements
/// it; tests use tiny models through the same interface.
/// </summary>
public interface ICausalLanguageModel
{
    /// <summary>
    /// Next-token logits [B, T, V] (float32) for token ids [B, T] (int64). <paramref name="attentionMask"/>
    /// is [B, T] with 1 for real tokens and 0 for padding (either side); null means no padding.
    /// </summary>
    Tensor Forward(Tensor inputIds, Tensor? attentionMask = null);

    /// <summary>
    /// log p(token_t | tokens_&lt;t) for t = 1..T-1, shape [B, T-1] float32, as <see cref="TokenLogProbs.OfTargets"/>
    /// of <see cref="Forward"/>. The transformers override it with <see cref="ChunkedLogProbs"/>, which never
    /// materialises the [B, T, V] logits; the training objective and the scorer call this.
    /// </summary>
    Tensor TargetLogProbs(Tensor inputIds, Tensor? attentionMask = null)
    {
        using var logits = Forward(inputIds, attentionMask);
        return TokenLogProbs.OfTargets(logits, inputIds);
    }

    /// <summary>The parameters an optimiser updates.</summary>
    IEnumerable<TorchSharp.Modules.Parameter> TrainableParameters();

    Device Device { get; }
}

public static class TokenLogProbs
{
    /// <summary>
    /// log p(token_t | tokens_&lt;t) for t = 1..T-1, shape [B, T-1]: entry [b, t-1] scores token t.
    /// Uses gather − logsumexp rather than a full log_softmax so only [B, T] extra memory is kept.
    /// </summary>
    public static Tensor OfTargets(Tensor logits, Tensor inputIds)
    {
        using var scope = NewDisposeScope();
        var shifted = logits[.., ..^1, ..];
        var targets = inputIds[.., 1..].unsqueeze(-1);
        var picked = shifted.gather(-1, targets).squeeze(-1);
        var result = picked.to(ScalarType.Float32) - shifted.to(ScalarType.Float32).logsumexp(-1);
        return result.MoveToOuterDisposeScope();
    }
}
