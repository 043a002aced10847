using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

/// <summary>
/// s1's budget forcing as a protocol over the generation contract, checked call by call against a scripted generator:
/// the thinking prefix, the stop tokens and min_tokens of the thinking rounds, "Wait" appended after each suppressed end,
/// the budget shared by the rounds, the closing delimiter (with "\nFinal Answer:" when the budget ran out).
/// </summary>
public sealed class BudgetForcingTests
{
    /// <summary>Answers each prompt from a script keyed by the prompt's suffix after the question; records every call.</summary>
    sealed class ScriptedGenerator(Func<string, GenerationSettings, GeneratedSample> answer) : ICompletionGenerator
    {
        public List<(List<GenerationRequest> Requests, GenerationSettings Settings)> Calls { get; } = [];
        public IReadOnlyList<GeneratedSample> Generate(IReadOnlyList<GenerationRequest> requests, GenerationSettings settings, CancellationToken cancellationToken)
        {
            Calls.Add((requests.ToList(), settings));
            return requests.Select(r => answer(r.Prompt, settings)).ToList();
        }
        public void Dispose() { }
    }

    const string Think = "<|im_start|>think";
    const string AnswerDelimiter = "<|im_start|>answer";

    static GeneratedSample Stop(string text, int tokens) => new(text, tokens, "stop");
    static GeneratedSample Length(string text, int tokens) => new(text, tokens, "length");

    [Fact]
    public void Ends_of_thinking_are_suppressed_with_Wait_up_to_K_times_then_the_answer_follows_the_delimiter()
    {
        var gen = new ScriptedGenerator((prompt, s) => prompt switch
        {
            "Q1" + Think => Stop("2+2 is 4.", 6),
            "Q1" + Think + "2+2 is 4.Wait" => Stop(", 2+2=4 indeed.", 7),
            "Q1" + Think + "2+2 is 4.Wait, 2+2=4 indeed.Wait" => Stop(" sure.", 3),
            "Q1" + Think + "2+2 is 4.Wait, 2+2=4 indeed.Wait sure." + AnswerDelimiter => Stop("\nAnswer: 4", 5),
            _ => throw new InvalidOperationException($"unexpected prompt {prompt}"),
        });
        var forcing = new BudgetForcingGenerator(gen, new BudgetForcingConfig { MaxThinkingTokens = 100, IgnoreEndOfThinking = 2 }, _ => throw new InvalidOperationException("auto budget not used"));
        var result = forcing.Generate([new GenerationRequest("Q1", 40)], new GenerationSettings { MaxNewTokens = 300, Temperature = 0.7 }, default).Single();

        Assert.Equal(Think + "2+2 is 4.Wait, 2+2=4 indeed.Wait sure." + AnswerDelimiter + "\nAnswer: 4", result.Text);
        Assert.Equal(6 + 7 + 3 + 5, result.Tokens);
        Assert.Equal(4, gen.Calls.Count);
        // Thinking rounds: the budget left, s1's until_thinking stop token, min_tokens 1 (ignores are on), seed + round.
        Assert.Equal([100, 94, 87], gen.Calls.Take(3).Select(c => c.Settings.MaxNewTokens));
        Assert.All(gen.Calls.Take(3), c => Assert.Equal(["<|im_start|>"], c.Settings.StopTokens!));
        Assert.All(gen.Calls.Take(3), c => Assert.Equal(1, c.Settings.MinNewTokens));
        Assert.All(gen.Calls, c => Assert.Equal(0.7, c.Settings.Temperature));
        Assert.Equal([40L, 41L, 42L, 40L], gen.Calls.Select(c => c.Requests.Single().Seed));
        // The answer: the evaluation's own limit and stops.
        Assert.Equal(300, gen.Calls[3].Settings.MaxNewTokens);
        Assert.Null(gen.Calls[3].Settings.StopTokens);
        Assert.Equal(0, gen.Calls[3].Settings.MinNewTokens);
    }

    [Fact]
    public void An_exhausted_budget_closes_with_a_newline_the_delimiter_and_Final_Answer()
    {
        var gen = new ScriptedGenerator((prompt, s) => prompt switch
        {
            "Q" + Think => Stop("step one.", 4),
            "Q" + Think + "step one.Wait" => Length(" step two", s.MaxNewTokens),
            "Q" + Think + "step one.Wait step two\n" + AnswerDelimiter + "\nFinal Answer:" => Stop(" 7", 2),
            _ => throw new InvalidOperationException($"unexpected prompt {prompt}"),
        });
        var forcing = new BudgetForcingGenerator(gen, new BudgetForcingConfig { MaxThinkingTokens = 10, IgnoreEndOfThinking = 5 }, _ => 0);
        var result = forcing.Generate([new GenerationRequest("Q", 1)], new GenerationSettings { MaxNewTokens = 50 }, default).Single();
        Assert.Equal(Think + "step one.Wait step two\n" + AnswerDelimiter + "\nFinal Answer: 7", result.Text);
        Assert.Equal(10 + 2, result.Tokens);            // the whole thinking budget, then the answer
        Assert.Equal([10, 6, 50], gen.Calls.Select(c => c.Settings.MaxNewTokens));
    }

