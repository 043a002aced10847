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
    [Fact]
    public void AGoldWithSeveralBoxesNeedsThemAll()
    {
        const string gold = "The solutions are \\boxed{1} and \\boxed{2}.";
        Assert.Equal("1, 2", Grader.GoldMathAnswer(gold));
        var g = new Grader();
        Assert.False(g.Grade("so \\boxed{2}", gold, null).Correct); // once a false positive: only the last box was kept
        Assert.False(g.Grade("so \\boxed{1}", gold, null).Correct);
        Assert.True(g.Grade("so \\boxed{2, 1}", gold, null).Correct);
        Assert.True(g.Grade("the roots are \\boxed{2} and \\boxed{1}.", gold, null).Correct);
    }

    [Theory]
    [InlineData("The integers are \\boxed{-2} and \\boxed{1}.", "-2, 1")]
    [InlineData("\\boxed{(2, 2)} \\quad \\text{and} \\quad \\boxed{(6, 2)}", "(2, 2), (6, 2)")]
    [InlineData("\\(\\boxed{1}\\) and \\(\\boxed{-2}\\).", "1, -2")]
    [InlineData("\\boxed{1} papers and \\boxed{2} bins", "1, 2")]
    [InlineData("\\boxed{2}, \\boxed{3}, \\boxed{5}", "2, 3, 5")]
    [InlineData("\\boxed{1} no no no no no \\boxed{2}", "2")]
    [InlineData("I boxed \\boxed{3}, but checking again the answer is \\boxed{4}", "4")]
    [InlineData("\\boxed{1} + 2 = \\boxed{3}", "3")]
    [InlineData("\\boxed{5}\n\n**Final Answer**\n\\boxed{5}", "5")]
    public void BoxesJoinedByAndOrCommasFormOneAnswer(string response, string expected) =>
        Assert.Equal(expected, AnswerExtractor.ExtractMath(response)!.Text);

    [Theory]
    [InlineData("Answer: 9", "9")]
    [InlineData("Final Answer: The largest $n$ is 34.", "34")]
    [InlineData("Answer \\[ 9 \\]", "9")]
    [InlineData("Answer $ 9 $", "9")]
    [InlineData("Answer $$ 9 $$", "9")]
    [InlineData("Answer \\( (9+1) \\)", "(9+1)")]
    [InlineData("Answer $ \\frac{1}{2} \\$ = \\frac{10}{9} $", "\\frac{1}{2} \\$ = \\frac{10}{9}")]
    [InlineData("Final Answer: Jane started growing Sphere 3 hours ago. I hope it is correct.", "3")]
    [InlineData("Final Answer: The final answer is \\\"$12 $ and $13 $\\\". I hope it is correct.", "12 $ and $13")]
    [InlineData("Final Answer: The final answer is 12,000,023. I hope it is correct.", "12,000,023")]
    public void AnswersInProseWithoutABox(string response, string expected) =>
        Assert.Equal(expected, AnswerExtractor.ExtractMath(response)!.Text);

    [Theory]
    [InlineData("Answer $ \n 9 \n $")]     // inline math does not span lines
    [InlineData("Answer \\( \n 9 \n \\)")]
    public void InlineMathAcrossLinesIsNoAnswer(string response) => Assert.Null(AnswerExtractor.ExtractMath(response));

    [Fact]
    public void FallbacksTakeTheLastMathSpanOrNumber()
    {
        const string prose = "Therefore $x \\geq 5$ is the solution.";
        Assert.Null(AnswerExtractor.ExtractMath(prose));
        var math = AnswerExtractor.ExtractMath(prose, lastMathFallback: true)!;
        Assert.Equal("x \\geq 5", math.Text);
        Assert.Equal(AnswerSource.LastMath, math.Source);
        // whichever ends later
        Assert.Equal("12", AnswerExtractor.ExtractMath("with $d$ and $n$ there are 12 sequences.", true, true)!.Text);
        Assert.Equal("(7, 6)", AnswerExtractor.ExtractMath("the pair is $(7, 6)$. <|im_start|>user", true, true)!.Text);
        Assert.Equal("2/3", AnswerExtractor.ExtractMath("P(A) = 2/3 Therefore, the probability is 2/3. <|im_start|>user", true)!.Text);
        Assert.Equal("1000.99", AnswerExtractor.ExtractMath("not 10 which is 1,000.99€", true)!.Text);
        Assert.Null(AnswerExtractor.ExtractMath("AZYUK2A", lastNumberFallback: true)); // a digit glued to letters is no number
        Assert.Equal("-.5", AnswerExtractor.ExtractMath("the slope is -.5", lastNumberFallback: true)!.Text);
        Assert.Equal("1200", AnswerExtractor.ExtractMath("she earns 1,200 dollars", lastNumberFallback: true)!.Text);
    }

    [Theory]
    [InlineData("$125$ miles", "$125$ miles", AnswerSource.WholeText)]
    [InlineData("x = 5 and y = 6", "x = 5 and y = 6", AnswerSource.WholeText)]
    [InlineData("\\text{Evelyn}", "\\text{Evelyn}", AnswerSource.WholeText)]
    [InlineData("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", AnswerSource.WholeText)]
    [InlineData("We find that $x \\lt 3$.", "x \\lt 3", AnswerSource.LastMath)]
    [InlineData("so the answer is \\boxed{7}", "7", AnswerSource.Boxed)]
    public void BareAnswersAreReadWhole(string text, string expected, AnswerSource source)
    {
        var a = AnswerExtractor.ExtractAnswer(text)!;
        Assert.Equal(expected, a.Text);
        Assert.Equal(source, a.Source);
    }

    [Theory]
    [InlineData("A. Because B is not valid", "A")]
    [InlineData("Because B is valid", "B")]
    [InlineData("Final answer is B", "B")]
    [InlineData("\\boxed{\\textbf{C}}", "C")]
    [InlineData("\\boxed{\\text{(C)}}", "C")]
    [InlineData("C)", "C")]
    public void MoreChoiceLetters(string response, string expected) =>
        Assert.Equal(expected, AnswerExtractor.ExtractChoice(response)!.Text);

    [Theory]
    [InlineData("A good start is to compute the sum.")]
    [InlineData("I think both B and C could work.")]
    public void NoChoiceLetterInOrdinaryProse(string response) => Assert.Null(AnswerExtractor.ExtractChoice(response));

    [Theory]
    [InlineData("(C)")]
    [InlineData("C)")]
    [InlineData("\\text{C}")]
    [InlineData("\\text{(C)}")]
    [InlineData("c")]
    public void GoldLetterForms(string gold) => Assert.Equal('C', Grader.GoldLetter(gold, ["1", "2", "3", "4"]));
}
