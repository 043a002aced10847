using System.Text.Json.Nodes;
using IwSft.Text;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Curate.Filter;
using IwSft.Stages.Curate.Format;
using static IwSft.Stages.Tests.Curate.CurateRows;

namespace IwSft.Stages.Tests.Curate;

/// <summary>Filter and format over the real MATH500 problems and solutions (shared data).</summary>
public class FormatRealDataTests
{
    static List<Rec> Math500() =>
        File.ReadLines(SharedData.File("benchmarks/math500.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!)
            .Select(o => new Rec(o["unique_id"]!.GetValue<string>(), o["problem"]!.GetValue<string>())
            {
                Solution = o["solution"]!.GetValue<string>(), Source = "MATH", Trace = null, Attempt = null,
            }).ToList();

    [SharedDataFact]
    public async Task FilterThenFormatMath500()
    {
        var recs = Math500();
        Assert.Equal(500, recs.Count);
        var filter = new FilterStage("filter", new FilterConfig { RequiredColumns = ["question", "solution"] });
        var fctx = new StageTestContext(filter).Table("records", Batch(recs.Take(250)), Batch(recs.Skip(250)));
        await filter.RunAsync(fctx);

        Assert.Equal(500, fctx.DecisionRows.Count);
        Assert.Equal(recs.Select(r => r.Id), fctx.DecisionRows.Select(d => d.Id));
        var byId = recs.ToDictionary(r => r.Id);
        // MATH500 draws many figures with Asymptote: exactly the questions containing "[asy]" (no AIME source here)
        // are dropped by asy_figure, and each detail names the question's first occurrence.
        var asy = fctx.DecisionRows.Where(d => d.Reason == "asy_figure").ToList();
        Assert.Equal(recs.Count(r => r.Question.Contains("[asy]")), asy.Count);
        Assert.NotEmpty(asy);
        Assert.All(asy, d => Assert.Equal($"question: '[asy]' at char {byId[d.Id].Question.IndexOf("[asy]", StringComparison.Ordinal)}", d.Detail));
        var kept = fctx.OutputIds("records");
        Assert.Equal(fctx.DecisionRows.Where(d => d.Kept).Select(d => d.Id), kept);

        var format = new FormatStage("format", new FormatConfig { Tokenizer = "cl100k_base", Layout = AssistantLayout.Solution, EmitText = true, BlockSize = 4096 });
        var ctx = new StageTestContext(format).Table("records", fctx.Output("records").ToArray());
        await format.RunAsync(ctx);
        var cl = HfTokenizer.Cl100kBase();
        var template = new QwenChatTemplate();
        int n = 0;
        foreach (var b in ctx.Output("sequences"))
            for (int r = 0; r < b.Length; r++, n++)
            {
                var rec = byId[b.GetString("id", r)!];
                var ids = b.GetInt32List("input_ids", r)!;
                int cs = b.GetInt32("completion_start", r)!.Value;
                var (prompt, completion) = template.TrainingExample(rec.Question, rec.Solution!);
                Assert.Equal(prompt + completion, cl.Decode(ids));
                Assert.Equal(prompt, cl.Decode(ids[..cs]));   // solutions here never start with whitespace
                Assert.False(b.GetBool("truncated", r));
            }
        Assert.Equal(kept.Count, n);
    }
}
