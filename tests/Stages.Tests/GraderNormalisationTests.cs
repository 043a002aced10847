using IwSft.Stages.Evaluate;

namespace IwSft.Stages.Tests;

/// <summary>
/// <see cref="MathEquivalence.Clean"/> and <see cref="MathEquivalence.Normalize(string)"/> rule by rule, with the exact
/// text each gives (their documented contract: the parser's input and the canonical text), and the grader's
/// choice and gold rules. The equivalence tables (GraderEquivalenceTests, GraderRulesTests) show the rules matter;
/// these show each one does exactly what it says.
/// </summary>
public class GraderNormalisationTests
{
    [Theory]
    // delimiters, nested, and a box that is never closed
    [InlineData("  $\\boxed{\\frac{1}{2}}$  ", "\\frac{1}{2}")]
    [InlineData("\\[\\boxed{7}\\]", "7")]
    [InlineData("\\(\\fbox{12}\\)", "12")]
    [InlineData("\\boxed{3", "3")]
    [InlineData("\\boxed{3} + \\boxed{4}", "\\boxed{3} + \\boxed{4}")]
    [InlineData("$5\\$", "5")]
    [InlineData("$", "")]
    // doubly escaped commands
    [InlineData("\\\\frac{1}{2}", "\\frac{1}{2}")]
    [InlineData("\\\\sqrt{2}", "\\sqrt{2}")]
    // unicode
    [InlineData("−3", "-3")]
    [InlineData("2×3", "2\\times 3")]
    [InlineData("6÷2", "6\\div 2")]
    [InlineData("x≤3", "x\\le 3")]
    [InlineData("x≥3", "x\\ge 3")]
    [InlineData("x≠3", "x\\ne 3")]
    [InlineData("2π", "2\\pi")]
    [InlineData("√2", "\\sqrt{2}")]
    [InlineData("x²", "x^2")]
    [InlineData("x³", "x^3")]
    [InlineData("±1", "\\pm 1")]
    [InlineData("a·b", "a\\cdot b")]
    [InlineData("(−∞, 1)", "(-\\infty , 1)")]
    [InlineData("1 000", "1000")]
    [InlineData("1\u00a0000", "1000")]
    [InlineData("3，4", "3,4")]
    [InlineData("45°", "45")]
    [InlineData("€5", "5")]
    // thousands and spacing
    [InlineData("1{,}000", "1000")]
    [InlineData("10,\\!080", "10080")]
    [InlineData("3\\,\\text{cm}", "3")]
    [InlineData("a\\quad b", "a b")]
    [InlineData("a\\qquad b", "a b")]
    [InlineData("a~b", "a b")]
    [InlineData("x\\hspace{1cm}y", "x y")]
    [InlineData("-1,234", "-1234")]
    [InlineData("1,23", "1,23")]
    [InlineData("12,345.5", "12345.5")]
    // fraction commands, left/right, degrees, currency, percent
    [InlineData("\\cfrac{1}{2}", "\\frac{1}{2}")]
    [InlineData("\\displaystyle\\frac{1}{2}", "\\frac{1}{2}")]
    [InlineData("\\left.x\\right|", "x |")]
    [InlineData("\\bigl(1\\bigr)", "(1 )")]
    [InlineData("30^{\\circ}", "30")]
    [InlineData("30\\degree", "30")]
    [InlineData("\\euro 5", "5")]
    [InlineData("20 percent", "20")]
    [InlineData("20 Percentage", "20")]
    [InlineData("20 pct", "20")]
    [InlineData("20pct", "20pct")]
    [InlineData("\\%20", "20")]
    // \text{and}, operator names, text unwrapping, units
    [InlineData("2\\text{ and }3", "2 and 3")]
    [InlineData("2\\text{, or }3", "2 or 3")]
    [InlineData("\\operatorname{sin} x", "sin x")]
    [InlineData("\\textbf{\\textit{\\emph{yes}}}", "yes")]
    [InlineData("5\\text{ cm}^2", "5")]
    [InlineData("5 \\textbf{meters}", "5")]
    [InlineData("2\\mathrm{e}", "2e")]
    [InlineData("3 \\text{ and } x", "3 and x")]
    [InlineData("5 \\text{ sin}", "5 sin")]
    [InlineData("36 dollars", "36")]
    [InlineData("12 apples", "12")]
    [InlineData("12 Apples", "12 Apples")]
    [InlineData("3ab", "3ab")]
    [InlineData("5 cm^2", "5")]
    [InlineData("5 sq. ft.", "5")]
    [InlineData("7 p.m.", "7")]
    [InlineData("5 and 6", "5 and 6")]
    [InlineData("5 ln", "5 ln")]
    // a lone choice letter
    [InlineData("(C)", "C")]
    [InlineData("C)", "C")]
    [InlineData("B.", "B")]
    [InlineData("\\text{(D)}", "D")]
    [InlineData("( E ):", "E")]
    // trailing punctuation; command arguments braced (also nested, and \sqrt's index kept)
    [InlineData("x = 5.", "x = 5")]
    [InlineData("4;", "4")]
    [InlineData("\\frac12", "\\frac{1}{2}")]
    [InlineData("\\frac{\\frac12}{3}", "\\frac{\\frac{1}{2}}{3}")]
    [InlineData("\\sqrt[3]8", "\\sqrt[3]{8}")]
    [InlineData("\\sqrt[3]{8}", "\\sqrt[3]{8}")]
    [InlineData("\\sqrtx", "\\sqrtx")]
    [InlineData("\\frac", "\\frac")]
    public void CleanGivesTheParsersInput(string raw, string cleaned) => Assert.Equal(cleaned, MathEquivalence.Clean(raw));

