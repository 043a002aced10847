using System.Text.Json;
using System.Text.Json.Nodes;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Curate.Export;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests.IngestDecontam;
using Parquet;
using Parquet.Schema;

namespace IwSft.Stages.Tests.Curate;

/// <summary>
/// The s1K-1.1 export and the iw_sft log-prob export: the written Parquet files checked against
/// <c>schemas/export/*.schema.json</c> (names, order, types as a reader of the file sees them), their values, and a
/// round trip of the s1K-1.1 file through ingest's chat mapping.
/// </summary>
public sealed class ExportTests
{
    const string SystemAndUser =
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\n";

    static RecordBatch Curated()
    {
        var schema = TableSchema.Get("candidates").ToArrow();
        var bb = new BatchBuilder(schema);
        var meta = new JsonObject
        {
            ["cot_type"] = "math", ["metadata"] = "{\"level\": 5}", ["gemini_thinking_trajectory"] = "gemini's trace", ["gemini_attempt"] = "gemini's 4",
        }.ToJsonString();
        bb.Set("id", "r1").Set("question", "What is 2+2?").Set("solution", "4").Set("trace", "  First 2.\nThen 4.\n").Set("attempt", "4")
          .Set("source", "qfq/openaimath").Set("metadata", meta).EndRow();
        bb.Set("id", "r2").Set("question", "Name a prime.").Set("solution", null).Set("trace", "2 is prime").Set("attempt", "So the Answer: 2 ")
          .Set("source", "other").Set("metadata", null).EndRow();
        return bb.Build();
    }


    /// <summary>(name, type, nullable) of each column of a schemas/export file, in order.</summary>
    static List<(string, string, bool)> SchemaFile(string name)
    {
        var doc = JsonNode.Parse(File.ReadAllText(Path.Combine(TestRepository.Root, "schemas", "export", name + ".schema.json")))!;
        Assert.Equal(name, (string)doc["name"]!);
        return doc["columns"]!.AsArray().Select(c => ((string)c!["name"]!, (string)c["type"]!, (bool)c["nullable"]!)).ToList();
    }

    /// <summary>(name, type, nullable) of each top-level column of a Parquet file, as a reader of the file sees it.</summary>
    static async Task<List<(string, string, bool)>> FileSchema(string path)
    {
        var schema = await ParquetReader.ReadSchemaAsync(path);
        return schema.Fields.Select(f => (f.Name, ParquetSourceReader.Describe(f), f.IsNullable)).ToList();
    }

    [Fact]
    public async Task S1k_export_has_s1K_1_1_columns_messages_and_the_s1_text_and_ingests_back()
    {
        var stage = new S1kExportStage("export");
        var ctx = new StageTestContext(stage).Table(S1kExportStage.RecordsInput, Curated());
        await stage.RunAsync(ctx);
        var path = Path.Combine(ctx.OutputDirectory(S1kExportStage.DatasetOutput), "train.parquet");

        Assert.Equal(SchemaFile("s1k_export"), await FileSchema(path));
        // The published column order of s1K-1.1, then text.
        Assert.Equal(["solution", "question", "cot_type", "source_type", "metadata", "gemini_thinking_trajectory", "gemini_attempt",
                      "deepseek_thinking_trajectory", "deepseek_attempt", "messages", "text"], (await FileSchema(path)).Select(c => c.Item1));

        var rows = (await Parquet.Serialization.ParquetSerializer.DeserializeAsync<S1kExportRow>(path)).Data;
        var first = rows[0];
        Assert.Equal(("4", "What is 2+2?", "math", "qfq/openaimath", "{\"level\": 5}"), (first.Solution, first.Question, first.CotType, first.SourceType, first.Metadata));
        Assert.Equal(("gemini's trace", "gemini's 4", "  First 2.\nThen 4.\n", "4"),
            (first.GeminiThinkingTrajectory, first.GeminiAttempt, first.DeepseekThinkingTrajectory, first.DeepseekAttempt));
        const string assistant1 = "<|im_start|>think\nFirst 2.\nThen 4.\n<|im_start|>answer\nAnswer: 4";
        Assert.Equal([("user", "What is 2+2?"), ("assistant", assistant1)], first.Messages!.Select(m => (m.Role, m.Content)));
        Assert.Equal(SystemAndUser + "What is 2+2?<|im_end|>\n<|im_start|>assistant\n" + assistant1 + "<|im_end|>\n", first.Text);
        // s1's answer rule: an attempt that already says "Answer:" gets no prefix, and is stripped.
        Assert.EndsWith("<|im_start|>answer\nSo the Answer: 2<|im_end|>\n", rows[1].Text);
        Assert.Equal((null, null, "other", null), (rows[1].CotType, rows[1].Metadata, rows[1].SourceType, rows[1].GeminiAttempt));

        // What a consumer of s1K-1.1 reads from messages is what was curated (trace stripped, as s1 renders it).
        var back = await Harness.IngestAsync(new IngestConfig
        {
            Sources = [new IngestSource { Path = path, Question = "question", Trace = "", Attempt = "", Messages = "messages", SourceColumn = "source_type", Solution = "solution" }],
        });
        Assert.Equal(["What is 2+2?", "Name a prime."], back.Column(IngestStage.CandidatesOutput, "question"));
        Assert.Equal(["First 2.\nThen 4.", "2 is prime"], back.Column(IngestStage.CandidatesOutput, "trace"));
        Assert.Equal(["4", "So the Answer: 2"], back.Column(IngestStage.CandidatesOutput, "attempt"));
        Assert.Equal(["qfq/openaimath", "other"], back.Column(IngestStage.CandidatesOutput, "source"));
    }

