using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

public class GraderExtractionTests
{
    [Theory]
    [InlineData("so the answer is \\boxed{42}.", "42")]
    [InlineData("first \\boxed{1} then \\boxed{\\frac{a}{b^{2}}}", "\\frac{a}{b^{2}}")]
    [InlineData("nested \\boxed{\\left\\{ x \\right\\}} done", "\\left\\{ x \\right\\}")]
    [InlineData("\\fbox{7} is it", "7")]
    [InlineData("$\\boxed 5$", "5")]
    [InlineData("unclosed \\boxed{3} later \\boxed{4", "3")]
    public void LastBoxedHandlesNestingAndVariants(string text, string expected) =>
        Assert.Equal(expected, AnswerExtractor.LastBoxed(text)!.Text);

    [Fact]
    public void S1AnswerFormatIsRead()
    {
        var r = "<|im_start|>think\nLet me add: 2+3=5.\n<|im_start|>answer\nAnswer: $5$.";
        var a = AnswerExtractor.ExtractMath(r)!;
        Assert.Equal("5", a.Text);
        Assert.Equal(AnswerSource.AnswerLine, a.Source);
    }

    [Fact]
    public void TheLastMarkerWinsOverAnEarlierBox()
    {
        var r = "While thinking I boxed \\boxed{3}, but checking again...\nFinal Answer: 4";
        Assert.Equal("4", AnswerExtractor.ExtractMath(r)!.Text);
        var r2 = "Answer: 4\nWait, that is wrong. The result is \\boxed{5}";
        Assert.Equal("5", AnswerExtractor.ExtractMath(r2)!.Text);
    }

    [Fact]
    public void AnswerLineWithBoxedContentIsUnwrapped() =>
        Assert.Equal("\\frac{1}{2}", AnswerExtractor.LastAnswerLine("Answer: \\boxed{\\frac{1}{2}}")!.Text);

    [Fact]
    public void EmptyAnswerLineTakesTheNextLine() =>
        Assert.Equal("17", AnswerExtractor.LastAnswerLine("**Answer:**\n\n17\n")!.Text);

    [Fact]
    public void Gsm8kHashesDropThousandsSeparators()
    {
        var a = AnswerExtractor.ExtractMath("She earns 3*400=1,200 dollars.\n#### 1,200")!;
        Assert.Equal("1200", a.Text);
        Assert.Equal(AnswerSource.Gsm8kHashes, a.Source);
    }

    [Fact]
    public void MinervaPhraseIsRead() =>
        Assert.Equal("\\frac{3}{4}", AnswerExtractor.ExtractMath("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.")!.Text);

    [Fact]
    public void LastNumberOnlyWhenAskedFor()
    {
        const string r = "We have 12 apples and eat 5, leaving 7";
        Assert.Null(AnswerExtractor.ExtractMath(r));
        var a = AnswerExtractor.ExtractMath(r, lastNumberFallback: true)!;
        Assert.Equal("7", a.Text);
        Assert.Equal(AnswerSource.LastNumber, a.Source);
    }

    [Theory]
    [InlineData("The answer is (B).", "B")]
    [InlineData("so the answer is C", "C")]
    [InlineData("Answer: D", "D")]
    [InlineData("Answer: (A) 3 meters", "A")]
    [InlineData("I pick option b? No: option C", "C")]
    [InlineData("Between (A) and (D), clearly (D)", "D")]
    [InlineData("\\boxed{\\text{B}}", "B")]
    [InlineData("**C**", "C")]
    [InlineData("the answer is a multiple of 3, so the answer is (b)", "B")]
    public void ChoiceLetters(string response, string expected) =>
        Assert.Equal(expected, AnswerExtractor.ExtractChoice(response)!.Text);

    [Theory]
    [InlineData("The answer is E", 4)]
    [InlineData("no idea", 4)]
    [InlineData("the answer is a multiple of 3", 4)]
    public void NoValidChoiceLetter(string response, int choices) =>
        Assert.Null(AnswerExtractor.ExtractChoice(response, choices));

    [Fact]
    public void MultipleChoiceGoldMayBeTheChoiceText()
    {
        var choices = new[] { "3", "\\frac{1}{2}", "7", "9" };
        var g = new Grader();
        Assert.True(g.Grade("Answer: (B)", "\\frac{1}{2}", choices).Correct);
        Assert.True(g.Grade("so it is \\boxed{0.5}", "B", choices).Correct); // the stated option text maps to its letter
        var wrong = g.Grade("Answer: A", "B", choices);
        Assert.False(wrong.Correct);
        Assert.Equal("A", wrong.Extracted);
        Assert.Throws<FormatException>(() => Grader.GoldLetter("11", choices));
    }

    [Fact]
    public void Gsm8kGoldRationaleIsReducedToItsNumber()
    {
        Assert.Equal("18", Grader.GoldMathAnswer("Janet sells 16 - 3 - 4 = <<16-3-4=9>>9 eggs.\n#### 18"));
        var grade = new Grader().Grade("... so she makes \\boxed{18} dollars", "Janet...\n#### 18", null);
        Assert.True(grade.Correct);
        Assert.Equal(AnswerSource.Boxed, grade.Source);
    }

    [Fact]
    public void NoAnswerIsIncorrectWithNothingExtracted()
    {
        var grade = new Grader().Grade("I am not sure.", "5", null);
        Assert.False(grade.Correct);
        Assert.Null(grade.Extracted);
        Assert.Equal(AnswerSource.None, grade.Source);
    }
}
