using IwSft.Stages.Curate.Filter;
using static IwSft.Stages.Tests.Curate.CurateRows;

namespace IwSft.Stages.Tests.Curate;

public class FilterTests
{
    static async Task<StageTestContext> Run(FilterStage stage, params Apache.Arrow.RecordBatch[] batches)
    {
        var ctx = new StageTestContext(stage).Table("records", batches);
        await stage.RunAsync(ctx);
        return ctx;
    }

    [Theory]
    [InlineData("Find the area. [asy] draw((0,0)--(1,1)); [/asy]", "MATH", "asy_figure", "question: '[asy]' at char 15")]
    [InlineData("See ![Image](http://x/y.png) below.", "olympiads", "image_link", "question: '![Image]' at char 4")]
    [InlineData("p1. Let n be a positive integer.", "aops", "problem_marker", "question: 'p1.' at char 0")]
    [InlineData("Problems:\nP12. Show that x > 0.", "aops", "problem_marker", "question: 'P12.' at char 10")]
    [InlineData("**1.** Prove the claim.", "aops", "bold_number", "question: '**1.**' at char 0")]
    public async Task WeirdStringRulesDropWithTheMatchedText(string question, string source, string reason, string detail)
    {
        var ctx = await Run(new FilterStage("filter"), Batch([new Rec("a", question) { Source = source }]));
        Assert.Equal([("a", false, reason, (string?)detail)], ctx.DecisionRows);
        Assert.Empty(ctx.OutputIds("records"));
    }

    [Theory]
    [InlineData("Find [asy] x.", "qq8933/AIME_1983_2024")]      // [asy] allowed for AIME
    [InlineData("Take step2. then stop.", "x")]                 // 'p' inside a word is no marker
    [InlineData("The value p1.5 is a decimal.", "x")]            // decimal, no marker
    [InlineData("Compute x**2** and **bold** words.", "x")]      // bold without a trailing dot
    [InlineData("An ![image] in lower case.", "x")]              // the s1 rule is the literal ![Image]
    public async Task LookalikesAreKept(string question, string source)
    {
        var ctx = await Run(new FilterStage("filter"), Batch([new Rec("a", question) { Source = source }]));
        Assert.Equal([("a", true, "kept", (string?)null)], ctx.DecisionRows);
        Assert.Equal(["a"], ctx.OutputIds("records"));
    }

    [Fact]
    public async Task FirstFiringRuleDecidesAndEveryRecordGetsExactlyOneDecision()
    {
        var stage = new FilterStage("filter", new FilterConfig
        {
            RequiredColumns = ["question", "trace", "attempt", "domain"],
            LengthBounds = [new LengthBound { Column = "trace_tokens", Min = 10, Max = 100 }, new LengthBound { Column = "question", Max = 20 }],
            SolvedByColumns = ["solved_7b", "solved_32b"],
            MinQuality = 5,
        });
        string[] b = ["solved_7b", "solved_32b"];
        Dictionary<string, bool?> Solved(bool? s7, bool? s32) => new() { ["solved_7b"] = s7, ["solved_32b"] = s32 };
        var recs = new[]
        {
            new Rec("keep", "q ok") { Domain = "11", TraceTokens = 50, Quality = 5, Bools = Solved(false, false) },
            new Rec("nodomain", "q [asy]") { Domain = null, TraceTokens = 50, Quality = 9, Bools = Solved(false, false) },
            new Rec("blanktrace", "q") { Trace = "  ", Domain = "11", TraceTokens = 50, Quality = 9, Bools = Solved(false, false) },
            new Rec("asy", "q [asy]") { Domain = "11", TraceTokens = 5, Quality = 9, Bools = Solved(true, true) },
            new Rec("short", "q") { Domain = "11", TraceTokens = 9, Quality = 9, Bools = Solved(false, false) },
            new Rec("long", "q") { Domain = "11", TraceTokens = 101, Quality = 9, Bools = Solved(false, false) },
            new Rec("longq", "a question that is too long") { Domain = "11", TraceTokens = 100, Quality = 9, Bools = Solved(false, false) },
            new Rec("solved", "q") { Domain = "11", TraceTokens = 10, Quality = 9, Bools = Solved(false, true) },
            new Rec("ungraded", "q") { Domain = "11", TraceTokens = 10, Quality = 9, Bools = Solved(null, false) },
            new Rec("lowq", "q") { Domain = "11", TraceTokens = 10, Quality = 4.5f, Bools = Solved(false, false) },
        };
        var ctx = await Run(stage, Batch(recs.Take(4), b), Batch(recs.Skip(4), b));
        Assert.Equal(new (string, bool, string, string?)[]
        {
            ("keep", true, "kept", null),
            ("nodomain", false, "missing_features", "missing: domain"),
            ("blanktrace", false, "missing_features", "missing: trace"),
            ("asy", false, "asy_figure", "question: '[asy]' at char 2"),
            ("short", false, "length", "trace_tokens = 9 < min 10"),
            ("long", false, "length", "trace_tokens = 101 > max 100"),
            ("longq", false, "length", "question = 27 chars > max 20"),
            ("solved", false, "difficulty", "solved by: solved_32b"),
            ("ungraded", false, "difficulty", "unknown (null): solved_7b"),
            ("lowq", false, "min_quality", "quality = 4.5 < 5"),
        }, ctx.DecisionRows);
        Assert.Equal(["keep"], ctx.OutputIds("records"));
        Assert.Equal(1, ctx.Metrics["decisions.kept"]);
        Assert.Equal(3, ctx.Metrics["decisions.length"]);
    }

