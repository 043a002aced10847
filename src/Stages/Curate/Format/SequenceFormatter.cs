using IwSft.Text;

namespace IwSft.Stages.Curate.Format;

/// <summary>One formatted example: ids of prompt followed by completion, and what happened to its length.</summary>
public sealed record FormattedSequence(int[] InputIds, int CompletionStart, int FullTokens, bool Truncated, string Text);

/// <summary>
/// Renders a curated record with the Qwen chat template and tokenises the whole text as Hugging Face does
/// (added tokens matched anywhere). <c>completion_start</c> is the first position where the prompt's own
/// tokenisation (system + user + <c>&lt;|im_start|&gt;assistant\n</c>) differs from the whole text's; with the s1
/// layout the boundary is a special token, so it is exactly the prompt's token count.
/// </summary>
public sealed class SequenceFormatter(HfTokenizer tokenizer, FormatConfig config)
{
    readonly QwenChatTemplate _template = new(config.NoSystemPrompt ? null : config.SystemPrompt ?? QwenChatTemplate.DefaultQwenSystemPrompt);

    /// <summary>The assistant content for the configured layout, or null with the missing column named.</summary>
    public string? AssistantContent(Func<string, string?> column, out string? missing)
    {
        missing = null;
        switch (config.Layout)
        {
            case AssistantLayout.S1ThinkAnswer:
                string? trace = column(config.TraceColumn), attempt = column(config.AttemptColumn);
                if (trace is null) missing = config.TraceColumn;
                else if (attempt is null) missing = config.AttemptColumn;
                return missing is null ? QwenChatTemplate.S1AssistantContent(trace!, attempt!) : null;
            case AssistantLayout.Solution:
                var sol = column(config.SolutionColumn);
                if (sol is null) missing = config.SolutionColumn;
                return sol;
            case AssistantLayout.Attempt:
                var att = column(config.AttemptColumn);
                if (att is null) missing = config.AttemptColumn;
                return att;
            default:
                throw new ArgumentOutOfRangeException();
        }
    }

    public FormattedSequence Format(string question, string assistantContent)
    {
        var (prompt, completion) = _template.TrainingExample(question, assistantContent);
        string text = prompt + completion;
        // Like Hugging Face's tokenizer on the rendered chat, added tokens are matched anywhere in the text.
        var full = tokenizer.EncodeToIds(text, allowSpecial: true);
        var promptIds = tokenizer.EncodeToIds(prompt, allowSpecial: true);
        // The completion starts where the prompt's own tokenisation stops agreeing with the whole text's
        // (a token spanning the boundary belongs to the completion, so it carries loss).
        int start = 0;
        while (start < promptIds.Count && start < full.Count && promptIds[start] == full[start]) start++;
        int keep = Math.Min(full.Count, config.BlockSize);
        return new FormattedSequence(full.GetRange(0, keep).ToArray(), start, full.Count, full.Count > config.BlockSize, text);
    }
}