    [Fact]
    public async Task S1k_export_names_a_record_without_trace_and_a_bad_trace_model()
    {
        var bb = new BatchBuilder(TableSchema.Get("candidates").ToArrow());
        bb.Set("id", "r9").Set("question", "q").Set("trace", null).Set("attempt", "a").EndRow();
        var stage = new S1kExportStage("export");
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => stage.RunAsync(new StageTestContext(stage).Table(S1kExportStage.RecordsInput, bb.Build())));
        Assert.Equal("stage 'export': record r9 has no trace; the s1K-1.1 layout needs trace and attempt (export after the filter)", e.Message);
        var bad = new S1kExportStage("export", new S1kExportConfig { TraceModel = "claude" });
        var e2 = await Assert.ThrowsAsync<ArgumentException>(() => bad.RunAsync(new StageTestContext(bad).Table(S1kExportStage.RecordsInput, Curated())));
        Assert.Equal("stage 'export': trace_model must be \"deepseek\" or \"gemini\", got \"claude\"", e2.Message);
    }

    [Fact]
    public async Task Iw_sft_export_aligns_reference_log_probs_with_the_trainers_shifted_labels()
    {
        // r1: 7 tokens, completion from position 4 (three completion tokens); r2: 5 tokens from position 2.
        var seqSchema = TableSchema.Get("sequences").ToArrow();
        var sb = new BatchBuilder(seqSchema);
        void Seq(string id, int[] ids, int start) =>
            sb.Set("id", id).Set("input_ids", ids).Set("completion_start", start).Set("num_tokens", ids.Length).Set("prompt_tokens", start)
              .Set("completion_tokens", ids.Length - start).Set("full_tokens", ids.Length).Set("truncated", false).Set("sampling_weight", 1f).Set("text", null).EndRow();
        Seq("r1", [10, 11, 12, 13, 14, 15, 16], 4);
        Seq("r2", [20, 21, 22, 23, 24], 2);
        var rb = new BatchBuilder(TableSchema.Get("ref_logprobs").ToArrow());
        void Ref(string id, float[] lp) =>
            rb.Set("id", id).Set("ref_logprobs", lp).Set("ref_logprob_sum", (double)lp.Sum()).Set("completion_tokens", lp.Length)
              .Set("sequence_hash", "h").Set("ref_model_hash", "m").EndRow();
        var sequences = sb.Build();
        Ref("r2", [-2.1f, -2.2f, -2.3f]);
        Ref("r1", [-1.4f, -1.5f, -1.6f]);
        var stage = new IwSftExportStage("export_iw_sft");
        var ctx = new StageTestContext(stage).Table(IwSftExportStage.RecordsInput, Curated())
            .Table(IwSftExportStage.SequencesInput, sequences).Table(IwSftExportStage.RefLogProbsInput, rb.Build());
        await stage.RunAsync(ctx);
        var path = Path.Combine(ctx.OutputDirectory(IwSftExportStage.DatasetOutput), "train.parquet");

        Assert.Equal(SchemaFile("iw_sft_export"), await FileSchema(path));
        var rows = (await Parquet.Serialization.ParquetSerializer.DeserializeAsync<IwSftExportRow>(path)).Data;
        Assert.Equal(["What is 2+2?", "Name a prime."], rows.Select(r => r.Question));   // sequence order, joined by id
        var r1 = rows[0];
        Assert.Equal([10, 11, 12, 13, 14, 15, 16], r1.InputIds!);
        Assert.Equal(r1.InputIds, r1.InputsRef);
        Assert.Equal(Enumerable.Repeat(1, 7), r1.AttentionMask!);
        Assert.Equal(r1.AttentionMask, r1.AttnMask);
        Assert.Equal([-100, -100, -100, -100, 14, 15, 16], r1.LabelsRef!);
        // T-1 values; j = 3 predicts token 4 (the first completion token), the prompt positions before are 0.
        Assert.Equal([0f, 0f, 0f, -1.4f, -1.5f, -1.6f], r1.RefLogProbs!);
        Assert.Equal([0f, -2.1f, -2.2f, -2.3f], rows[1].RefLogProbs!);
        // Every position that carries loss (labels_ref[j + 1] != -100) has its reference log-prob.
        for (int j = 0; j < r1.RefLogProbs!.Count; j++)
            Assert.Equal(r1.LabelsRef![j + 1] != IwSftExportStage.IgnoreIndex, r1.RefLogProbs[j] != 0f);
        Assert.StartsWith(SystemAndUser + "What is 2+2?", r1.Text);

        // A count that does not match the completion is an error naming the sequence.
        var rb2 = new BatchBuilder(TableSchema.Get("ref_logprobs").ToArrow());
        rb2.Set("id", "r1").Set("ref_logprobs", new[] { -1f }).Set("ref_logprob_sum", -1.0).Set("completion_tokens", 1).Set("sequence_hash", "h").Set("ref_model_hash", "m").EndRow();
        rb2.Set("id", "r2").Set("ref_logprobs", new[] { -1f, -1f, -1f }).Set("ref_logprob_sum", -3.0).Set("completion_tokens", 3).Set("sequence_hash", "h").Set("ref_model_hash", "m").EndRow();
        var stage2 = new IwSftExportStage("export_iw_sft");
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => stage2.RunAsync(new StageTestContext(stage2).Table(IwSftExportStage.RecordsInput, Curated())
            .Table(IwSftExportStage.SequencesInput, sequences).Table(IwSftExportStage.RefLogProbsInput, rb2.Build())));
        Assert.Equal("stage 'export_iw_sft': sequence r1: 1 reference log-probs for 3 completion tokens", e.Message);
    }
}
