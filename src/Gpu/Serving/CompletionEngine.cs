using IwSft.Gpu.Inference;
using IwSft.Gpu.Models;
using IwSft.Text;
using static TorchSharp.torch;

namespace IwSft.Gpu.Serving;

/// <summary>One completion to produce: the prompt's token ids and the sampling settings of its request.</summary>
/// <param name="Logprobs">Alternatives per generated token to return (0 = only the chosen token's); null = none.</param>
/// <param name="PromptLogprobs">The same for the prompt's tokens (vLLM's extension); null = none.</param>
/// <param name="Stop">Stop strings: the text ends before the first one generated (not included).</param>
/// <param name="Choices">Guided choice: the text is exactly one of these (<see cref="GenerationOptions.Choices"/>); null = free text.</param>
/// <param name="StopTokenIds">vLLM's <c>stop_token_ids</c>: more tokens that end generation (kept in the ids, not in the text).</param>
/// <param name="MinTokens">vLLM's <c>min_tokens</c>: no stop token before this many tokens.</param>
public sealed record CompletionJob(
    int[] PromptIds, int MaxTokens, double Temperature, double TopP, long Seed,
    int? Logprobs = null, int? PromptLogprobs = null, IReadOnlyList<string>? Stop = null, IReadOnlyList<string>? Choices = null,
    IReadOnlyList<int>? StopTokenIds = null, int MinTokens = 0);

/// <summary>A token's log-probability under the model, its rank in the vocabulary (1 = most likely) and the top alternatives.</summary>
public sealed record TokenLogProb(int TokenId, float LogProb, int Rank, IReadOnlyList<(int TokenId, float LogProb)> Top);

/// <param name="Tokens">Generated ids, up to and including the token that ended it (a stop token, or the one completing a stop string).</param>
/// <param name="Text">The completion's text: without a stop token or stop string.</param>
/// <param name="FinishReason">"stop" (stop token or string) or "length".</param>
/// <param name="StopString">The stop string that ended the text, if one did.</param>
/// <param name="PromptLogprobs">One per prompt token; the first is null (nothing predicts it).</param>
public sealed record CompletionOutput(
    int[] Tokens, string Text, string FinishReason, string? StopString,
    IReadOnlyList<TokenLogProb>? Logprobs, IReadOnlyList<TokenLogProb?>? PromptLogprobs);

/// <summary>
/// The model side of <c>iwsft serve</c>: generates a batch of jobs with the KV cache (one batched call per group of
/// jobs with the same length limit and sampling settings), then scores prompt + completion in one forward pass per
/// job where log-probabilities are asked for. Each job samples from its own seed, so its output does not depend on
/// which other jobs share its batch (<see cref="TokenGenerator"/>'s row seeds). Log-probabilities are the raw model's
/// (before temperature and top-p), as vLLM returns by default.
/// </summary>
public sealed class CompletionEngine(IDecoderModel model, HfTokenizer tokenizer, int maxBatch = 16) : IDisposable
{
    readonly int[] _stopTokens = new[] { tokenizer.EosToken, QwenChatTemplate.ImEnd }
        .Where(tokenizer.SpecialTokens.ContainsKey).Select(t => tokenizer.SpecialTokens[t]).Distinct().ToArray();

    public HfTokenizer Tokenizer => tokenizer;
    public int MaxModelLength => model.Config.MaxPositionEmbeddings;

    /// <summary>Outputs in job order.</summary>
    public IReadOnlyList<CompletionOutput> Run(IReadOnlyList<CompletionJob> jobs)
    {
        for (int i = 0; i < jobs.Count; i++) Validate(jobs[i]);
        var generated = new GenerationResult[jobs.Count];
        int pad = tokenizer.PadId ?? tokenizer.EosId;
        // Jobs share a batch only with jobs of the same limits, sampling settings and choices (one set per batch).
        var groups = Enumerable.Range(0, jobs.Count).GroupBy(i => (jobs[i].MaxTokens, jobs[i].Temperature, jobs[i].TopP,
            Choices: jobs[i].Choices is { } c ? string.Join('\0', c) : null,
            Stops: jobs[i].StopTokenIds is { } s ? string.Join(',', s) : null, jobs[i].MinTokens));
        foreach (var group in groups)
        foreach (var chunk in group.OrderBy(i => jobs[i].PromptIds.Length).Chunk(Math.Max(1, maxBatch)))
        {
            var first = jobs[chunk[0]];
            var options = new GenerationOptions(first.MaxTokens, first.Temperature, first.TopP, first.Seed, [.. _stopTokens.Union(first.StopTokenIds ?? [])], pad,
                RowSeeds: chunk.Select(i => jobs[i].Seed).ToList(), Choices: first.Choices?.Select(c => tokenizer.EncodeToIds(c).ToArray()).ToList(),
                MinNewTokens: first.MinTokens);
            var outputs = TokenGenerator.Generate(model, chunk.Select(i => jobs[i].PromptIds).ToList(), options);
            for (int j = 0; j < chunk.Length; j++) generated[chunk[j]] = outputs[j];
        }
        return jobs.Select((job, i) => Finish(job, generated[i])).ToList();
    }

