using System.Text;
using Apache.Arrow;
using IwSft.Runtime;
using IwSft.Runtime.Arrow;
using IwSft.Stages.Curate.Select;
using IwSft.Stages.Ingest;
using IwSft.Stages.Tests.Curate;

namespace IwSft.Stages.Tests;

/// <summary>
/// Stages that build their own batches cut them at <see cref="ExecutionOptions.BatchBytes"/> as well as BatchRows: a batch
/// closes at the row that takes it to the budget, so every batch but the last is at least the budget and less than the
/// budget plus its last row.
/// </summary>
public sealed class BatchBytesStageTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-bytes-").FullName;
    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static void AssertCutAtBudget(IReadOnlyList<RecordBatch> batches, long budget)
    {
        for (int i = 0; i < batches.Count; i++)
        {
            var sizes = RowBytes.Of(batches[i]);
            long total = sizes.Sum();
            Assert.True(total - sizes[^1] < budget, $"batch {i}: {total - sizes[^1]} bytes before its last row, budget {budget}");
            if (i < batches.Count - 1) Assert.True(total >= budget, $"batch {i} of {batches.Count}: {total} bytes, cut before the budget {budget}");
        }
    }

    [Fact]
    public async Task IngestCutsCandidateBatchesAtTheByteBudget()
    {
        // 40 records with traces of 1,000 to 4,900 bytes; a budget of 10,000 bytes gives batches of a few rows.
        var path = Path.Combine(_dir, "pool.jsonl");
        var lines = Enumerable.Range(0, 40).Select(i =>
            $"{{\"question\": \"question {i}\", \"trace\": \"{new string((char)('a' + i % 26), 1000 + 100 * i)}\", \"attempt\": \"{i}\"}}");
        File.WriteAllText(path, string.Join("\n", lines) + "\n", Encoding.UTF8);
        var ctx = await IngestDecontam.Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Name = "pool" }] },
            new ExecutionOptions { BatchRows = 1000, BatchBytes = 10_000 });
        var batches = ctx.Output(IngestStage.CandidatesOutput);
        Assert.Equal(40, batches.Sum(b => b.Length));
        Assert.True(batches.Count > 5, $"{batches.Count} batches");
        AssertCutAtBudget(batches, 10_000);
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"question {i}"), ctx.Column(IngestStage.CandidatesOutput, "question"));

        // The row bound still applies when it comes first.
        var byRows = await IngestDecontam.Harness.IngestAsync(new IngestConfig { Sources = [new IngestSource { Path = path, Name = "pool" }] },
            new ExecutionOptions { BatchRows = 7, BatchBytes = 1L << 30 });
        Assert.Equal([7, 7, 7, 7, 7, 5], byRows.Output(IngestStage.CandidatesOutput).Select(b => b.Length));
    }

    [Fact]
    public async Task SelectCutsOutputBatchesAtTheByteBudget()
    {
        // One input batch of 30 records, traces of 500 bytes: every record is selected; batches close at 2,000 bytes.
        var recs = Enumerable.Range(0, 30).Select(i => new CurateRows.Rec($"r{i:D2}", $"q{i}")
            { Source = "numina", Domain = $"{i % 3}", TraceTokens = i, Trace = new string('t', 500) }).ToList();
        var stage = new S1kSelectStage("select", new SelectConfig { TargetSize = 30, UniformUntil = 30 });
        var ctx = new StageTestContext(stage) { Execution = new ExecutionOptions { BatchRows = 1000, BatchBytes = 2_000 } }
            .Table("records", CurateRows.Batch(recs, "attempt_correct"));
        await stage.RunAsync(ctx);
        var batches = ctx.Output("records");
        Assert.Equal(recs.Select(r => r.Id), ctx.OutputIds("records"));
        AssertCutAtBudget(batches, 2_000);
        // Each row is 500 bytes of trace plus under 100 of id, question, attempt, source, domain and trace_tokens:
        // 3 rows stay under 2,000 bytes, the 4th reaches it.
        Assert.All(RowBytes.Of(batches[0]), n => Assert.InRange(n, 501, 599));
        Assert.Equal([4, 4, 4, 4, 4, 4, 4, 2], batches.Select(b => b.Length));
    }
}
