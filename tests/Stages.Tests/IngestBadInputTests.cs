using System.Text.Json.Nodes;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests.IngestDecontam;

namespace IwSft.Stages.Tests;

/// <summary>Issue 14 items 5, 7 and 11: CSV resynchronisation, duplicate JSON keys, bad source lists, empty sources.</summary>
public sealed class IngestBadInputTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-ingest-bad-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    static IngestConfig Config(string path, BadRowPolicy policy = BadRowPolicy.Quarantine, string question = "question") =>
        new() { Sources = [new IngestSource { Path = path, Question = question, Name = "src" }], OnBadRow = policy };

    // ------------------------------------------------------------------ 5. CSV resynchronisation

    [Fact]
    public async Task Csv_resync_never_turns_text_inside_a_quoted_field_into_a_record()
    {
        // The reproduction: the bad record's third field is a quoted span over lines 2-4.
        var path = Write("bad.csv", "id,problem,answer\n1,bad\"quote,\"multi\n2,fake question,99\n\"\n3,good,6\n");
        var ctx = await Harness.IngestAsync(Config(path, question: "problem"));
        Assert.Equal(["good"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        var q = ctx.Outputs[IngestStage.QuarantineOutput].Single();
        Assert.Equal(1, q.Length);
        Assert.Equal(2L, q.GetInt64("line", 0));
        Assert.Equal("a double quote inside an unquoted field (RFC 4180 requires the whole field in quotes, with \"\" for a quote) (the bad record, with its quoted text, runs to line 4)",
            q.GetString("reason", 0));
        Assert.Equal("1,bad\"quote,\"multi\n2,fake question,99\n\"\n", q.GetString("raw", 0));
        Assert.Equal(["src line 5"], ctx.DecisionRows.Select(d => d.Detail!.Split(" (")[0]));
    }

    [Fact]
    public async Task Csv_resync_after_a_quoted_span_that_never_closes_quarantines_the_rest_of_the_file()
    {
        var path = Write("open.csv", "id,problem,answer\n0,fine,1\n1,bad\"x,\"open\n2,inside the quote,1\n3,still inside,2\n");
        var ctx = await Harness.IngestAsync(Config(path, question: "problem"));
        Assert.Equal(["fine"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        var q = ctx.Outputs[IngestStage.QuarantineOutput].Single();
        Assert.Equal(1, q.Length);
        Assert.Equal(3L, q.GetInt64("line", 0));
        Assert.Contains("never closes, so the rest of the file belongs to it", q.GetString("reason", 0));
    }

    [Fact]
    public async Task Csv_resync_after_text_following_a_closing_quote_resumes_at_the_next_line()
    {
        var path = Write("junk.csv", "id,problem,answer\n1,\"closed\"junk,\"x\ny\"\n2,next,2\n");
        var ctx = await Harness.IngestAsync(Config(path, question: "problem"));
        Assert.Equal(["next"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        var q = ctx.Outputs[IngestStage.QuarantineOutput].Single();
        Assert.Equal((2L, "unexpected character 'j' after a closing quote (the bad record, with its quoted text, runs to line 3)"),
            (q.GetInt64("line", 0)!.Value, q.GetString("reason", 0)));
    }

    // ------------------------------------------------------------------ 7. duplicate JSON keys

    [Fact]
    public async Task A_duplicate_json_key_fails_the_stage_naming_file_line_and_key()
    {
        var path = Write("dup.jsonl", "{\"question\": \"ok\"}\n{\"question\": \"first\", \"answer\": \"1\", \"question\": \"second\"}\n");
        var e = await Assert.ThrowsAsync<IngestException>(() => Harness.IngestAsync(Config(path, BadRowPolicy.Fail)));
        Assert.Equal($"stage 'ingest': {path}, line 2, column 'question': duplicate key 'question' in the JSON object (which value is meant is ambiguous; JSON parsers disagree)", e.Message);
    }

    [Fact]
    public async Task A_duplicate_key_in_a_nested_object_is_named_by_its_path_and_quarantined()
    {
        var path = Write("nested.jsonl", "{\"question\": \"a\", \"meta\": {\"tags\": [{\"k\": 1, \"k\": 2}]}}\n{\"question\": \"b\"}\n");
        var ctx = await Harness.IngestAsync(Config(path));
        Assert.Equal(["b"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        var q = ctx.Outputs[IngestStage.QuarantineOutput].Single();
        Assert.Equal((1L, "meta.tags[0].k"), (q.GetInt64("line", 0)!.Value, q.GetString("column", 0)));
    }

    // ------------------------------------------------------------------ 11. source lists and empty sources

    [Theory]
    [InlineData("null", "stage 'ingest': 'sources' is null; it is a list of source objects such as {\"path\": \"data.jsonl\"}")]
    [InlineData("[null]", "stage 'ingest': sources[0] is null; each source is an object with at least a \"path\"")]
    [InlineData("[{}]", "stage 'ingest': sources[0] has no 'path'")]
    [InlineData("[{\"path\": \"x.jsonl\", \"question\": null}]", "stage 'ingest': sources[0] (x.jsonl): 'question' must name the question field")]
    [InlineData("[{\"path\": \"x.jsonl\", \"answer\": null}]", "stage 'ingest': sources[0] (x.jsonl): 'answer' is null; use \"\" for a source without that field")]
    public void Bad_source_lists_from_set_are_one_line_errors_naming_the_key(string value, string message)
    {
        var p = new Pipeline("p");
        p.Add(new IngestStage("ingest", Config(Write("a.jsonl", "{\"question\": \"q\"}\n"))));
        var e = Assert.Throws<ArgumentException>(() => ConfigOverrides.Apply(p, $"ingest.sources={value}"));
        Assert.Equal($"--set ingest.sources={value}: value '{value}' is not valid for stage 'ingest' key 'sources': {message}", e.Message);
        Assert.Single(((IngestStage)p.Get("ingest")).Config.Sources); // the rejected value changed nothing
    }

    [Fact]
    public void A_stage_built_with_a_null_source_reports_it_when_its_key_is_computed()
    {
        var stage = new IngestStage("ingest", new IngestConfig { Sources = [null!] });
        var e = Assert.Throws<InvalidOperationException>(() => stage.ExternalInputs.ToList());
        Assert.Equal("stage 'ingest': sources[0] is null; each source is an object with at least a \"path\"", e.Message);
    }

    [Theory]
    [InlineData("empty.jsonl", "")]
    [InlineData("blank.jsonl", "\n\n  \n")]
    [InlineData("header.csv", "id,question\n")]
    public async Task An_empty_source_is_a_warning_by_default_and_an_error_with_fail_on_empty(string name, string content)
    {
        var empty = Write(name, content);
        var full = Write("full.jsonl", "{\"question\": \"q\"}\n");
        var config = new IngestConfig { Sources = [new IngestSource { Path = full, Name = "full" }, new IngestSource { Path = empty, Name = "nothing" }] };
        var ctx = await Harness.IngestAsync(config);
        Assert.Equal(["q"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        Assert.Contains($"warning: source 'nothing' ({empty}) has no records", ctx.Logs);
        Assert.Equal(1, ctx.Metrics["empty_sources"]);

        config.FailOnEmpty = true;
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Harness.IngestAsync(config));
        Assert.Equal($"stage 'ingest': source 'nothing' ({empty}) has no records (fail_on_empty is set)", e.Message);
    }
}
