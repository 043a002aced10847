using IwSft.Gpu.Models;
using static TorchSharp.torch;

namespace IwSft.Gpu.Inference;

/// <param name="MaxNewTokens">Upper bound on generated tokens per prompt.</param>
/// <param name="Temperature">0 = greedy (argmax); otherwise logits are divided by it before sampling.</param>
/// <param name="TopP">Nucleus sampling: keep the smallest set of most likely tokens whose mass reaches TopP.</param>
/// <param name="Seed">Seed of the sampling generator; the same seed, prompts and model give the same tokens.</param>
/// <param name="StopTokens">Generation of a sequence ends after it emits one of these (the stop token is kept).</param>
/// <param name="PadId">Token used for left padding; it is masked out and never attended to.</param>
/// <param name="RowSeeds">Optional seed per prompt: each row samples from its own generator, so a row's
/// tokens equal those of that prompt generated alone with Seed = its row seed (batching-independent sampling).</param>
/// <param name="Choices">Guided choice (vLLM's <c>structured_outputs.choice</c>): each row's output is exactly one of these
/// token sequences followed by the first stop token; at every step only the tokens that continue some choice may be
/// chosen (greedy or sampled among them).</param>
/// <param name="MinNewTokens">vLLM's <c>min_tokens</c>: the stop tokens cannot be chosen before this many tokens are generated.</param>
public sealed record GenerationOptions(
    int MaxNewTokens = 128, double Temperature = 0.0, double TopP = 1.0, long Seed = 0,
    IReadOnlyCollection<int>? StopTokens = null, int PadId = 0, IReadOnlyList<long>? RowSeeds = null,
    IReadOnlyList<int[]>? Choices = null, int MinNewTokens = 0);

public static class FinishReason
{
    public const string Stop = "stop";
    public const string Length = "length";
}

/// <summary>Generated token ids (without the prompt) and why generation ended.</summary>
public sealed record GenerationResult(int[] Tokens, string FinishReason);

