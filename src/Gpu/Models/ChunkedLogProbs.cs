using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace IwSft.Gpu.Models;

/// <summary>Rows [Start, Start + Weight.shape[0]) of the output projection, on the weight's device.</summary>
public readonly record struct VocabShard(Tensor Weight, long Start);

/// <summary>
/// log p(next token) from the final hidden states without the [B, T, V] logits: positions are taken
/// <c>chunkTokens</c> at a time, each vocabulary shard computes its chunk of logits and reduces it to
/// (max, Σ exp(logit − max), target logit), and the shards are combined by log-sum-exp on the hidden
/// states' device. With gradients on, each chunk is a <see cref="Checkpointing"/> call: backward
/// recomputes that chunk's logits, so one chunk's logits per shard exist at a time.
/// </summary>
public static class ChunkedLogProbs
{
    /// <summary>Positions per chunk when nothing else is configured (fp32 chunk logits: 2048 × V × 4 B per shard).</summary>
    public const int DefaultChunkTokens = 2048;

    /// <param name="hidden">Final-normed hidden states [B, T, H] in the compute dtype.</param>
    /// <param name="inputIds">[B, T]; entry [b, t−1] of the result scores token t.</param>
    /// <param name="chunkTokens">Positions per chunk (over B·(T−1)); 0 or less = all in one chunk.</param>
    /// <returns>[B, T−1] float32 on <paramref name="hidden"/>'s device.</returns>
    public static Tensor OfTargets(Tensor hidden, Tensor inputIds, IReadOnlyList<VocabShard> shards, int chunkTokens)
    {
        using var scope = NewDisposeScope();
        long b = hidden.shape[0], t = hidden.shape[1];
        var x = hidden[.., ..^1, ..].reshape(-1, hidden.shape[2]);
        var targets = inputIds[.., 1..].to(ScalarType.Int64).to(hidden.device).reshape(-1);
        long n = x.shape[0];
        if (n == 0) return zeros(b, 0, ScalarType.Float32, hidden.device).MoveToOuterDisposeScope();
        long size = chunkTokens > 0 ? Math.Min(chunkTokens, n) : n;
        var weights = shards.Select(s => s.Weight).ToList();
        bool recompute = is_grad_enabled() && (x.requires_grad || weights.Any(w => w.requires_grad));
        var parts = new List<Tensor>();
        for (long start = 0; start < n; start += size)
        {
            long len = Math.Min(size, n - start);
            var chunk = x.narrow(0, start, len);
            var chunkTargets = targets.narrow(0, start, len);
            if (recompute)
            {
                // The replay in backward runs after this scope has closed: the targets must outlive it (the GC frees them).
                chunkTargets.DetachFromDisposeScope();
                parts.Add(Checkpointing.Run(c => Chunk(c, chunkTargets, shards), chunk, weights));
            }
            else parts.Add(Checkpointing.Scoped(() => Chunk(chunk, chunkTargets, shards)));
        }
        return cat(parts, 0).view(b, t - 1).MoveToOuterDisposeScope();
    }

    /// <summary>log p(target) for positions <paramref name="x"/> [C, H]: per-shard statistics, combined across shards.</summary>
    static Tensor Chunk(Tensor x, Tensor targets, IReadOnlyList<VocabShard> shards)
    {
        var home = x.device;
        var maxes = new Tensor[shards.Count];
        var sums = new Tensor[shards.Count];
        Tensor? picked = null;
        for (int i = 0; i < shards.Count; i++)
        {
            var (w, start) = shards[i];
            var dev = w.device;
            long rows = w.shape[0];
            Tensor logits;
            using (var lowPrecision = F.linear(x.to(dev), w.to(x.dtype))) logits = lowPrecision.to(ScalarType.Float32);
            var local = targets.to(dev) - start;
            var outside = local.lt(0) | local.ge(rows);
            var target = logits.gather(-1, local.clamp(0, rows - 1).unsqueeze(-1)).squeeze(-1).masked_fill(outside, 0);
            // The shift is a constant for autograd: log-sum-exp's gradient (the softmax) does not depend on it.
            var max = logits.detach().amax(new long[] { -1 }, keepdim: true);
            Tensor sum;
            using (var shifted = logits - max) sum = shifted.exp_().sum(-1);
            logits.Dispose();
            maxes[i] = max.squeeze(-1).to(home);
            sums[i] = sum.to(home);
            picked = picked is null ? target.to(home) : picked + target.to(home);
        }
        var globalMax = maxes.Length == 1 ? maxes[0] : stack(maxes).amax(new long[] { 0 });
        Tensor total = sums[0] * (maxes[0] - globalMax).exp();
        for (int i = 1; i < sums.Length; i++) total = total + sums[i] * (maxes[i] - globalMax).exp();
        return picked! - (globalMax + total.log());
    }
}
