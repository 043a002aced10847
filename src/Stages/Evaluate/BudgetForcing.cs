namespace IwSft.Stages.Evaluate;

/// <summary>
/// s1's budget forcing (Muennighoff et al. 2025, "s1: Simple test-time scaling"), as its evaluation harness runs it
/// (simplescaling/s1, eval/lm-evaluation-harness, the vLLM model's generate with <c>max_tokens_thinking</c>,
/// <c>thinking_n_ignore</c>, <c>thinking_n_ignore_str</c>): the prompt is followed by <see cref="ThinkingStart"/>; the
/// model thinks until it emits one of <see cref="ThinkingStopTokens"/> (or end of text) or the budget runs out; each of
/// the first <see cref="IgnoreEndOfThinking"/> times it stops on its own, the stop token is dropped and
/// <see cref="IgnoreString"/> appended, and it goes on thinking (with at least one new token). Then
/// <see cref="ThinkingEnd"/> is appended — after a newline and followed by <see cref="BudgetExhaustedSuffix"/> when the
/// budget ran out — and the answer is generated with the evaluation's own limit.
/// </summary>
public sealed class BudgetForcingConfig
{
    /// <summary>Thinking tokens in all rounds together; 0 = what max_new_tokens leaves after 100 answer tokens and the delimiters (s1's "auto").</summary>
    public int MaxThinkingTokens { get; set; }
    /// <summary>How many times an end of thinking is suppressed (s1's <c>thinking_n_ignore</c>; its AIME runs used 12 with an 8,000-token budget).</summary>
    public int IgnoreEndOfThinking { get; set; }
    public string IgnoreString { get; set; } = "Wait";
    public string ThinkingStart { get; set; } = "<|im_start|>think";
    public string ThinkingEnd { get; set; } = "<|im_start|>answer";
    /// <summary>Special tokens that end a thinking round (s1's <c>until_thinking</c>, <c>&lt;|im_start|&gt;</c>); end of text and <c>&lt;|im_end|&gt;</c> always do.</summary>
    public List<string> ThinkingStopTokens { get; set; } = ["<|im_start|>"];
    /// <summary>Follows <see cref="ThinkingEnd"/> when the budget ran out, so the model answers at once.</summary>
    public string BudgetExhaustedSuffix { get; set; } = "\nFinal Answer:";

    public void Validate(string stage, int maxNewTokens)
    {
        void Check(bool ok, string message) { if (!ok) throw new ArgumentException($"stage '{stage}' (evaluate): budget_forcing.{message}"); }
        Check(MaxThinkingTokens >= 0, $"max_thinking_tokens must be >= 0 (0 = auto), got {MaxThinkingTokens}");
        Check(IgnoreEndOfThinking >= 0, $"ignore_end_of_thinking must be >= 0, got {IgnoreEndOfThinking}");
        Check(ThinkingStopTokens is { Count: > 0 }, "thinking_stop_tokens must name at least one special token");
        Check(MaxThinkingTokens > 0 || maxNewTokens > 200, $"max_thinking_tokens auto needs max_new_tokens > 200 (100 answer tokens and the delimiters are kept back), got {maxNewTokens}");
    }
}

/// <summary>
/// Budget forcing over any generation backend (<see cref="BudgetForcingConfig"/>): the rounds are ordinary requests to
/// the inner generator, each continuing the text so far, so it runs the same in process and against a server (which
/// must accept vLLM's <c>stop_token_ids</c> and <c>min_tokens</c>). Rows with the same thinking budget left are asked
/// together, and round k of a row samples with the row's seed + k, so a sample depends only on its prompt and seed,
/// never on its batch. The continuation is the text so far, tokenised again by the backend; s1's harness appends the
/// generated token ids instead, which differs only where the model produced a tokenisation that encoding the same
/// text would not.
/// </summary>
public sealed class BudgetForcingGenerator(ICompletionGenerator inner, BudgetForcingConfig config, Func<string, int> countTokens) : ICompletionGenerator
{
    sealed class Row(GenerationRequest request, int ignores)
    {
        public GenerationRequest Request { get; } = request;
        public string Thinking = "";
        public int Used, Round, IgnoresLeft = ignores;
        public bool Done, Exhausted;
    }

    /// <summary>The thinking budget: configured, or s1's auto (max_new_tokens less 100 answer tokens and the delimiters).</summary>
    public int Budget(GenerationSettings settings) => config.MaxThinkingTokens > 0 ? config.MaxThinkingTokens
        : settings.MaxNewTokens - 100 - countTokens(config.ThinkingStart) - countTokens(config.ThinkingEnd + config.BudgetExhaustedSuffix);

    public IReadOnlyList<GeneratedSample> Generate(IReadOnlyList<GenerationRequest> requests, GenerationSettings settings, CancellationToken cancellationToken)
    {
        int budget = Budget(settings);
        if (budget < 1) throw new ArgumentException($"budget forcing: no thinking budget left (max_new_tokens {settings.MaxNewTokens})");
        var rows = requests.Select(r => new Row(r, config.IgnoreEndOfThinking)).ToList();
        var think = settings with { StopTokens = [.. config.ThinkingStopTokens], MinNewTokens = config.IgnoreEndOfThinking > 0 ? 1 : 0, Choices = null };
        while (rows.Where(r => !r.Done).GroupBy(r => budget - r.Used).OrderByDescending(g => g.Key).FirstOrDefault() is { } group)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var batch = group.ToList();
            var outputs = inner.Generate(batch.Select(r => new GenerationRequest(r.Request.Prompt + config.ThinkingStart + r.Thinking, r.Request.Seed + r.Round)).ToList(),
                think with { MaxNewTokens = group.Key }, cancellationToken);
            for (int j = 0; j < batch.Count; j++)
            {
                var row = batch[j];
                row.Thinking += outputs[j].Text;
                row.Used += outputs[j].Tokens;
                row.Round++;
                if (outputs[j].FinishReason != "stop") { row.Exhausted = row.Done = true; continue; }
                // It ended its thinking: suppressed (K times, while budget is left) by appending the ignore string.
                if (row.IgnoresLeft > 0 && row.Used < budget)
                {
                    row.Thinking += config.IgnoreString;
                    row.IgnoresLeft--;
                }
                else row.Done = true;
            }
        }
        // The answer: each row's thinking closed by the delimiter (after a newline and with the suffix when the budget ran out).
        var closing = rows.Select(r => r.Exhausted
            ? (r.Thinking.EndsWith('\n') ? "" : "\n") + config.ThinkingEnd + config.BudgetExhaustedSuffix
            : config.ThinkingEnd).ToArray();
        var answers = inner.Generate(rows.Select((r, i) => new GenerationRequest(r.Request.Prompt + config.ThinkingStart + r.Thinking + closing[i], r.Request.Seed)).ToList(),
            settings with { Choices = null }, cancellationToken);
        return answers.Select((a, i) => new GeneratedSample(config.ThinkingStart + rows[i].Thinking + closing[i] + a.Text, rows[i].Used + a.Tokens, a.FinishReason)).ToList();
    }

    public void Dispose() => inner.Dispose();
}