    /// <summary>The unit words Clean drops after a number, even written without a space or capitalised (docs/evaluate.md).</summary>
    public static TheoryData<string> UnitWords => new("cm", "km", "mm", "inches", "inch", "feet", "foot", "ft", "yards", "yard", "yd", "miles", "mile", "meters", "meter", "metres", "metre", "centimeters", "centimetres", "millimeters", "kilometers", "units", "unit", "degrees", "degree", "radians", "hours", "hour", "hrs", "minutes", "minute", "mins", "seconds", "second", "days", "day", "weeks", "week", "months", "month", "years", "year", "dollars", "dollar", "cents", "cent", "euros", "euro", "yuan", "pounds", "pound", "mph", "kph", "ounces", "ounce", "oz", "grams", "gram", "kg", "kilograms", "lb", "lbs", "liters", "liter", "litres", "ml", "gallons", "gallon", "students", "people", "persons", "points", "ways", "p.m.", "a.m.", "pm", "am", "sq", "square", "cubic", "times", "items", "books");

    [Theory]
    [MemberData(nameof(UnitWords))]
    public void AUnitWordAfterANumberIsDroppedWithOrWithoutASpace(string unit)
    {
        Assert.Equal("5", MathEquivalence.Clean("5" + unit));
        Assert.Equal("5", MathEquivalence.Clean("5 " + unit.ToUpperInvariant()));
    }

    /// <summary>Words that are never units: after a number they are part of the answer (a connective, a function).</summary>
    public static TheoryData<string> NotUnitWords => new("and", "or", "sin", "cos", "tan", "sec", "csc", "cot", "log", "ln", "exp", "is", "of", "the", "to", "for", "not", "but", "pi", "sqrt");

    [Theory]
    [MemberData(nameof(NotUnitWords))]
    public void AWordThatIsNoUnitIsKept(string word)
    {
        Assert.Equal("5 " + word, MathEquivalence.Clean("5 " + word));
        Assert.Equal("5 " + word, MathEquivalence.Clean("5\\text{ " + word + "}"));
    }

    [Theory]
    [InlineData("1000,99", false, "1000,99")]
    [InlineData("1000,99", true, "1000.99")]
    [InlineData("1,22", true, "1.22")]
    [InlineData("-1,5", true, "-1.5")]
    [InlineData("1.000,5", true, "1000.5")]
    [InlineData("1.000,5", false, "1.000,5")]
    [InlineData("1,000", true, "1000")]
    [InlineData("1, 2", true, "1, 2")]
    public void ADecimalCommaIsReadOnlyWhenAsked(string raw, bool decimalComma, string cleaned) =>
        Assert.Equal(cleaned, MathEquivalence.Clean(raw, new MathEquivalenceOptions { DecimalComma = decimalComma }));

    [Theory]
    [InlineData("x^{2} + y_{1}", "x^2+y_1")]
    [InlineData("x^{12}", "x^{12}")]
    [InlineData(".5", "0.5")]
    [InlineData("x.5", "x.5")]
    [InlineData("2.500", "2.5")]
    [InlineData("2.000", "2")]
    [InlineData("100", "100")]
    [InlineData("10.50x", "10.5x")]
    [InlineData("0.05", "0.05")]
    [InlineData("007.5", "7.5")]
    [InlineData("0", "0")]
    [InlineData("+3", "3")]
    [InlineData("3.", "3")]
    [InlineData("1.2.30", "1.2.30")]
    public void NormalizeGivesTheCanonicalText(string raw, string canonical) => Assert.Equal(canonical, MathEquivalence.Normalize(raw));

    [Theory]
    [InlineData(null, "1")]
    [InlineData("1", null)]
    [InlineData("", "")]
    [InlineData("$", "$")]
    [InlineData("\\text{}", "1")]
    public void MissingOrEmptyAnswersAreNeverEquivalent(string? gold, string? prediction) =>
        Assert.False(MathEquivalence.AreEquivalent(gold, prediction));

    [Fact]
    public void AnAnswerTooLongToParseIsComparedAsTextOnly()
    {
        string longSum = string.Join("+", Enumerable.Repeat("1", 2100)); // 4199 characters: not parsed
        Assert.True(MathEquivalence.AreEquivalent(longSum, longSum));
        Assert.False(MathEquivalence.AreEquivalent(longSum, "2100"));
        Assert.Null(MathEquivalence.ParsedForm(longSum));
        string shortSum = string.Join("+", Enumerable.Repeat("1", 1000));
        Assert.True(MathEquivalence.AreEquivalent(shortSum, "1000"));
        Assert.NotNull(MathEquivalence.ParsedForm(shortSum));
    }