    /// <summary>Throws <see cref="ArgumentException"/> for a job this model cannot run (empty prompt, unknown ids, too long).</summary>
    public void Validate(CompletionJob job)
    {
        if (job.PromptIds.Length == 0) throw new ArgumentException("the prompt encodes to no tokens");
        if (job.PromptIds.Any(id => id < 0 || id >= tokenizer.VocabSize))
            throw new ArgumentException($"a prompt token id is outside the vocabulary (size {tokenizer.VocabSize})");
        if (job.PromptIds.Length + job.MaxTokens > MaxModelLength)
            throw new ArgumentException($"prompt of {job.PromptIds.Length} tokens + max_tokens {job.MaxTokens} exceeds the model's {MaxModelLength} positions");
        if (job.StopTokenIds is { } stopIds && stopIds.Any(id => id < 0 || id >= tokenizer.VocabSize))
            throw new ArgumentException($"a stop token id is outside the vocabulary (size {tokenizer.VocabSize})");
        if (job.MinTokens < 0 || job.MinTokens > job.MaxTokens) throw new ArgumentException($"min_tokens {job.MinTokens} must be between 0 and max_tokens {job.MaxTokens}");
        if (job.Choices is { } choices && (choices.Count == 0 || choices.Any(c => c.Length == 0)))
            throw new ArgumentException("guided choice needs at least one choice, and no empty one");
    }

    CompletionOutput Finish(CompletionJob job, GenerationResult result)
    {
        var tokens = result.Tokens;
        string finish = result.FinishReason;
        int textTokens = finish == FinishReason.Stop ? tokens.Length - 1 : tokens.Length;
        string text = tokenizer.Decode(tokens.Take(textTokens));
        string? stopString = null;
        if (job.Stop is { Count: > 0 } stops && FirstStop(text, stops) is { } hit)
        {
            // Keep the tokens up to the one that completed the stop string; the text ends before it.
            int kept = 1;
            while (kept < textTokens && tokenizer.Decode(tokens.Take(kept)).Length < hit.Index + hit.Stop.Length) kept++;
            tokens = tokens[..kept];
            text = text[..hit.Index];
            finish = FinishReason.Stop;
            stopString = hit.Stop;
        }
        IReadOnlyList<TokenLogProb>? logprobs = null;
        IReadOnlyList<TokenLogProb?>? promptLogprobs = null;
        if (job.Logprobs is not null || job.PromptLogprobs is not null)
        {
            var all = Score([.. job.PromptIds, .. tokens], Math.Max(job.Logprobs ?? 0, job.PromptLogprobs ?? 0));
            int p = job.PromptIds.Length;
            if (job.Logprobs is { } k) logprobs = all.Skip(p).Select(t => Trim(t!, k)).ToList();
            if (job.PromptLogprobs is { } kp) promptLogprobs = all.Take(p).Select(t => t is null ? null : Trim(t, kp)).ToList();
        }
        return new CompletionOutput(tokens, text, finish, stopString, logprobs, promptLogprobs);
    }

    static (int Index, string Stop)? FirstStop(string text, IReadOnlyList<string> stops)
    {
        (int Index, string Stop)? best = null;
        foreach (var s in stops)
        {
            if (s.Length == 0) continue;
            int at = text.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (best is null || at < best.Value.Index)) best = (at, s);
        }
        return best;
    }

    static TokenLogProb Trim(TokenLogProb t, int top) => t with { Top = t.Top.Take(top).ToList() };

    /// <summary>For each token of <paramref name="ids"/>: its log-probability given the tokens before it (null for the first).</summary>
    TokenLogProb?[] Score(int[] ids, int top)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var input = tensor(ids.Select(i => (long)i).ToArray(), new long[] { 1, ids.Length }).to(model.Device);
        var logp = model.Forward(input).log_softmax(-1)[0, ..^1].to(float32); // [T-1, V]: row t predicts token t+1
        var targets = tensor(ids[1..].Select(i => (long)i).ToArray()).to(logp.device).unsqueeze(1);
        var chosenT = logp.gather(1, targets); // [T-1, 1]
        // Rank as vLLM counts it: 1 + the number of tokens strictly more likely.
        var rankT = logp.gt(chosenT).sum(1).add(1);
        float[] chosen = chosenT.squeeze(1).cpu().data<float>().ToArray();
        long[] ranks = rankT.cpu().data<long>().ToArray();
        int k = Math.Min(top, (int)logp.shape[1]);
        float[] tv = [];
        long[] ti = [];
        if (k > 0)
        {
            var (values, indices) = logp.topk(k, dim: -1);
            tv = values.cpu().data<float>().ToArray();
            ti = indices.cpu().data<long>().ToArray();
        }
        var result = new TokenLogProb?[ids.Length];
        for (int t = 1; t < ids.Length; t++)
        {
            var alternatives = new (int, float)[k];
            for (int j = 0; j < k; j++) alternatives[j] = ((int)ti[(t - 1) * k + j], tv[(t - 1) * k + j]);
            result[t] = new TokenLogProb(ids[t], chosen[t - 1], (int)ranks[t - 1], alternatives);
        }
        return result;
    }

    public void Dispose() => (model as IDisposable)?.Dispose();
}