    [Fact]
    public void Without_ignores_a_natural_end_is_closed_at_once_and_the_auto_budget_keeps_100_tokens_and_the_delimiters_back()
    {
        var gen = new ScriptedGenerator((prompt, s) => prompt.EndsWith(AnswerDelimiter, StringComparison.Ordinal) ? Stop("A", 1) : Stop("t", 1));
        // Token counts of the delimiters: ThinkingStart 3, ThinkingEnd + suffix 7.
        var forcing = new BudgetForcingGenerator(gen, new BudgetForcingConfig(), text => text == Think ? 3 : text == AnswerDelimiter + "\nFinal Answer:" ? 7 : -1000);
        var result = forcing.Generate([new GenerationRequest("Q", 0)], new GenerationSettings { MaxNewTokens = 1000 }, default).Single();
        Assert.Equal(Think + "t" + AnswerDelimiter + "A", result.Text);
        Assert.Equal(1000 - 100 - 3 - 7, gen.Calls[0].Settings.MaxNewTokens);
        Assert.Equal(0, gen.Calls[0].Settings.MinNewTokens);
        Assert.Equal(2, gen.Calls.Count);
    }

    [Fact]
    public void Rows_with_the_same_budget_left_share_a_call_and_each_row_gets_what_it_would_get_alone()
    {
        GeneratedSample Script(string prompt, GenerationSettings s)
        {
            if (prompt.EndsWith(AnswerDelimiter, StringComparison.Ordinal) || prompt.EndsWith("Final Answer:", StringComparison.Ordinal)) return Stop("ans", 1);
            int waits = prompt.Split("Wait").Length - 1;
            // Row "A" stops after 2 tokens each round, "B" after 3, "C" runs out of budget at once.
            return prompt[0] switch
            {
                'A' => Stop("a", 2),
                'B' => Stop("b", 3),
                _ => Length(new string('c', s.MaxNewTokens), s.MaxNewTokens),
            } with { Text = (prompt[0] == 'C' ? new string('c', s.MaxNewTokens) : prompt[0].ToString().ToLowerInvariant()) + waits };
        }
        var config = new BudgetForcingConfig { MaxThinkingTokens = 20, IgnoreEndOfThinking = 2 };
        var requests = new[] { new GenerationRequest("A", 1), new GenerationRequest("B", 2), new GenerationRequest("C", 3) };
        var together = new ScriptedGenerator(Script);
        var batched = new BudgetForcingGenerator(together, config, _ => 0).Generate(requests, new GenerationSettings { MaxNewTokens = 64 }, default);
        for (int i = 0; i < requests.Length; i++)
        {
            var alone = new BudgetForcingGenerator(new ScriptedGenerator(Script), config, _ => 0).Generate([requests[i]], new GenerationSettings { MaxNewTokens = 64 }, default).Single();
            Assert.Equal(alone, batched[i]);
        }
        Assert.Equal(Think + "a0Waita1Waita2" + AnswerDelimiter + "ans", batched[0].Text);
        // Round 1 of A (18 left) and of B (17 left) cannot share a call; round 0 of all three does.
        Assert.Equal(3, together.Calls[0].Requests.Count);
        Assert.All(together.Calls.Skip(1).SkipLast(1), c => Assert.Single(c.Requests));
    }

    [Fact]
    public void Bad_settings_are_refused_naming_the_key()
    {
        var e = Assert.Throws<ArgumentException>(() => new EvaluateConfig { MaxNewTokens = 150, BudgetForcing = new BudgetForcingConfig() }.Validate("evaluate"));
        Assert.Contains("budget_forcing.max_thinking_tokens auto needs max_new_tokens > 200", e.Message);
        e = Assert.Throws<ArgumentException>(() => new EvaluateConfig { BudgetForcing = new BudgetForcingConfig { IgnoreEndOfThinking = -1 } }.Validate("evaluate"));
        Assert.Contains("budget_forcing.ignore_end_of_thinking must be >= 0", e.Message);
    }

    [Fact]
    public void Budget_settings_are_in_the_record_key_when_set_and_absent_from_keys_written_before_them()
    {
        var plain = new EvaluateStage("evaluate", new EvalFakeGeneratorFactory(), new EvaluateConfig());
        Assert.False(plain.ConfigJson().AsObject().ContainsKey("budget_forcing"));
        Assert.False(plain.MemoIdentity()["settings"]!.AsObject().ContainsKey("budget_forcing"));
        var forced = new EvaluateStage("evaluate", new EvalFakeGeneratorFactory(), new EvaluateConfig { BudgetForcing = new BudgetForcingConfig { MaxThinkingTokens = 8000, IgnoreEndOfThinking = 12 } });
        var key = forced.MemoIdentity()["settings"]!["budget_forcing"]!;
        Assert.Equal(8000, key["max_thinking_tokens"]!.GetValue<int>());
        Assert.Equal(12, key["ignore_end_of_thinking"]!.GetValue<int>());
        Assert.Equal("Wait", key["ignore_string"]!.GetValue<string>());
    }
}
