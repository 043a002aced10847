namespace IwSft.Stages.Curate.Format;

public enum AssistantLayout
{
    /// <summary>s1: <c>&lt;|im_start|&gt;think\n{trace}\n&lt;|im_start|&gt;answer\nAnswer: {attempt}</c>.</summary>
    S1ThinkAnswer,
    /// <summary>The reference solution as the assistant turn.</summary>
    Solution,
    /// <summary>The strong model's attempt only.</summary>
    Attempt,
}

public enum TruncationPolicy
{
    /// <summary>Keep the first BlockSize tokens (what s1's trainer does with its block size); recorded as a decision.</summary>
    Truncate,
    /// <summary>Drop sequences longer than the block size.</summary>
    Drop,
}

/// <summary>Configuration of the format / tokenise stage.</summary>
public sealed class FormatConfig
{
    /// <summary>The model's Hugging Face tokenizer directory, or "cl100k_base" (length studies only); unused when the
    /// stage's optional "tokenizer" directory input is bound.</summary>
    public string Tokenizer { get; set; } = "";

    /// <summary>System prompt; null uses Qwen2.5's default one (as its chat template does).</summary>
    public string? SystemPrompt { get; set; }

    /// <summary>No system message at all (overrides SystemPrompt).</summary>
    public bool NoSystemPrompt { get; set; }

    public AssistantLayout Layout { get; set; } = AssistantLayout.S1ThinkAnswer;

    /// <summary>Maximum sequence length in tokens (the authors' iw-SFT launch script: 22,000; s1: 32,768; s1.1: 20,000).</summary>
    public int BlockSize { get; set; } = 22000;

    public TruncationPolicy Truncation { get; set; } = TruncationPolicy.Truncate;

    /// <summary>Also write the rendered text (debugging; large).</summary>
    public bool EmitText { get; set; }

    public string QuestionColumn { get; set; } = "question";
    public string TraceColumn { get; set; } = "trace";
    public string AttemptColumn { get; set; } = "attempt";
    public string SolutionColumn { get; set; } = "solution";
    public string WeightColumn { get; set; } = "sampling_weight";
}
