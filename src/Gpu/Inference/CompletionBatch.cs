using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Inference;

/// <summary>
/// Prompt + completion pairs packed into one right-padded batch. <see cref="CompletionMask"/> lines
/// up with <see cref="TokenLogProbs.OfTargets"/>: entry [b, t] is 1 when token t+1 of row b is a
/// completion token, so Σ mask · logp is the completion's log-likelihood (prompt and padding masked).
/// The trainer builds its micro-batches with this and the scorer uses the same packing.
/// </summary>
public sealed class CompletionBatch : IDisposable
{
    /// <summary>[B, T] int64, padding = <c>padId</c>.</summary>
    public Tensor InputIds { get; }
    /// <summary>[B, T] int64, 1 for real tokens.</summary>
    public Tensor AttentionMask { get; }
    /// <summary>[B, T-1] float32, 1 where the target is a completion token.</summary>
    public Tensor CompletionMask { get; }
    public int[] PromptLengths { get; }
    public int[] CompletionLengths { get; }

    CompletionBatch(Tensor ids, Tensor mask, Tensor completionMask, int[] promptLengths, int[] completionLengths)
    {
        InputIds = ids; AttentionMask = mask; CompletionMask = completionMask;
        PromptLengths = promptLengths; CompletionLengths = completionLengths;
    }

    public static CompletionBatch Build(IReadOnlyList<(int[] Prompt, int[] Completion)> pairs, Device? device = null, int padId = 0)
    {
        if (pairs.Count == 0) throw new ArgumentException("no prompt/completion pairs to batch");
        for (int i = 0; i < pairs.Count; i++)
            if (pairs[i].Prompt.Length == 0)
                throw new ArgumentException($"pair {i}: the prompt is empty; the first completion token needs at least one token of context");
        int b = pairs.Count;
        int t = Math.Max(2, pairs.Max(p => p.Prompt.Length + p.Completion.Length));
        var ids = new long[b * t];
        var mask = new long[b * t];
        var cmask = new float[b * (t - 1)];
        Array.Fill(ids, padId);
        for (int r = 0; r < b; r++)
        {
            var (prompt, completion) = pairs[r];
            for (int j = 0; j < prompt.Length; j++) { ids[r * t + j] = prompt[j]; mask[r * t + j] = 1; }
            for (int j = 0; j < completion.Length; j++)
            {
                int pos = prompt.Length + j;
                ids[r * t + pos] = completion[j];
                mask[r * t + pos] = 1;
                cmask[r * (t - 1) + pos - 1] = 1;
            }
        }
        var dev = device ?? CPU;
        return new CompletionBatch(
            tensor(ids, new long[] { b, t }, device: dev),
            tensor(mask, new long[] { b, t }, device: dev),
            tensor(cmask, new long[] { b, t - 1 }, device: dev),
            pairs.Select(p => p.Prompt.Length).ToArray(),
            pairs.Select(p => p.Completion.Length).ToArray());
    }

    /// <summary>Splits token log-probs [B, T-1] into one array per pair with one value per completion token.</summary>
    public float[][] CompletionValues(Tensor tokenLogProbs)
    {
        using var cpu = tokenLogProbs.detach().to(ScalarType.Float32).cpu();
        var flat = cpu.data<float>().ToArray();
        long width = tokenLogProbs.shape[1];
        var result = new float[PromptLengths.Length][];
        for (int r = 0; r < result.Length; r++)
        {
            result[r] = new float[CompletionLengths[r]];
            Array.Copy(flat, r * width + PromptLengths[r] - 1, result[r], 0, CompletionLengths[r]);
        }
        return result;
    }

    public void Dispose()
    {
        InputIds.Dispose(); AttentionMask.Dispose(); CompletionMask.Dispose();
    }
}