/// <summary>
/// Batched autoregressive generation with a KV cache. Prompts of different lengths are left padded;
/// position ids count real tokens only, so a padded prompt generates exactly what it would alone.
/// Sampling draws from a seeded CPU generator (the same on every device).
/// </summary>
public static class TokenGenerator
{
    public static IReadOnlyList<GenerationResult> Generate(IDecoderModel model, IReadOnlyList<int[]> prompts, GenerationOptions options)
    {
        if (prompts.Count == 0) return Array.Empty<GenerationResult>();
        if (prompts.Any(p => p.Length == 0)) throw new ArgumentException("every prompt needs at least one token");
        if (options.MaxNewTokens < 0) throw new ArgumentOutOfRangeException(nameof(options), "MaxNewTokens must be >= 0");
        if (options.Temperature < 0) throw new ArgumentOutOfRangeException(nameof(options), "Temperature must be >= 0");
        if (options.TopP is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(options), "TopP must be in (0, 1]");

        int b = prompts.Count, len = prompts.Max(p => p.Length);
        var ids = new long[b * len];
        var mask = new long[b * len];
        Array.Fill(ids, options.PadId);
        for (int r = 0; r < b; r++)
        {
            int offset = len - prompts[r].Length;
            for (int j = 0; j < prompts[r].Length; j++) { ids[r * len + offset + j] = prompts[r][j]; mask[r * len + offset + j] = 1; }
        }
        var stops = new HashSet<int>(options.StopTokens ?? Array.Empty<int>());
        var guide = options.Choices is null ? null : new ChoiceGuide(options.Choices, options.StopTokens);
        var stopIds = stops.Select(t => (long)t).ToArray();
        var outputs = Enumerable.Range(0, b).Select(_ => new List<int>()).ToArray();
        var finished = new string?[b];
        using var rng = new Generator((ulong)options.Seed, CPU);
        using var rowRngs = RowGenerators.Create(options.RowSeeds, b);
        using var cache = new KvCache();
        using var _ = no_grad();

        var idT = tensor(ids, new long[] { b, len });
        var maskT = tensor(mask, new long[] { b, len });
        var (positions, keyMask) = Transformer.PositionsAndKeys(idT, maskT);
        var lastPos = positions[.., ^1..].clone();
        var logits = model.Forward(idT, positions, keyMask, cache);
        var next = logits[.., ^1, ..].cpu();
        idT.Dispose(); maskT.Dispose(); positions.Dispose(); logits.Dispose();

        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            using var scope = NewDisposeScope();
            if (guide is not null) next = guide.Mask(next, outputs, finished);
            if (step < options.MinNewTokens && stopIds.Length > 0)
            {
                var held = next.index_fill(1, tensor(stopIds), float.NegativeInfinity);
                next.Dispose();
                next = held;
            }
            var chosen = Choose(next, options, rng, rowRngs?.Rows).data<long>().ToArray();
            next.Dispose();
            for (int r = 0; r < b; r++)
            {
                if (finished[r] is not null) continue;
                outputs[r].Add((int)chosen[r]);
                if (stops.Contains((int)chosen[r])) finished[r] = FinishReason.Stop;
            }
            if (finished.All(f => f is not null) || step == options.MaxNewTokens - 1) break;
            // Finished rows keep decoding (their output is ignored) so the batch stays rectangular.
            var stepIds = tensor(chosen, new long[] { b, 1 });
            var newPos = (lastPos + 1).MoveToOuterDisposeScope();
            lastPos.Dispose();
            lastPos = newPos;
            var newKeys = cat(new[] { keyMask, ones(b, 1, ScalarType.Bool) }, 1).MoveToOuterDisposeScope();
            keyMask.Dispose();
            keyMask = newKeys;
            next = model.Forward(stepIds, lastPos, keyMask, cache)[.., -1, ..].cpu().MoveToOuterDisposeScope();
        }
        lastPos.Dispose(); keyMask.Dispose();
        return outputs.Select((o, r) => new GenerationResult(o.ToArray(), finished[r] ?? FinishReason.Length)).ToList();
    }

    /// <summary>Next token per row from last-position logits [B, V] (CPU): argmax, or temperature + top-p sampling.</summary>
    internal static Tensor Choose(Tensor logits, GenerationOptions o, Generator rng, Generator[]? rowRngs = null)
    {
        if (o.Temperature == 0) return logits.argmax(-1);
        var probs = (logits.to(ScalarType.Float32) / o.Temperature).softmax(-1);
        if (o.TopP < 1)
        {
            var (sorted, index) = probs.sort(-1, descending: true);
            // Drop a token when the mass of the more likely tokens before it already reaches TopP.
            var before = sorted.cumsum(-1) - sorted;
            var kept = sorted.masked_fill(before.ge(o.TopP), 0);
            probs = zeros_like(probs).scatter(-1, index, kept);
        }
        if (rowRngs is not null)
            return cat(Enumerable.Range(0, rowRngs.Length).Select(r => multinomial(probs[r..(r + 1)], 1, generator: rowRngs[r])).ToArray(), 0).squeeze(-1);
        return multinomial(probs, 1, generator: rng).squeeze(-1);
    }

    /// <summary>
    /// Guided choice: which next tokens keep a row's output on the way to one of the choices (each followed by the
    /// end token). Choices are few and short (labels), so a scan per row and step is cheaper than building a trie.
    /// </summary>
    sealed class ChoiceGuide
    {
        readonly int[][] _choices;

        public ChoiceGuide(IReadOnlyList<int[]> choices, IReadOnlyCollection<int>? stops)
        {
            if (choices.Count == 0) throw new ArgumentException("guided choice needs at least one choice");
            if (choices.Any(c => c.Length == 0)) throw new ArgumentException("a guided choice encodes to no tokens");
            if (stops is not { Count: > 0 }) throw new ArgumentException("guided choice needs a stop token to end a choice with");
            int end = stops.First();
            _choices = choices.Select(c => (int[])[.. c, end]).ToArray();
        }

        /// <summary>The logits [B, V] with every token that leaves all choices set to -∞ (rows already finished are left alone).</summary>
        public Tensor Mask(Tensor logits, List<int>[] outputs, string?[] finished)
        {
            int b = (int)logits.shape[0], v = (int)logits.shape[1];
            var mask = new float[b * v];
            for (int r = 0; r < b; r++)
            {
                if (finished[r] is not null) continue;
                Array.Fill(mask, float.NegativeInfinity, r * v, v);
                var emitted = outputs[r];
                foreach (var c in _choices)
                    if (c.Length > emitted.Count && c.AsSpan(0, emitted.Count).SequenceEqual(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(emitted)))
                        mask[r * v + c[emitted.Count]] = 0;
            }
            using var m = tensor(mask, new long[] { b, v });
            var guided = logits + m;
            logits.Dispose();
            return guided;
        }
    }

    /// <summary>One sampling generator per batch row (see <see cref="GenerationOptions.RowSeeds"/>).</summary>
    sealed class RowGenerators(Generator[] rows) : IDisposable
    {
        public Generator[] Rows { get; } = rows;

        public static RowGenerators? Create(IReadOnlyList<long>? seeds, int batch)
        {
            if (seeds is null) return null;
            if (seeds.Count != batch) throw new ArgumentException($"RowSeeds has {seeds.Count} seeds for {batch} prompts");
            return new RowGenerators(seeds.Select(s => new Generator((ulong)s, CPU)).ToArray());
        }

        public void Dispose() { foreach (var g in Rows) g.Dispose(); }
    }
}
