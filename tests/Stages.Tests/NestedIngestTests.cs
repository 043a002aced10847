using System.Text;
using System.Text.Json.Serialization;
using Apache.Arrow;
using Apache.Arrow.Ipc;
using Apache.Arrow.Types;
using IwSft.Runtime;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests.IngestDecontam;
using Parquet;
using Parquet.Serialization;

namespace IwSft.Stages.Tests;

/// <summary>
/// Rows in the shapes of the published s1 sets, written here with Parquet.Net (nested columns through its serializer,
/// which writes the standard three-level LIST layout pyarrow writes) and, for the null-typed column, the
/// <c>ARROW:schema</c> key pyarrow adds: <c>simplescaling/data_ablation_full59K</c> (list&lt;string&gt; trajectories,
/// a null-typed <c>cot</c>, JSON text in <c>metadata</c>, every source in one table) and <c>simplescaling/s1K-1.1</c>
/// (chat <c>messages</c> as list&lt;struct&lt;content, role&gt;&gt;).
/// </summary>
public sealed class NestedIngestTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-nested-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A row of data_ablation_full59K (column names and types from its dataset card).</summary>
    public sealed class Full59kRow
    {
        [JsonPropertyName("solution")] public string? Solution { get; set; }
        [JsonPropertyName("question")] public string? Question { get; set; }
        [JsonPropertyName("cot_type")] public string? CotType { get; set; }
        [JsonPropertyName("source_type")] public string? SourceType { get; set; }
        [JsonPropertyName("metadata")] public string? Metadata { get; set; }
        /// <summary>Arrow null type in the real file; stored as an all-null int32 column, typed null by ARROW:schema.</summary>
        [JsonPropertyName("cot")] public int? Cot { get; set; }
        [JsonPropertyName("thinking_trajectories")] public List<string>? ThinkingTrajectories { get; set; }
        [JsonPropertyName("attempt")] public string? Attempt { get; set; }
    }

    public sealed class Turn
    {
        [JsonPropertyName("content")] public string? Content { get; set; }
        [JsonPropertyName("role")] public string? Role { get; set; }
    }

    /// <summary>A row of s1K-1.1 (the columns this test needs, same names and types).</summary>
    public sealed class S1k11Row
    {
        [JsonPropertyName("question")] public string? Question { get; set; }
        [JsonPropertyName("source_type")] public string? SourceType { get; set; }
        [JsonPropertyName("deepseek_thinking_trajectory")] public string? DeepseekThinkingTrajectory { get; set; }
        [JsonPropertyName("deepseek_attempt")] public string? DeepseekAttempt { get; set; }
        [JsonPropertyName("messages")] public List<Turn>? Messages { get; set; }
    }

    /// <summary>The ARROW:schema value pyarrow writes: base64 of an Arrow IPC schema message; here with <c>cot</c> of the null type.</summary>
    static Dictionary<string, string> ArrowSchemaWithNullCot()
    {
        var schema = new Schema.Builder()
            .Field(f => f.Name("question").DataType(StringType.Default).Nullable(true))
            .Field(f => f.Name("cot").DataType(NullType.Default).Nullable(true))
            .Build();
        using var ms = new MemoryStream();
        using (var w = new ArrowStreamWriter(ms, schema, leaveOpen: true))
            w.WriteRecordBatch(new RecordBatch(schema, [new StringArray.Builder().Build(), new NullArray(0)], 0));
        return new() { ["ARROW:schema"] = Convert.ToBase64String(ms.ToArray()) };
    }

    /// <summary>Writes the rows as one row group per group, in order (Append adds a row group to the same file).</summary>
    static async Task WriteGroupsAsync<T>(string path, IReadOnlyDictionary<string, string>? metadata, params IReadOnlyList<T>[] groups)
    {
        for (int g = 0; g < groups.Length; g++)
        {
            await using var stream = g == 0 ? File.Create(path) : new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
            var options = new ParquetOptions { Append = g > 0 };
            options.ColumnEncodingHints["source_type"] = EncodingHint.Dictionary;   // as pyarrow writes repeated strings
            await ParquetSerializer.SerializeAsync(groups[g], stream, options, g == 0 ? metadata : null);
        }
    }

    static Full59kRow Pool(string question, string source, params string[] trajectories) => new()
    {
        Solution = $"solution of {question}", Question = question, CotType = "math", SourceType = source,
        Metadata = $"{{\"level\": \"{source}-{question.Length}\"}}", Cot = null, ThinkingTrajectories = [.. trajectories], Attempt = $"attempt for {question}",
    };

    static IngestSource Full59kMapping(string path) => new()
    {
        Path = path, Name = "full59k", Question = "question", Solution = "solution", Trace = "thinking_trajectories", Attempt = "attempt",
        SourceColumn = "source_type", Answer = "", Domain = "",
    };

    [Fact]
    public async Task Full59k_shaped_parquet_joins_trajectories_leaves_out_the_null_column_and_splits_sources_by_source_type()
    {
        string big = new('t', 3_000_000);   // one trajectory piece of 3 MB: large strings stream through
        var first = Path.Combine(_dir, "full59k-00000.parquet");
        var second = Path.Combine(_dir, "full59k-00001.parquet");
        // Two files; the first has two row groups. source_type repeats, so Parquet.Net dictionary-encodes it.
        await WriteGroupsAsync(first, ArrowSchemaWithNullCot(),
            [Pool("Q one", "qfq/openaimath", "step a", "step b"), Pool("Q two", "AI-MO/NuminaMath-CoT/aops_forum", big), Pool("Q three", "qfq/openaimath")],
            [Pool("Q four", "AI-MO/NuminaMath-CoT/aops_forum", "only", " piece "), Pool("Q five", "qfq/openaimath", "x")]);
        await WriteGroupsAsync(second, ArrowSchemaWithNullCot(), [Pool("Q six", "simplescaling/s1K_1983_2024", "six")]);

        await using (var check = await ParquetReader.CreateAsync(first))
        {
            Assert.Equal(2, check.RowGroupCount);
            var sourceField = check.Schema.GetDataFields().Single(f => f.Name == "source_type");
            var encodings = check.OpenRowGroupReader(0).GetMetadata(sourceField)!.MetaData!.Encodings;
            Assert.True(encodings.Any(e => e is Parquet.Meta.Encoding.RLE_DICTIONARY or Parquet.Meta.Encoding.PLAIN_DICTIONARY), string.Join(", ", encodings));
        }

        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [Full59kMapping(first), Full59kMapping(second)] });
        const string output = IngestStage.CandidatesOutput;
        Assert.Equal(["Q one", "Q two", "Q three", "Q four", "Q five", "Q six"], ctx.Column(output, "question"));
        // s1 data/tokenization.py process_cot_example: "\n".join(thinking_trajectories); the format stage strips it later.
        Assert.Equal(["step a\nstep b", big, "", "only\n piece ", "x", "six"], ctx.Column(output, "trace"));
        Assert.Equal(["qfq/openaimath", "AI-MO/NuminaMath-CoT/aops_forum", "qfq/openaimath", "AI-MO/NuminaMath-CoT/aops_forum", "qfq/openaimath", "simplescaling/s1K_1983_2024"],
            ctx.Column(output, "source"));
        // Unmapped columns go to metadata; the null-typed cot does not (it has no values), the source's metadata JSON text does.
        var metadata = System.Text.Json.Nodes.JsonNode.Parse(ctx.Column(output, "metadata")[0]!)!.AsObject();
        Assert.Equal(["cot_type", "metadata"], metadata.Select(kv => kv.Key));
        Assert.Equal(("math", "{\"level\": \"qfq/openaimath-5\"}"), ((string)metadata["cot_type"]!, (string)metadata["metadata"]!));
        Assert.Equal(3, ctx.Metrics["source.qfq/openaimath.kept"]);
        Assert.Equal(2, ctx.Metrics["source.AI-MO/NuminaMath-CoT/aops_forum.kept"]);
        Assert.Equal(1, ctx.Metrics["source.simplescaling/s1K_1983_2024.kept"]);
        Assert.False(ctx.Metrics.ContainsKey("source.full59k.kept"));
        // Rows are numbered across row groups of a file, from 1 again in the next file.
        Assert.Equal(["qfq/openaimath row 1", "AI-MO/NuminaMath-CoT/aops_forum row 2", "qfq/openaimath row 3", "AI-MO/NuminaMath-CoT/aops_forum row 4", "qfq/openaimath row 5", "simplescaling/s1K_1983_2024 row 1"],
            ctx.DecisionRows.Select(d => d.Detail!.Split(" (")[0]));
    }

    [Fact]
    public async Task Mapping_a_null_typed_column_is_an_error_naming_stage_file_column_and_target()
    {
        var path = Path.Combine(_dir, "pool.parquet");
        await WriteGroupsAsync(path, ArrowSchemaWithNullCot(), [Pool("Q one", "s")]);
        var mapping = Full59kMapping(path);
        mapping.Trace = "cot";
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => Harness.IngestAsync(new IngestConfig { Sources = [mapping] }, name: "ingest_pool"));
        Assert.Equal($"stage 'ingest_pool': {path}: column 'cot' has the null type (no value in any row) but is mapped to 'trace'; map a column with values or set \"trace\": \"\"", e.Message);
    }

    [Fact]
    public async Task S1k11_shaped_messages_fill_question_trace_and_attempt_where_their_columns_are_not_mapped()
    {
        var path = Path.Combine(_dir, "s1k11.parquet");
        string s1Assistant = "<|im_start|>think\nLet me see.\nIt is 4.\n<|im_start|>answer\nAnswer: 4";
        await WriteGroupsAsync(path, null, new List<S1k11Row>
        {
            new() { Question = "What is 2+2?", SourceType = "a", DeepseekThinkingTrajectory = "deep trace", DeepseekAttempt = "deep 4",
                    Messages = [new() { Role = "user", Content = "What is 2+2? (chat)" }, new() { Role = "assistant", Content = s1Assistant }] },
            new() { Question = null, SourceType = "b",
                    Messages = [new() { Role = "system", Content = "sys" }, new() { Role = "user", Content = "Name a prime." }, new() { Role = "assistant", Content = "<think>\n2 is prime.\n</think>\n\n2" }] },
            new() { Question = null, SourceType = "b", Messages = [new() { Role = "user", Content = "Plain?" }, new() { Role = "assistant", Content = "Plain answer." }] },
        });

        // Trace and attempt from messages only: the s1 delimiters split the first row, DeepSeek's the second.
        var fromChat = await Harness.IngestAsync(new IngestConfig
        {
            Sources = [new IngestSource { Path = path, Question = "question", Trace = "", Attempt = "", Messages = "messages", SourceColumn = "source_type" }],
        });
        const string output = IngestStage.CandidatesOutput;
        Assert.Equal(["What is 2+2?", "Name a prime.", "Plain?"], fromChat.Column(output, "question"));   // the question column wins where it has a value
        Assert.Equal(["Let me see.\nIt is 4.", "2 is prime.", null], fromChat.Column(output, "trace"));
        Assert.Equal(["4", "2", "Plain answer."], fromChat.Column(output, "attempt"));
        Assert.All(fromChat.Column(output, "metadata"), m => Assert.DoesNotContain("\"messages\"", m));

        // Named columns win over messages.
        var fromColumns = await Harness.IngestAsync(new IngestConfig
        {
            Sources = [new IngestSource { Path = path, Trace = "deepseek_thinking_trajectory", Attempt = "deepseek_attempt", Messages = "messages" }],
        });
        Assert.Equal(["deep trace", "2 is prime.", null], fromColumns.Column(output, "trace"));
        Assert.Equal(["deep 4", "2", "Plain answer."], fromColumns.Column(output, "attempt"));

        // Unmapped, the chat stays whole in metadata as JSON.
        var unmapped = await Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Trace = "", Attempt = "" }], OnBadRow = BadRowPolicy.Quarantine });
        var chat = System.Text.Json.Nodes.JsonNode.Parse(unmapped.Column(output, "metadata")[0]!)!["messages"]!.AsArray();
        Assert.Equal(["content:What is 2+2? (chat) role:user", "content:" + s1Assistant + " role:assistant"],
            chat.Select(t => $"content:{t!["content"]} role:{t["role"]}"));
        Assert.Equal(1, unmapped.Metrics["kept"]);   // rows 2 and 3 have a null question and no chat mapping
        Assert.Equal(["required field is null", "required field is null"], unmapped.Column(IngestStage.QuarantineOutput, "reason"));
    }

    public sealed class ListOfInts { [JsonPropertyName("question")] public string? Question { get; set; } [JsonPropertyName("scores")] public List<int>? Scores { get; set; } }
    public sealed class Inner { [JsonPropertyName("a")] public string? A { get; set; } [JsonPropertyName("b")] public long B { get; set; } }
    public sealed class StructColumn { [JsonPropertyName("question")] public string? Question { get; set; } [JsonPropertyName("info")] public Inner? Info { get; set; } }
    public sealed class ListOfLists { [JsonPropertyName("question")] public string? Question { get; set; } [JsonPropertyName("steps")] public List<List<string>>? Steps { get; set; } }
    public sealed class MapColumn { [JsonPropertyName("question")] public string? Question { get; set; } [JsonPropertyName("tags")] public Dictionary<string, string>? Tags { get; set; } }
    public sealed class OtherStruct { [JsonPropertyName("text")] public string? Text { get; set; } [JsonPropertyName("role")] public string? Role { get; set; } }
    public sealed class ListOfOtherStruct { [JsonPropertyName("question")] public string? Question { get; set; } [JsonPropertyName("messages")] public List<OtherStruct>? Messages { get; set; } }

    [Fact]
    public async Task Unknown_nested_shapes_fail_up_front_with_one_line_naming_stage_file_column_and_type()
    {
        async Task<string> Error<T>(string name, T row)
        {
            var path = Path.Combine(_dir, name + ".parquet");
            await WriteGroupsAsync<T>(path, null, [row]);
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path }] }));
            Assert.DoesNotContain('\n', e.Message);
            return e.Message.Replace(path, "FILE");
        }
        const string tail = ", which ingest cannot read (nested shapes read: list<string>, list<struct<content: string, role: string>>)";
        Assert.Equal("stage 'ingest': FILE: column 'scores' has type list<int32>" + tail, await Error("ints", new ListOfInts { Question = "q", Scores = [1] }));
        Assert.Equal("stage 'ingest': FILE: column 'info' has type struct<a: string, b: int64>" + tail, await Error("struct", new StructColumn { Question = "q", Info = new() { A = "x" } }));
        Assert.Equal("stage 'ingest': FILE: column 'steps' has type list<list<string>>" + tail, await Error("lists", new ListOfLists { Question = "q", Steps = [["a"]] }));
        Assert.Equal("stage 'ingest': FILE: column 'tags' has type map<string, string>" + tail, await Error("map", new MapColumn { Question = "q", Tags = new() { ["k"] = "v" } }));
        Assert.Equal("stage 'ingest': FILE: column 'messages' has type list<struct<text: string, role: string>>" + tail,
            await Error("otherstruct", new ListOfOtherStruct { Question = "q", Messages = [new() { Text = "t", Role = "user" }] }));
    }

    [Fact]
    public async Task Jsonl_trace_arrays_are_joined_and_messages_read_while_other_arrays_are_clear_bad_rows()
    {
        var path = Path.Combine(_dir, "pool.jsonl");
        File.WriteAllLines(path,
        [
            "{\"question\": \"Q1\", \"thinking_trajectories\": [\"a\", \"b\"], \"attempt\": \"A1\", \"source_type\": \"s1\"}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"Q2\"}, {\"role\": \"assistant\", \"content\": \"<think>t2</think>A2\"}], \"source_type\": \"s2\"}",
            "{\"question\": \"Q3\", \"thinking_trajectories\": [\"a\", 3], \"source_type\": \"s1\"}",
            "{\"question\": \"Q4\", \"thinking_trajectories\": [\"a\"], \"source_type\": null}",
        ]);
        var source = new IngestSource { Path = path, Trace = "thinking_trajectories", Messages = "messages", SourceColumn = "source_type" };
        var ctx = await Harness.IngestAsync(new IngestConfig { Sources = [source], OnBadRow = BadRowPolicy.Quarantine });
        const string output = IngestStage.CandidatesOutput;
        Assert.Equal(["Q1", "Q2"], ctx.Column(output, "question"));
        Assert.Equal(["a\nb", "t2"], ctx.Column(output, "trace"));
        Assert.Equal(["A1", "A2"], ctx.Column(output, "attempt"));
        Assert.Equal(["s1", "s2"], ctx.Column(output, "source"));
        Assert.Equal(["thinking_trajectories: wrong type: expected string or list of strings, got array with a non-string element",
                      "source_type: source column is null or empty (source_column)"],
            ctx.Column(IngestStage.QuarantineOutput, "column").Zip(ctx.Column(IngestStage.QuarantineOutput, "reason"), (c, r) => $"{c}: {r}"));

        var e = await Assert.ThrowsAsync<IngestException>(() => Harness.IngestAsync(new IngestConfig { Sources = [source] }));
        Assert.Equal($"stage 'ingest': {path}, line 3, column 'thinking_trajectories': wrong type: expected string or list of strings, got array with a non-string element", e.Message);
    }
}
