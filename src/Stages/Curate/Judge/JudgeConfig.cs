namespace IwSft.Stages.Curate.Judge;

/// <summary>What the judge is asked, hence how its reply is parsed and which column type it writes.</summary>
public enum JudgeKind
{
    /// <summary>Mathematics Subject Classification: a two-digit MSC 2020 class code (string column).</summary>
    Domain,
    /// <summary>Is the attempt correct / did the model solve it: yes or no (bool column).</summary>
    Grading,
    /// <summary>A 1-10 integer quality score (float32 column).</summary>
    Quality,
}

/// <summary>
/// Configuration of an LLM judge: an OpenAI-compatible chat-completions server at <see cref="BaseUrl"/>, or, when the
/// stage's <c>judge_model</c> input is bound, that checkpoint in process (the same chat template, sampling and parsing).
/// </summary>
public sealed class JudgeConfig
{
    /// <summary>Server root; requests go to POST {BaseUrl}/v1/chat/completions.</summary>
    public string BaseUrl { get; set; } = "http://127.0.0.1:8000";

    public string Model { get; set; } = "";

    /// <summary>Name of the environment variable holding the API key (sent as a Bearer token); null: no key.
    /// The key itself is never part of the configuration or manifest.</summary>
    public string? ApiKeyEnv { get; set; }

    public JudgeKind Kind { get; set; } = JudgeKind.Domain;

    /// <summary>User message; {column} placeholders are replaced by the record's values, {{ and }} are literal braces.</summary>
    public string PromptTemplate { get; set; } = "";

    public string? SystemPrompt { get; set; }

    /// <summary>Optional regex whose group 1 is parsed instead of the default reply parser of the kind.</summary>
    public string? ResponsePattern { get; set; }

    /// <summary>Column written: domain / quality / a bool column such as 'solved_qwen2_5_7b' or 'attempt_correct'.</summary>
    public string OutputColumn { get; set; } = "domain";

    /// <summary>
    /// Guided choice: the reply is constrained to the kind's valid answers (a two-digit MSC class, Yes / No, 1 to 10).
    /// Sent to a server as vLLM's <c>structured_outputs: {"choice": [...]}</c> (vLLM 0.12 on; a server without it
    /// ignores it and the reply is parsed as text); the in-process backend decodes under the same constraint.
    /// </summary>
    public bool GuidedChoice { get; set; }

    public double Temperature { get; set; } = 0.0;
    public int MaxTokens { get; set; } = 512;

    /// <summary>Concurrent requests in flight.</summary>
    public int MaxConcurrency { get; set; } = 8;

    /// <summary>Keep a non-null value already in the input column and do not ask the judge for that record.</summary>
    public bool SkipWhereSet { get; set; }

    /// <summary>A reply that still does not parse after the retries becomes a null feature (dropped later by
    /// missing_features) instead of failing the stage.</summary>
    public bool UnparseableAsMissing { get; set; }

    public JudgeResilienceConfig Resilience { get; set; } = new();
}

/// <summary>Retry, timeout and circuit-breaker settings of the judge client.</summary>
public sealed class JudgeResilienceConfig
{
    public int MaxRetryAttempts { get; set; } = 5;
    /// <summary>Base of the exponential backoff (with jitter).</summary>
    public double BaseDelaySeconds { get; set; } = 1.0;
    public double MaxDelaySeconds { get; set; } = 60;
    /// <summary>Upper bound on a server's Retry-After.</summary>
    public double MaxRetryAfterSeconds { get; set; } = 120;
    public double AttemptTimeoutSeconds { get; set; } = 120;
    public double BreakerFailureRatio { get; set; } = 0.5;
    public int BreakerMinimumThroughput { get; set; } = 20;
    public double BreakerSamplingSeconds { get; set; } = 30;
    /// <summary>Polly's minimum is 0.5 s.</summary>
    public double BreakerBreakSeconds { get; set; } = 15;
}
