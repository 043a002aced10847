using IwSft.Stages.Evaluate;
using IwSft.Stages.Evaluate.Grading;

namespace IwSft.Stages.Tests;

/// <summary>One test row per grading rule (docs/evaluate.md, "Grading"), gold first.</summary>
public class GraderRulesTests
{
    public static TheoryData<string, string, string, bool> Rules => new()
    {
        // cleaning: delimiters, escapes, spacing
        { "delimiters", "$\\boxed{5}$", "\\(5\\)", true },
        { "doubly escaped command", "\\\\frac{1}{2}", "0.5", true },
        { "latex thousands separator", "10,\\! 080", "10080", true },
        { "latex thousands separator", "10,\\!080", "10,080", true },
        { "latex thousands separator", "14 {, }916", "14916", true },
        { "latex thousands separator", "12,\\!000,\\!003", "12000003", true },
        { "thin space in a number", "3\\,000", "3000", true },
        { "cfrac", "\\cfrac{1}{2}", "\\frac12", true },
        { "left/right", "\\left( 1, 2 \\right)", "(1,2)", true },
        { "big delimiters", "\\bigl( x+1 \\bigr)^2", "(x+1)^2", true },
        { "degrees", "30^{\\circ}", "30", true },
        // currency before thousands
        { "currency and thousands", "\\$1,000", "1000", true },
        { "currency and thousands", "$1,000", "1000", true },
        { "currency and thousands", "$1,000.99", "1000.99", true },
        { "currency and thousands", "\\$1,000.99", "1,000.99", true },
        { "unit word and thousands", "1,000 dollars", "1000", true },
        { "currency and thousands", "\\$1,000", "1", false },
        // percent
        { "percent", "28\\%", "28 percent", true },
        { "percent", "28\\%", "28 pct", true },
        { "percent", "28\\%", "28 percentage", true },
        { "percent", "28\\%", "29 percent", false },
        // units and text
        { "text unit", "5\\textbf{ cm}", "5", true },
        { "text unit", "15\\mbox{ cm}^2", "15", true },
        { "text unit", "\\frac{1}{3} \\text{meters}", "\\frac13", true },
        { "unit word", "0.06 yuan", "0.06", true },
        { "unit word", "12 apples", "12", true },
        { "unit word", "20 square units", "20", true },
        { "not a unit", "2\\mathrm{e}", "2", false },
        { "not a unit", "3abc", "3", false },
        { "not a unit", "5 x", "5", false },
        { "text and", "12\\text{ and }13", "12, 13", true },
        { "text unwrapped", "\\text{Evelyn}", "Evelyn", true },
        { "text unwrapped", "\\textbf{odd}", "odd", true },
        { "text unwrapped", "\\text{odd}", "\\text{even}", false },
        // multiple-choice letters
        { "choice letter", "\\text{(C)}", "\\text{C}", true },
        { "choice letter", "(C)", "C", true },
        { "choice letter", "C)", "C", true },
        { "choice letter", "\\textbf{(C)}", "C", true },
        { "choice letter", "(C)", "(D)", false },
        // whole-number separators
        { "thousands", "1,000", "1000", true },
        { "thousands", "1 000", "1000", true },
        { "thousands only for a whole number", "3, 5, 7", "357", false },
        { "a leading zero is no thousands group", "0,111", "111", false },
        // relations and inequalities
        { "relation spelling", "x \\geq 5", "x >= 5", true },
        { "relation spelling", "x \\ne 3", "x != 3", true },
        { "relation spelling", "x \\lt 3", "x < 3", true },
        { "flipped inequality", "x \\leq 5", "5 \\geq x", true },
        { "flipped inequality", "x < 1", "-x > -1", true },
        { "inequality direction", "x \\geq 5", "5 \\geq x", false },
        { "strictness", "x > 5", "x \\geq 5", false },
        { "inequality not negated", "x < 1", "x > -1", false },
        { "equation up to a factor", "2x+4y-3=0", "y=-\\frac{1}{2}x+\\frac{3}{4}", true },
        { "equation up to a factor", "x^2/4 + y^2/3 = 1", "x^2/16 + y^2/12 = 1/4", true },
        { "equation up to a factor", "5x - 7y + 11z + 4 = 0", "x + y - z + 2 = 0", false },
        // labelled answers
        { "labelled answer", "x = 11", "11", true },
        { "labelled answer", "11", "x=11", true },
        { "labelled answer", "(p,q)=(3,2)", "(3,2)", true },
        { "labelled answer", "(p,q)=(3,2)", "(2,3)", false },
        { "labelled answers", "AB=4, CD=5", "4, 5", true },
        { "labelled answers", "AB=4, CD=5", "4, 6", false },
        { "labelled answer", "|AB|=1", "1", true },
        { "labelled answer", "f(x)=1", "1", true },
        { "labelled answer chain", "x = 11", "x = 5+5+1 = 11", true },
        { "labels must agree", "x = 1", "y = 1", false },
        { "labelled list", "a_3 = 2, a_{37} = 19", "a_{37} = 19, a_3 = 2", true },
        { "label on the first item", "a=4, -8, -10", "-10,-8,4", true },
        { "calculation chain", "11", "2 + 9 = 11", true },
        { "equation in unknowns is no value", "0", "5x - 7y + 11z + 4 = 0", false },
        { "equation in unknowns is no value", "a + 3z = 0", "0", false },
        { "approximation dropped", "\\frac{1}{3}", "x = \\frac{1}{3} \\approx 0.3", true },
        { "approximation as value", "11", "x \\approx 11", true },
        // intervals, sets, unions, lists
        { "interval", "(1,2]", "(1, 2]", true },
        { "interval brackets", "(1,2]", "(1,2)", false },
        { "interval brackets", "[1,2)", "(1,2]", false },
        { "inequality as interval", "-793 < a < 10", "(-793, 10)", true },
        { "inequality as interval", "x \\leq 3", "(-\\infty, 3]", true },
        { "inequality as interval", "0 < x < 1", "[0,1]", false },
        { "membership", "[-2,7]", "x \\in [-2,7]", true },
        { "union", "(-\\infty,-3]\\cup[2,\\infty)", "[2,\\infty)\\cup(-\\infty,-3]", true },
        { "union", "(-\\infty,-3]\\cup[2,\\infty)", "[-3,2]", false },
        { "set", "\\{1,2\\}", "\\{2,1\\}", true },
        { "set", "\\{1,2\\}", "\\{1,2,3\\}", false },
        { "empty set", "\\emptyset", "\\varnothing", true },
        { "list without order", "1,-2", "-2, 1", true },
        { "list with and", "1 and 2", "2, 1", true },
        { "list with oxford comma", "19, 46, and 82", "19, 46, \\text{ and } 82", true },
        { "list as set", "2, 3", "2, 3, 3", true },
        { "list", "2, 3", "2, 4", false },
        { "semicolon groups", "p=5,q=2;p=7,q=2", "(5,2),(7,2)", true },
        { "tuple order", "(1,2)", "(2,1)", false },
        { "tuple brackets", "(1,2)", "[1,2]", false },
        { "tuple elements", "(1, \\frac{9}{2})", "(1,4.5)", true },
        { "plus-minus", "1 \\pm \\sqrt{2}", "1+\\sqrt2, 1-\\sqrt2", true },
        { "plus-minus", "1 \\pm \\sqrt{2}", "1+\\sqrt2", false },
        { "plus-minus", "\\pm 2021", "2021", false },
        // matrices
        { "matrix", "\\begin{pmatrix}1 & 0 \\\\ 0 & 1\\end{pmatrix}", "\\begin{bmatrix}1&0\\\\0&1\\end{bmatrix}", true },
        { "matrix", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 5\\end{pmatrix}", false },
        { "matrix arithmetic", "\\begin{pmatrix}6 & 8 \\\\ 10 & 12\\end{pmatrix}", "\\begin{pmatrix}1 & 2 \\\\ 3 & 4\\end{pmatrix} + \\begin{pmatrix}5 & 6 \\\\ 7 & 8\\end{pmatrix}", true },
        { "vector", "\\begin{pmatrix} -1/3 \\\\ 2/3 \\end{pmatrix}", "\\begin{pmatrix} -\\frac{1}{3} \\\\ \\frac{2}{3} \\end{pmatrix}", true },
        // names
        { "function application is a name", "0", "I(0)", false },
        { "function application is a name", "f(x)", "f(y)", false },
        { "a run of letters is one name", "ab", "ba", false },
        { "product", "x(x+1)", "x^2+x", true },
        // exact values
        { "exact rationals", "\\frac{1}{2004!}", "\\frac{1}{2006!}", false },
        { "exact integers", "2^{100}", "1267650600228229401496703205376", true },
        { "exact integers", "2^{100}", "1267650600228229401496703205377", false },
        { "exact decimals", "3.0", "3", true },
        { "exact decimals", "3", "3.0000001", false },
        { "exact decimals", "1450000.5", "1450000", false },
        { "mixed number", "2\\frac{1}{2}", "\\frac{5}{2}", true },
        { "scientific notation", "4.5e33", "4.5\\times10^{33}", true },
        { "numeral in a base", "52_8", "52", false },
        // decimals standing for values
        { "decimal rounds the value", "\\frac{1}{3}", "0.333333", true },
        { "decimal rounds the value", "\\frac{1}{3}", "0.33333", false },
        { "decimal rounds the value", "\\pi", "3.141593", true },
        { "decimal rounds the value", "\\pi", "3.14159", false },
        { "decimal rounds the value", "\\sqrt{2}", "1.414214", true },
        { "decimal rounds the value", "\\sqrt{2}", "1.414213", false },
        { "decimal rounds the value", "\\frac{1}{3}\\times10^{-8}", "3e-9", false },
        { "decimal rounds the value", "\\frac{1}{3}\\times10^{-8}", "3.333333e-9", true },
        // symbolic equivalence
        { "symbolic", "\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}", true },
        { "symbolic", "\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{3}{7}", false },
        { "symbolic", "(x+1)^2", "x^2+2x+1", true },
        { "symbolic", "(x+1)^2", "x^2+x+1", false },
        { "symbolic", "\\frac{x^2-1}{x-1}", "x+1", true },
        { "symbolic at negative points", "\\sqrt{x^2}", "x", false },
        { "symbolic at negative points", "|x|", "x", false },
        { "radicals", "\\sqrt{8}", "2\\sqrt{2}", true },
        { "radicals", "\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}", true },
        { "radicals", "\\sqrt{8}", "3\\sqrt{2}", false },
        { "radicals", "x^{2/3}", "\\sqrt[3]{x^2}", true },
        { "trigonometry", "\\tan^2(y)+1", "\\sec^2(y)", true },
        { "trigonometry", "\\sin^2 x + \\cos^2 x", "1", true },
        { "complex numbers", "(1+i)^2", "2i", true },
        { "complex numbers", "6-5i", "6+5i", false },
        { "logarithm", "\\log_2 8", "3", true },
        { "sum", "\\sum_{k=1}^{10} k", "55", true },
        { "binomial", "\\binom{5}{2}", "10", true },
        { "rounding error is not a value", "0", "\\sin(\\pi)", true },
        { "rounding error is not a value", "0", "\\sqrt{2}\\times 10^{-20}", false },
        { "rounding error is not a value", "1.325e-27", "\\sqrt{2}\\times 10^{-27}", false },
        { "rounding error is not a value", "\\frac{\\sqrt{2}}{2}\\times 10^{-27}", "\\frac{1}{\\sqrt{2}}\\times 10^{-27}", true },
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void Rule(string rule, string gold, string prediction, bool equivalent) =>
        Assert.True(MathEquivalence.AreEquivalent(gold, prediction) == equivalent,
            $"{rule}: '{gold}' vs '{prediction}': expected {(equivalent ? "equivalent" : "different")}; "
            + $"cleaned '{MathEquivalence.Clean(gold)}' vs '{MathEquivalence.Clean(prediction)}'; parsed {MathEquivalence.ParsedForm(gold)} vs {MathEquivalence.ParsedForm(prediction)}");

    /// <summary>The list in docs/evaluate.md ("Deliberately not equivalent"): each pair is kept apart on purpose.</summary>
    public static TheoryData<string, string> NotEquivalentByDesign => new()
    {
        { "3", "3.0000001" },
        { "\\frac{1}{3}", "0.333" },
        { "\\pi", "3.14159" },
        { "\\sqrt{2}", "1.414213" },
        { "\\frac{1}{3}\\times 10^{-8}", "3\\times 10^{-9}" },
        { "(1,3)", "\\{1,3\\}" },
        { "(1,2)", "[1,2]" },
        { "x = 1", "y = 1" },
        { "0", "5x - 7y + 11z + 4 = 0" },
        { "2", "\\pm 2" },
        { "1.22", "1,22" },
        { "x", "|x|" },
        { "x", "\\sqrt{x^2}" },
        { "ab", "ba" },
        { "0", "I(0)" },
        { "42", "52_8" },
        { "[-2,7]", "-2 \\le x \\le 7" },
        { "1 \\leq |z| \\leq \\frac{3}{2}", "z \\in [-\\frac{3}{2}, -1] \\cup [1, \\frac{3}{2}]" },
        { "-1", "e^{i\\pi}" },
        { "2", "\\log 100" },
        { "2", "2\\mathrm{e}" },
    };

    [Theory]
    [MemberData(nameof(NotEquivalentByDesign))]
    public void DeliberatelyNotEquivalent(string gold, string prediction)
    {
        Assert.False(MathEquivalence.AreEquivalent(gold, prediction), $"'{gold}' vs '{prediction}'");
        string doc = File.ReadAllText(Path.Combine(TestRepository.Root, "docs", "evaluate.md"));
        Assert.Contains($"`{prediction.Replace("|", "\\|")}`", doc); // pipes are escaped in Markdown tables
    }


    [Fact]
    public void DecimalCommaIsAnExplicitLocaleOption()
    {
        var comma = new MathEquivalenceOptions { DecimalComma = true };
        Assert.False(MathEquivalence.AreEquivalent("1000.99", "1000,99"));
        Assert.True(MathEquivalence.AreEquivalent("1000.99", "1000,99", comma));
        Assert.True(MathEquivalence.AreEquivalent("1.22", "1,22", comma));
        Assert.True(MathEquivalence.AreEquivalent("0.111", "0,111", comma));
        Assert.True(MathEquivalence.AreEquivalent("1234.5", "1.234,5", comma));
        Assert.True(MathEquivalence.AreEquivalent("1000", "1,000", comma)); // three digits after the comma: thousands
        Assert.False(MathEquivalence.AreEquivalent("1", "1,000", comma));
        Assert.Equal("1000,99", AnswerExtractor.ExtractMath("Soit 1000,99 euros au total.", lastNumberFallback: true, decimalComma: true)!.Text);
        Assert.Equal("1000", AnswerExtractor.ExtractMath("Soit 1000,99 euros au total.", lastNumberFallback: true)!.Text); // a comma group is not a number of its own
    }

    [Fact]
    public void OrderedListsOption()
    {
        Assert.True(MathEquivalence.AreEquivalent("10, 4, -2", "4, 10, -2"));
        Assert.False(MathEquivalence.AreEquivalent("10, 4, -2", "4, 10, -2", new MathEquivalenceOptions { OrderedLists = true }));
        Assert.True(MathEquivalence.AreEquivalent("10, 4, -2", "10,4,-2", new MathEquivalenceOptions { OrderedLists = true }));
    }

    [Fact]
    public void SetRelationComparisonIsOneSidedUnlessAllowed()
    {
        Assert.True(MathEquivalence.AreEquivalent("-2 \\le x \\le 7", "x \\in [-2,7]"));
        Assert.False(MathEquivalence.AreEquivalent("x \\in [-2,7]", "-2 \\le x \\le 7"));
        Assert.True(MathEquivalence.AreEquivalent("x \\in [-2,7]", "-2 \\le x \\le 7", new MathEquivalenceOptions { AllowSetRelationComparison = true }));
    }

    [Fact]
    public void NonStrictVariablesRenameThePredictionsVariables()
    {
        var loose = new MathEquivalenceOptions { StrictVariables = false };
        Assert.False(MathEquivalence.AreEquivalent("f(x)", "f(y)"));
        Assert.True(MathEquivalence.AreEquivalent("f(x)", "f(y)", loose));
        Assert.True(MathEquivalence.AreEquivalent("x^2+1", "t^2+1", loose));
        Assert.False(MathEquivalence.AreEquivalent("x^2+1", "t^2+2", loose));
    }

    [Fact]
    public void ToleranceSetsTheDigitsADecimalMustCarry()
    {
        Assert.False(MathEquivalence.AreEquivalent("\\frac13", "0.3333"));
        Assert.True(MathEquivalence.AreEquivalent("\\frac13", "0.3333", 1e-4));
        Assert.True(MathEquivalence.AreEquivalent("\\frac13", "0.33", 1e-2));
        Assert.False(MathEquivalence.AreEquivalent("\\frac43", "1.333", 1e-4)); // three places for four required
        Assert.False(MathEquivalence.AreEquivalent("\\frac13", "0.34", 1e-2)); // not the rounded value
    }

    [Fact]
    public void SamplePointsAreFixed()
    {
        // The grader feeds cached results: its sample points are constants, never random.
        var a = AnswerComparer.SamplePoint(["x", "y"], 0);
        var b = AnswerComparer.SamplePoint(["x", "y"], 0);
        Assert.Equal(a["x"].Approx, b["x"].Approx);
        Assert.NotEqual(a["x"].Approx, a["y"].Approx);
        Assert.Equal(2.2585321444935164, a["x"].Approx.Real, 12);
        for (int set = 0; set < 6; set++)
            Assert.True(AnswerComparer.SamplePoint(["x"], set)["x"].IsFinite);
    }

    [Fact]
    public void CleanOrdersCurrencyBeforeThousands()
    {
        Assert.Equal("1000", MathEquivalence.Clean("\\$1,000"));
        Assert.Equal("1000", MathEquivalence.Clean("$1,000"));
        Assert.Equal("1000", MathEquivalence.Clean("1,000 dollars"));
        Assert.Equal("1000.99", MathEquivalence.Clean("$1,000.99"));
        Assert.Equal("10080", MathEquivalence.Clean("10,\\! 080"));
    }
}