    [Fact]
    public void TheRelativeToleranceOverloadUsesTheToleranceGiven()
    {
        Assert.True(MathEquivalence.AreEquivalent("\\frac{1}{3}", "0.333333"));
        Assert.False(MathEquivalence.AreEquivalent("\\frac{1}{3}", "0.333"));
        Assert.True(MathEquivalence.AreEquivalent("\\frac{1}{3}", "0.333", 1e-2));
        Assert.False(MathEquivalence.AreEquivalent("\\frac{1}{3}", "0.3", 1e-2));
    }

    [Theory]
    [InlineData("1e400")]
    [InlineData("x")]
    [InlineData("")]
    public void TryEvaluateIsFalseForWhatHasNoFiniteValue(string answer) => Assert.False(MathEquivalence.TryEvaluate(answer, out _));

    // ---------------------------------------------------------------- the grader

    static readonly string[] Choices = ["3", "\\frac{1}{2}", "seven", "x+1"];

    [Theory]
    [InlineData("B", 'B')]
    [InlineData("(c)", 'C')]
    [InlineData("D.", 'D')]
    [InlineData("\\text{A}", 'A')]
    [InlineData(" seven ", 'C')]
    [InlineData("0.5", 'B')]
    [InlineData("1+x", 'D')]
    public void TheGoldLetterIsTheLetterOrTheChoiceItStates(string gold, char letter) => Assert.Equal(letter, Grader.GoldLetter(gold, Choices));

    [Theory]
    [InlineData("E")]      // a letter past the choices
    [InlineData("eight")]
    public void AGoldThatIsNeitherIsAnError(string gold)
    {
        var e = Assert.Throws<FormatException>(() => Grader.GoldLetter(gold, Choices));
        Assert.Contains("4 choices", e.Message);
    }

    [Theory]
    [InlineData("The answer is (B).", "B", "B", true)]
    [InlineData("The answer is (B).", "A", "B", false)]
    [InlineData("Therefore the answer is \\boxed{0.5}", "B", "B", true)]
    [InlineData("Therefore the answer is \\boxed{0.5}", "C", "B", false)]
    [InlineData("Therefore the answer is \\boxed{42}", "A", "42", false)]
    [InlineData("I do not know", "A", null, false)]
    public void AChoiceIsGradedByLetterOrByTheStatedOption(string response, string gold, string? extracted, bool correct)
    {
        var g = new Grader().Grade(response, gold, Choices);
        Assert.Equal(extracted, g.Extracted);
        Assert.Equal(correct, g.Correct);
        Assert.Equal(extracted is null, g.Source == AnswerSource.None);
    }

    [Theory]
    [InlineData("so \\boxed{12}", "Natalia sold 48/2 = 24 clips.\n#### 12", true)]
    [InlineData("so \\boxed{24}", "Natalia sold 48/2 = 24 clips.\n#### 12", false)]
    [InlineData("so \\boxed{5}", "The sum is $\\boxed{5}$.", true)]
    [InlineData("so \\boxed{5}", "The final answer is 5", true)]
    [InlineData("so \\boxed{5}", "5", true)]
    [InlineData("no answer here", "5", false)]
    public void MathIsGradedAgainstTheGoldsFinalAnswer(string response, string gold, bool correct) =>
        Assert.Equal(correct, new Grader().Grade(response, gold, null).Correct);

    [Fact]
    public void TheGraderPassesItsOptionsOn()
    {
        Assert.False(new Grader().Grade("so \\boxed{1000,5}", "1000.5", []).Correct);
        Assert.True(new Grader(new GraderOptions { DecimalComma = true }).Grade("so \\boxed{1000,5}", "1000.5", []).Correct);
        Assert.True(new Grader().Grade("so \\boxed{10, 4}", "4, 10", null).Correct);
        Assert.False(new Grader(new GraderOptions { OrderedLists = true }).Grade("so \\boxed{10, 4}", "4, 10", null).Correct);
        Assert.False(new Grader().Grade("so \\boxed{0.333}", "\\frac{1}{3}", null).Correct);
        Assert.True(new Grader(new GraderOptions { RelativeTolerance = 0.01 }).Grade("so \\boxed{0.333}", "\\frac{1}{3}", null).Correct);
        Assert.Null(new Grader().Grade("it is 7", "7", null).Extracted);
        Assert.Equal("7", new Grader(new GraderOptions { LastNumberFallback = true }).Grade("it is 7", "7", null).Extracted);
        Assert.Null(new Grader().Grade("it is $7$ then", "7", null).Extracted);
        Assert.Equal("7", new Grader(new GraderOptions { LastMathFallback = true }).Grade("it is $7$ then", "7", null).Extracted);
    }
}
