using IwSft.Text;

namespace IwSft.Gpu.Tests;

public class ChatTemplateTests
{
    [Fact]
    public void DefaultSystemPromptIsInsertedAndGenerationPromptOpensTheAssistantTurn()
    {
        var t = new QwenChatTemplate();
        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nWhat is 1+1?<|im_end|>\n" +
            "<|im_start|>assistant\n",
            t.Prompt("What is 1+1?"));
    }

    [Fact]
    public void ExplicitSystemMessageReplacesTheDefaultAndMultiTurnRendersInOrder()
    {
        var t = new QwenChatTemplate();
        Assert.Equal(
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nhello<|im_end|>\n",
            t.Render([ChatMessage.System("Be brief."), ChatMessage.User("hi"), ChatMessage.Assistant("hello")]));
        Assert.Equal("<|im_start|>user\nhi<|im_end|>\n", new QwenChatTemplate(null).Render([ChatMessage.User("hi")]));
        Assert.Throws<ArgumentException>(() => t.Render([ChatMessage.User("a"), ChatMessage.System("b")]));
    }

    [Fact]
    public void S1TrainingExampleMatchesTheS1Layout()
    {
        var t = new QwenChatTemplate();
        var (prompt, completion) = t.S1TrainingExample("Find x.", "  Let me think.\nx = 2.\n", "x = 2");
        Assert.Equal(
            "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n" +
            "<|im_start|>user\nFind x.<|im_end|>\n<|im_start|>assistant\n", prompt);
        Assert.Equal("<|im_start|>think\nLet me think.\nx = 2.\n<|im_start|>answer\nAnswer: x = 2<|im_end|>\n", completion);
        // prompt + completion is the full conversation rendering.
        Assert.Equal(t.Render([ChatMessage.User("Find x."), ChatMessage.Assistant(QwenChatTemplate.S1AssistantContent("  Let me think.\nx = 2.\n", "x = 2"))]),
            prompt + completion);
    }

    [Fact]
    public void S1AnswerPrefixesAnswerOnlyWhenTheAttemptLacksItAndStrips()
    {
        // s1 data/tokenization.py, process_cot_example: "Answer: " + attempt if "Answer:" not in attempt, then strip().
        Assert.Equal("Answer: 42", QwenChatTemplate.S1Answer("42\n"));
        Assert.Equal("The final Answer: 42", QwenChatTemplate.S1Answer("  The final Answer: 42 "));
        Assert.Equal("Answer: answer: 42", QwenChatTemplate.S1Answer("answer: 42"));   // the test is case-sensitive, as in Python
        Assert.Equal("<|im_start|>think\nt\n<|im_start|>answer\nAnswer: x", QwenChatTemplate.S1AssistantContent(" t \n", "Answer: x\n"));
    }

    [Fact]
    public void TokenisingPromptAndCompletionSeparatelyEqualsTokenisingTheWhole()
    {
        var tok = HfTokenizer.Load(TokenizerTestData.WriteVocabMergesDir());
        var (prompt, completion) = new QwenChatTemplate().S1TrainingExample("the question", "the trace", "an answer");
        Assert.Equal(tok.EncodeToIds(prompt + completion), [.. tok.EncodeToIds(prompt), .. tok.EncodeToIds(completion)]);
    }
}
