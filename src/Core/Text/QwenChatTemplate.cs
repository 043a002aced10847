using System.Text;

namespace IwSft.Text;

public enum ChatRole { System, User, Assistant }

public sealed record ChatMessage(ChatRole Role, string Content)
{
    public static ChatMessage System(string content) => new(ChatRole.System, content);
    public static ChatMessage User(string content) => new(ChatRole.User, content);
    public static ChatMessage Assistant(string content) => new(ChatRole.Assistant, content);
}

/// <summary>
/// The Qwen2.5 (ChatML) chat template, rendered exactly as the Hugging Face Jinja template does for
/// plain text messages: each message is <c>&lt;|im_start|&gt;{role}\n{content}&lt;|im_end|&gt;\n</c>; when the
/// conversation has no system message the default Qwen system prompt is inserted first; the generation
/// prompt is <c>&lt;|im_start|&gt;assistant\n</c>. Also the s1 assistant layout (think / answer).
/// </summary>
public sealed class QwenChatTemplate
{
    /// <summary>Qwen2.5-Instruct's default system prompt (inserted when no system message is given).</summary>
    public const string DefaultQwenSystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

    public const string ImStart = "<|im_start|>";
    public const string ImEnd = "<|im_end|>";

    /// <param name="defaultSystemPrompt">Inserted when a conversation has no system message; null inserts none.</param>
    public QwenChatTemplate(string? defaultSystemPrompt = DefaultQwenSystemPrompt) => DefaultSystemPrompt = defaultSystemPrompt;

    public string? DefaultSystemPrompt { get; }

    static string RoleName(ChatRole r) => r switch
    {
        ChatRole.System => "system",
        ChatRole.User => "user",
        ChatRole.Assistant => "assistant",
        _ => throw new ArgumentOutOfRangeException(nameof(r)),
    };

    /// <summary>One message: <c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>.</summary>
    public static string RenderMessage(ChatMessage m) => $"{ImStart}{RoleName(m.Role)}\n{m.Content}{ImEnd}\n";

    /// <summary>The generation prompt that opens the assistant turn.</summary>
    public const string GenerationPrompt = ImStart + "assistant\n";

    /// <summary>Renders a conversation; with <paramref name="addGenerationPrompt"/> it ends in an open assistant turn.</summary>
    public string Render(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = false)
    {
        var list = messages.ToList();
        var sb = new StringBuilder();
        if ((list.Count == 0 || list[0].Role != ChatRole.System) && DefaultSystemPrompt != null)
            sb.Append(RenderMessage(ChatMessage.System(DefaultSystemPrompt)));
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i].Role == ChatRole.System && i > 0)
                throw new ArgumentException($"message {i}: a system message may only come first");
            sb.Append(RenderMessage(list[i]));
        }
        if (addGenerationPrompt) sb.Append(GenerationPrompt);
        return sb.ToString();
    }

    /// <summary>The prompt for one user question, ending in the generation prompt (what a model is asked).</summary>
    public string Prompt(string question, string? systemPrompt = null) =>
        Render(systemPrompt is null ? [ChatMessage.User(question)] : [ChatMessage.System(systemPrompt), ChatMessage.User(question)], addGenerationPrompt: true);

    /// <summary>
    /// s1's assistant content: <c>&lt;|im_start|&gt;think\n{trace}\n&lt;|im_start|&gt;answer\n{answer}</c>, as s1's
    /// <c>data/tokenization.py</c> (<c>process_cot_example</c>) builds it: the trace stripped; the answer is the attempt
    /// with <c>"Answer: "</c> put in front unless it already contains <c>"Answer:"</c>, then stripped.
    /// </summary>
    public static string S1AssistantContent(string trace, string attempt) =>
        $"{ImStart}think\n{trace.Trim()}\n{ImStart}answer\n{S1Answer(attempt)}";

    /// <summary>s1's answer part: <c>"Answer: " + attempt</c> unless the attempt contains <c>"Answer:"</c>; stripped.</summary>
    public static string S1Answer(string attempt) =>
        (attempt.Contains("Answer:", StringComparison.Ordinal) ? attempt : "Answer: " + attempt).Trim();

    /// <summary>
    /// A training example split where the loss starts: the prompt (system + user + generation prompt) and
    /// the completion (assistant content + <c>&lt;|im_end|&gt;\n</c>). prompt + completion is exactly the
    /// rendering of the full conversation.
    /// </summary>
    public (string Prompt, string Completion) TrainingExample(string question, string assistantContent, string? systemPrompt = null) =>
        (Prompt(question, systemPrompt), assistantContent + ImEnd + "\n");

    /// <summary>The s1 training example for (question, trace, attempt).</summary>
    public (string Prompt, string Completion) S1TrainingExample(string question, string trace, string attempt, string? systemPrompt = null) =>
        TrainingExample(question, S1AssistantContent(trace, attempt), systemPrompt);
}