    [Fact]
    public async Task WhenEveryRecordIsDroppedTheOutputKeepsTheInputsColumns()
    {
        var stage = new FilterStage("filter", new FilterConfig { RequiredColumns = ["question"], SolvedByColumns = ["solved_x"] });
        var input = Candidates([new Rec("a", "Compute it."), new Rec("b", "Compute that.")]);
        var solved = IwSft.Stages.Curate.CurateTables.NullableField("solved_x", IwSft.Runtime.ColumnType.Bool);
        input = IwSft.Stages.Curate.CurateTables.WithColumns(input, (solved, IwSft.Stages.Curate.CurateTables.BuildArray(solved, [true, true])));
        var ctx = await Run(stage, input);
        Assert.All(ctx.DecisionRows, d => Assert.Equal("difficulty", d.Item3));
        var output = Assert.Single(ctx.Output("records"));
        Assert.Equal(0, output.Length);
        Assert.True(output.Schema.GetFieldIndex("solved_x") >= 0);
    }

    [Fact]
    public async Task CustomPredicatesRunAfterConfiguredRulesAndChangeTheConfiguration()
    {
        var stage = new FilterStage("filter", new FilterConfig { RequiredColumns = ["question"] });
        string before = stage.ConfigJson().ToJsonString();
        stage.AddRule("no_proofs", 1, row => row.String("question")!.Contains("Prove") ? "asks for a proof" : null);
        Assert.NotEqual(before, stage.ConfigJson().ToJsonString());
        Assert.Contains("\"custom_rules\":[{\"name\":\"no_proofs\",\"version\":1}]", stage.ConfigJson().ToJsonString());

        var ctx = await Run(stage, Candidates([new Rec("p", "Prove it."), new Rec("c", "Compute it.")]));
        Assert.Equal(new (string, bool, string, string?)[] { ("p", false, "no_proofs", "asks for a proof"), ("c", true, "kept", null) }, ctx.DecisionRows);
        // Output carries the features schema even when the input had only the candidates columns.
        Assert.True(ctx.Output("records")[0].Schema.GetFieldIndex("sampling_weight") >= 0);
    }

    [Fact]
    public void FeaturesSchemaIsTheCandidatesColumnsPlusNullableFeatures()
    {
        var candidates = IwSft.Runtime.TableSchema.Get("candidates");
        var features = IwSft.Runtime.TableSchema.Get("features");
        Assert.Equal(candidates.Columns.Select(c => (c.Name, c.Type, c.Nullable)), features.Columns.Take(candidates.Columns.Count).Select(c => (c.Name, c.Type, c.Nullable)));
        Assert.Equal(["trace_tokens", "quality", "sampling_weight"], features.Columns.Skip(candidates.Columns.Count).Select(c => c.Name));
        Assert.All(features.Columns.Skip(candidates.Columns.Count), c => Assert.True(c.Nullable));
    }

    [Fact]
    public async Task UnknownConfiguredColumnIsAClearError()
    {
        var stage = new FilterStage("filter", new FilterConfig { SolvedByColumns = ["solved_by_nobody"] });
        var e = await Assert.ThrowsAsync<ArgumentException>(() => Run(stage, Candidates([new Rec("a", "q")])));
        Assert.Contains("'solved_by_nobody'", e.Message);
        Assert.Contains("stage 'filter'", e.Message);
    }
}
