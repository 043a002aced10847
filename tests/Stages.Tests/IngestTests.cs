using System.Security.Cryptography;
using System.Text;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests.IngestDecontam;
using Parquet;
using Parquet.Schema;

namespace IwSft.Stages.Tests;

public sealed class IngestTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-ingest-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    string WriteFile(string name, params byte[][] lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, lines.SelectMany(l => l.Concat("\n"u8.ToArray())).ToArray());
        return path;
    }

    static byte[] L(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Record_id_is_the_first_16_hex_of_sha256_of_the_utf8_question()
    {
        Assert.Equal("31adf3e245f99d7b", RecordMapper.RecordId("What is 1+1?"));
        Assert.Equal("73429d562982300e", RecordMapper.RecordId("Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?"));
        foreach (var q in new[] { "What is 1+1?", "Ünïcödé √2 ≈ 1.414", " spaced  ", "line\nbreak" })
        {
            var expected = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(q)))[..16].ToLowerInvariant();
            Assert.Equal(expected, RecordMapper.RecordId(q));
        }
        Assert.Equal("94f65ee6dce328c9", RecordMapper.RecordId("Ünïcödé √2 ≈ 1.414"));
    }

    [Fact]
    public async Task Jsonl_maps_fields_puts_extras_in_metadata_and_drops_exact_duplicates()
    {
        var path = WriteFile("pool.jsonl",
            L("{\"q\": \"What is 1+1?\", \"sol\": \"2\", \"ans\": 2, \"level\": 3, \"tags\": [\"easy\"]}"),
            L(""),
            L("{\"q\": \"What is 2+2?\", \"sol\": null}"),
            L("{\"q\": \"What is 1+1?\", \"sol\": \"two\"}"),
            L("{\"q\": \"what is 1+1?\"}"));
        var ctx = await Harness.IngestAsync(new IngestConfig
        {
            Sources = [new IngestSource { Path = path, Name = "toy", Question = "q", Solution = "sol", Answer = "ans" }],
        });
        var output = IngestStage.CandidatesOutput;
        Assert.Equal(["31adf3e245f99d7b", RecordMapper.RecordId("What is 2+2?"), RecordMapper.RecordId("what is 1+1?")], ctx.Column(output, "id"));
        Assert.Equal(["2", null, null], ctx.Column(output, "solution"));
        Assert.Equal(["2", null, null], ctx.Column(output, "answer"));          // a JSON number is accepted as an answer
        Assert.Equal(["toy", "toy", "toy"], ctx.Column(output, "source"));
        Assert.Equal(["{\"level\":3,\"tags\":[\"easy\"]}", null, null], ctx.Column(output, "metadata"));
        Assert.Equal(1, ctx.Metrics["duplicates"]);
        Assert.Equal(1, ctx.Metrics["blank_lines"]);
        var dup = ctx.DecisionRows.Single(d => !d.Kept);
        Assert.Equal(("31adf3e245f99d7b", "duplicate"), (dup.Id, dup.Reason));
        Assert.Equal($"exact duplicate question: toy line 4 ({path}) repeats 31adf3e245f99d7b first seen at toy line 1 ({path})", dup.Detail);
        Assert.Equal(3, ctx.DecisionRows.Count(d => d.Kept && d.Reason == "ingested"));
    }

    [Fact]
    public async Task A_source_limit_reads_only_its_first_rows_and_at_zero_stays_out_of_the_key()
    {
        var path = WriteFile("pool.jsonl", Enumerable.Range(0, 6).Select(i => L($"{{\"question\": \"Q{i}?\"}}")).ToArray());
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Name = "toy", Limit = 4 }] });
        Assert.Equal(["Q0?", "Q1?", "Q2?", "Q3?"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        // Limit 0 (all rows) is not written, so ingest stages configured before the option keep their cache keys.
        var all = new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = path }] });
        Assert.False(all.ConfigJson()["sources"]![0]!.AsObject().ContainsKey("limit"));
        var limited = new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = path, Limit = 4 }] });
        Assert.Equal(4, limited.ConfigJson()["sources"]![0]!["limit"]!.GetValue<int>());
        var bad = Assert.Throws<InvalidOperationException>(() => new IngestConfig { Sources = [new IngestSource { Path = path, Limit = -1 }] }.Validate("ingest"));
        Assert.Equal($"stage 'ingest': sources[0] ({path}): 'limit' must be 0 (all rows) or positive, got -1", bad.Message);
    }

    public static TheoryData<string, byte[], string?, string> BadJsonlRows => new()
    {
        { "malformed", L("{\"question\": \"x\""), null, "malformed JSON" },
        { "wrong type", L("{\"question\": 5}"), "question", "wrong type: expected string, got number" },
        { "wrong optional type", L("{\"question\": \"q\", \"solution\": {\"a\": 1}}"), "solution", "wrong type: expected string, got object" },
        { "missing", L("{\"problem\": \"x\"}"), "question", "missing required field 'question'" },
        { "null", L("{\"question\": null}"), "question", "required field is null" },
        { "empty", L("{\"question\": \"  \"}"), "question", "required field is empty" },
        { "not an object", L("[1, 2]"), null, "expected a JSON object, got array" },
        { "invalid utf-8", [.. L("{\"question\": \"caf"), 0xC3, 0x28, .. L("\"}")], null, "invalid UTF-8 at byte 18 of the line" },
        { "too long", L("{\"question\": \"" + new string('a', 300) + "\"}"), null, "line longer than the limit of 200 bytes (max_line_bytes)" },
    };

    [Theory]
    [MemberData(nameof(BadJsonlRows))]
    public async Task Bad_jsonl_row_fails_the_stage_naming_stage_file_line_column_and_reason(string kind, byte[] bad, string? column, string reason)
    {
        var path = WriteFile($"bad-{kind.Replace(' ', '-')}.jsonl", L("{\"question\": \"fine\"}"), bad);
        var e = await Assert.ThrowsAsync<IngestException>(() => Harness.IngestAsync(
            new IngestConfig { Sources = [new IngestSource { Path = path }], MaxLineBytes = 200 }, name: "ingest_pool"));
        Assert.Equal((path, 2L, column), (e.Row.File, e.Row.Line, e.Row.Column));
        Assert.StartsWith(reason, e.Row.Reason);
        Assert.StartsWith($"stage 'ingest_pool': {path}, line 2" + (column is null ? ": " : $", column '{column}': ") + reason, e.Message);
    }

    [Fact]
    public async Task Quarantine_policy_routes_every_bad_row_with_its_location_and_counts_them()
    {
        var rows = BadJsonlRows.Select(r => (byte[])r[1]).ToList();
        var path = WriteFile("mixed.jsonl", [L("{\"question\": \"fine one\"}"), .. rows, L("{\"question\": \"fine two\"}")]);
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path }], MaxLineBytes = 200, OnBadRow = BadRowPolicy.Quarantine });

        Assert.Equal(["fine one", "fine two"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        Assert.Equal(rows.Count, ctx.Metrics["quarantined"]);
        Assert.Equal(rows.Count, ctx.RowCount(IngestStage.QuarantineOutput));
        var q = ctx.Outputs[IngestStage.QuarantineOutput].Single();
        var expected = BadJsonlRows.Select((r, i) => (Line: (long)(i + 2), Column: (string?)r[2], Reason: (string)r[3])).ToList();
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal("ingest", q.GetString("stage", i));
            Assert.Equal(path, q.GetString("file", i));
            Assert.Equal(expected[i].Line, q.GetInt64("line", i));
            Assert.Equal(expected[i].Column, q.GetString("column", i));
            Assert.StartsWith(expected[i].Reason, q.GetString("reason", i));
        }
        Assert.Equal("{\"question\": 5}", q.GetString("raw", 1));
        Assert.Equal("{\"question\": \"" + new string('a', 300) + "\"}", q.GetString("raw", expected.Count - 1)); // the over-long line, kept for inspection
        Assert.Equal(2, ctx.DecisionRows.Count);
    }

    [Fact]
    public async Task Csv_quoted_fields_span_lines_and_records_keep_their_starting_line()
    {
        var path = Path.Combine(_dir, "pool.csv");
        File.WriteAllText(path,
            "id,problem,answer\r\n" +
            "a,\"first line\nsecond line, with comma\",1\r\n" +
            "b,\"she said \"\"hi\"\"\",2\n" +
            "c,plain,\n" +
            "d,\"\n\n three lines later\",4");
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Question = "problem", Name = "csv" }] });
        Assert.Equal(["first line\nsecond line, with comma", "she said \"hi\"", "plain", "\n\n three lines later"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        Assert.Equal(["1", "2", null, "4"], ctx.Column(IngestStage.CandidatesOutput, "answer"));
        Assert.Equal(["{\"id\":\"a\"}", "{\"id\":\"b\"}", "{\"id\":\"c\"}", "{\"id\":\"d\"}"], ctx.Column(IngestStage.CandidatesOutput, "metadata"));
        Assert.Equal(["csv line 2", "csv line 4", "csv line 5", "csv line 6"],
            ctx.DecisionRows.Select(d => d.Detail!.Split(" (")[0]));
    }

    [Fact]
    public async Task Bad_csv_records_are_reported_at_their_line_and_column()
    {
        var path = Path.Combine(_dir, "bad.csv");
        File.WriteAllBytes(path, [
            .. L("id,problem,answer\n"),
            .. L("1,ok,1\n"),
            .. L("2,too,many,fields\n"),
            .. L("3,say \"hi\" there,3\n"),
            .. L("4,\"closed\"junk,4\n"),
            .. L("5,caf"), 0xC3, 0x28, .. L(",5\n"),
            .. L("6,\"multi\nline ok\",6\n"),
            .. L("7,\"never closed,7\n8,x,8\n"),
        ]);
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Question = "problem" }], OnBadRow = BadRowPolicy.Quarantine });
        Assert.Equal(["ok", "multi\nline ok"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        var q = ctx.Outputs[IngestStage.QuarantineOutput].Single();
        var got = Enumerable.Range(0, q.Length).Select(i => (q.GetInt64("line", i), q.GetString("column", i), q.GetString("reason", i)!)).ToList();
        Assert.Equal(5, got.Count);
        Assert.Equal((3L, (string?)null), (got[0].Item1, got[0].Item2));
        Assert.Equal("expected 3 fields (as in the header), got 4", got[0].Item3);
        Assert.Equal((4L, "problem"), (got[1].Item1, got[1].Item2));
        Assert.StartsWith("a double quote inside an unquoted field", got[1].Item3);
        Assert.Equal((5L, "problem", "unexpected character 'j' after a closing quote"), got[2]);
        Assert.Equal((6L, "problem", "invalid UTF-8 at byte 4 of the field"), got[3]);
        Assert.Equal(9L, got[4].Item1);
        Assert.StartsWith("unterminated quoted field", got[4].Item3);

        var e = await Assert.ThrowsAsync<IngestException>(() => Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Question = "problem" }] }));
        Assert.Equal($"stage 'ingest': {path}, line 3: expected 3 fields (as in the header), got 4", e.Message);
    }

    [Fact]
    public async Task Parquet_columns_map_like_any_source_and_rows_are_numbered()
    {
        var path = Path.Combine(_dir, "pool.parquet");
        var question = new DataField<string>("Question");
        var level = new DataField<int>("level");
        var score = new DataField<double?>("score");
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(question, level, score), stream))
        {
            foreach (var (qs, ls, ss) in new[] { (new[] { "P one", "P two" }, new[] { 1, 2 }, new double?[] { 0.5, null }), (new[] { "P three" }, new[] { 3 }, new double?[] { double.NaN }) })
            {
                using var g = writer.CreateRowGroup();
                await g.WriteAsync(question, qs);
                await g.WriteAsync<int>(level, ls.AsMemory());
                await g.WriteAsync<double>(score, ss.AsMemory());
            }
        }
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Question = "Question", Domain = "level" }] },
            new ExecutionOptions { BatchRows = 2 });
        Assert.Equal([2, 1], ctx.Outputs[IngestStage.CandidatesOutput].Select(b => b.Length));
        Assert.Equal(["P one", "P two", "P three"], ctx.Column(IngestStage.CandidatesOutput, "question"));
        Assert.Equal(["1", "2", "3"], ctx.Column(IngestStage.CandidatesOutput, "domain"));
        Assert.Equal(["{\"score\":0.5}", "{\"score\":null}", "{\"score\":\"NaN\"}"], ctx.Column(IngestStage.CandidatesOutput, "metadata"));
        Assert.Equal(["pool row 1", "pool row 2", "pool row 3"], ctx.DecisionRows.Select(d => d.Detail!.Split(" (")[0]));

        var e = await Assert.ThrowsAsync<IngestException>(() => Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Question = "level" }] }));
        Assert.Equal($"stage 'ingest': {path}, row 1, column 'level': wrong type: expected string, got number", e.Message);
    }

    [Fact]
    public async Task Benchmark_mode_keeps_duplicates_and_reads_item_ids_and_choices()
    {
        var path = WriteFile("mc.jsonl",
            L("{\"Question\": \"Pick one\", \"Correct\": \"A\", \"Wrong1\": \"B\", \"Wrong2\": 3, \"uid\": \"q-1\"}"),
            L("{\"Question\": \"Pick one\", \"Correct\": \"C\", \"Wrong1\": \"D\", \"Wrong2\": null, \"uid\": \"q-2\"}"));
        var ctx = await Harness.IngestAsync(new IngestConfig
        {
            Mode = IngestMode.Benchmark,
            Sources = [new IngestSource { Path = path, Name = "gpqa_toy", Question = "Question", Answer = "Correct", ItemId = "uid", Choices = ["Correct", "Wrong1", "Wrong2"] }],
        });
        var batch = ctx.Outputs[IngestStage.BenchmarkOutput].Single();
        Assert.Equal(2, batch.Length);
        Assert.Equal(["q-1", "q-2"], ctx.Column(IngestStage.BenchmarkOutput, "item_id"));
        Assert.Equal(["gpqa_toy", "gpqa_toy"], ctx.Column(IngestStage.BenchmarkOutput, "benchmark"));
        Assert.Equal(new string?[] { "A", "B", "3" }, batch.GetStringList("choices", 0));
        Assert.Equal(new string?[] { "C", "D" }, batch.GetStringList("choices", 1));
        Assert.Equal([null, null], ctx.Column(IngestStage.BenchmarkOutput, "metadata"));
        Assert.Equal(0, ctx.Metrics["duplicates"]);
    }

    [Fact]
    public async Task Jsonl_lines_longer_than_the_read_chunk_and_crossing_chunk_borders_stream_intact()
    {
        // 64 KiB chunks: lines of 100,003 and 70,001 chars cross several borders, CRLF endings, no final newline
        string q1 = new string('x', 100_000) + "end", q2 = "é" + new string('y', 70_000);
        var path = Path.Combine(_dir, "long.jsonl");
        File.WriteAllText(path, $"{{\"question\": \"{q1}\"}}\r\n{{\"question\": \"short\"}}\r\n{{\"question\": \"{q2}\"}}");
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path }] });
        Assert.Equal([q1, "short", q2], ctx.Column(IngestStage.CandidatesOutput, "question"));
        Assert.Equal(["long line 1", "long line 2", "long line 3"], ctx.DecisionRows.Select(d => d.Detail!.Split(" (")[0]));
    }

    [Fact]
    public void Source_format_follows_the_extension_unless_set()
    {
        Assert.Equal(SourceFormat.Jsonl, new IngestSource { Path = "a/b.JSONL" }.ResolvedFormat());
        Assert.Equal(SourceFormat.Csv, new IngestSource { Path = "b.csv" }.ResolvedFormat());
        Assert.Equal(SourceFormat.Parquet, new IngestSource { Path = "b.parquet" }.ResolvedFormat());
        Assert.Equal(SourceFormat.Csv, new IngestSource { Path = "b.txt", Format = SourceFormat.Csv }.ResolvedFormat());
        Assert.Contains("set format to jsonl, csv or parquet", Assert.Throws<ArgumentException>(() => new IngestSource { Path = "b.txt" }.ResolvedFormat()).Message);
        Assert.Equal("b", new IngestSource { Path = "x/b.csv" }.SourceName);
    }
}
