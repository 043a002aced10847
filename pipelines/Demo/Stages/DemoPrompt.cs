using IwSft.Text;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>
/// The demo's chat layout: Qwen ChatML with no system turn (a system prompt would triple the
/// character-level sequence length for nothing). Training, sampling and evaluation all use it.
/// </summary>
public static class DemoPrompt
{
    public static readonly QwenChatTemplate Template = new(defaultSystemPrompt: null);

    public static string Prompt(string question) => Template.Prompt(question);

    /// <summary>(prompt, completion) as trained: the completion ends with <c>&lt;|im_end|&gt;\n</c>.</summary>
    public static (string Prompt, string Completion) TrainingExample(string question, string completion) =>
        Template.TrainingExample(question, completion);
}
