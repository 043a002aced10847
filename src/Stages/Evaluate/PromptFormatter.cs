using System.Text;

namespace IwSft.Stages.Evaluate;

/// <summary>Turns a benchmark item into the exact prompt text given to the model.</summary>
/// <remarks>Its <see cref="IKeyIdentity.KeyIdentity"/> holds its settings; its code counts through the code identity.</remarks>
public interface IPromptFormatter : IwSft.Runtime.IKeyIdentity
{
    string Format(EvalItem item);
}

public enum PromptStyle
{
    /// <summary>Qwen ChatML: system + user turn, then an open assistant turn (the format s1 trains with).</summary>
    QwenChat,
    /// <summary>The user content alone, for base models.</summary>
    Plain,
}

/// <summary>
/// The default prompt: the question, lettered options for multiple choice, and an instruction that
/// asks for the answer in a form the extractor reads (\boxed{} for math, "Answer: X" for letters).
/// </summary>
public sealed class PromptFormatter(PromptStyle style = PromptStyle.QwenChat) : IPromptFormatter
{
    public const string MathInstruction = "Please reason step by step, and put your final answer within \\boxed{}.";
    public const string ChoiceInstruction = "Answer with the letter of the correct option on a final line of the form 'Answer: X'.";
    public const string SystemPrompt = "You are a helpful assistant.";

    public System.Text.Json.Nodes.JsonNode KeyIdentity() => new System.Text.Json.Nodes.JsonObject { ["style"] = style.ToString() };

    public string Format(EvalItem item)
    {
        var user = new StringBuilder(item.Question.Trim());
        if (item.IsMultipleChoice)
        {
            user.Append("\n\n");
            for (int i = 0; i < item.Choices!.Count; i++)
                user.Append((char)('A' + i)).Append(") ").Append(item.Choices[i].Trim()).Append('\n');
            user.Append('\n').Append(ChoiceInstruction);
        }
        else user.Append("\n\n").Append(MathInstruction);

        return style switch
        {
            PromptStyle.Plain => user.ToString(),
            PromptStyle.QwenChat => $"<|im_start|>system\n{SystemPrompt}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n",
            _ => throw new ArgumentOutOfRangeException(nameof(style), style, null),
        };
    }
}
