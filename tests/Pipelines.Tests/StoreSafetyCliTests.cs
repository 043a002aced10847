using System.Text.Json.Nodes;
using IwSft.Stages.Ingest;

namespace IwSft.Pipelines.Tests;

/// <summary>
/// Issue 14 through the real <c>iwsft</c> (a child process per command): gc beside runs, unreadable and hostile
/// lock files, --verify, <c>why</c> after de-duplication, and one-line errors for bad sources.
/// </summary>
public sealed class StoreSafetyCliTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-store-cli-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    (int Code, string Stdout, string Stderr) Iwsft(params string[] args) => CliProcess.Run(_dir, null, args);

    string Store => Path.Combine(_dir, ".iwsft");
    string Lock(string pipeline) => Path.Combine(Store, "pipelines", pipeline, "lock.json");

    SortedSet<string> ObjectFiles() =>
        new(Directory.EnumerateFileSystemEntries(Path.Combine(Store, "objects"), "*", SearchOption.AllDirectories), StringComparer.Ordinal);

    static void AssertOneLineError(string stderr, string contains)
    {
        Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", stderr);
        Assert.Contains(contains, stderr);
        Assert.DoesNotContain(" at IwSft", stderr);
    }

    [Fact]
    public async Task GcLoopingBesideRunsNeverDeletesWhatTheyProduce()
    {
        // Three runs, each with another seed (so each supersedes the last), while gc --grace 0 is called in a loop.
        var runs = Task.Run(() => new[] { 11, 12, 13 }.Select(seed => Iwsft("run", "example", "--quick", "--set", $"generate.seed={seed}")).ToList());
        int attempts = 0, refused = 0;
        while (!runs.IsCompleted && attempts < 200)
        {
            var gc = Iwsft("gc", "--grace", "0");
            attempts++;
            if (gc.Code == 0) continue;
            AssertOneLineError(gc.Stderr, "is in use by another iwsft process");
            refused++;
        }
        foreach (var r in await runs) Assert.True(r.Code == 0, r.Stderr);
        Assert.True(attempts > 0);

        // The last run's outputs are all there and trusted; a final gc leaves them alone.
        Assert.Equal(0, Iwsft("gc", "--grace", "0").Code);
        var status = Iwsft("status", "example", "--quick", "--set", "generate.seed=13");
        Assert.Equal(0, status.Code);
        Assert.Equal(6, status.Stdout.Split('\n').Count(l => l.EndsWith("up to date")));
        foreach (var stage in new[] { "generate", "square", "drop_multiples", "sum_by_group", "histogram", "report" })
            Assert.True(Iwsft("show", "example", stage, "--quick", "--limit", "1").Code == 0, stage);
    }

    [Theory]
    [InlineData("{ \"pipeline\": ", "not valid JSON")]
    [InlineData("{\"pipeline\":\"example\",\"stages\":{\"generate\":null}}", "stage 'generate' entry is null")]
    public void AnUnreadableLockMakesStatusAndGcFailNamingTheFileAndGcDeletesNothing(string content, string problem)
    {
        Assert.Equal(0, Iwsft("run", "example", "--quick").Code);
        Assert.Equal(0, Iwsft("run", "example", "--quick", "--set", "generate.seed=2").Code); // leaves unreferenced objects
        File.WriteAllText(Lock("example"), content);
        var before = ObjectFiles();

        var gc = Iwsft("gc", "--grace", "0");
        Assert.Equal(1, gc.Code);
        AssertOneLineError(gc.Stderr, $"store file {Lock("example")} is unreadable: ");
        Assert.Contains(problem, gc.Stderr);
        Assert.Contains("gc deleted nothing", gc.Stderr);
        Assert.Equal(before, ObjectFiles());

        var status = Iwsft("status", "example", "--quick");
        Assert.Equal(1, status.Code);
        AssertOneLineError(status.Stderr, Lock("example"));
        Assert.DoesNotContain("up to date", status.Stdout);
    }

    [Fact]
    public void AHashFromLockJsonNeverNamesAPathOutsideTheStore()
    {
        Assert.Equal(0, Iwsft("run", "example", "--quick").Code);
        var outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "victim.parquet"), "precious");
        File.WriteAllText(Path.Combine(outside, "victim.meta.json"), "{}");
        var evil = Path.GetRelativePath(Store, Path.Combine(outside, "victim"));   // "../outside/victim"
        var doc = JsonNode.Parse(File.ReadAllText(Lock("example")))!;
        doc["stages"]!["generate"]!["outputs"]!["numbers"]!["hash"] = evil;
        File.WriteAllText(Lock("example"), doc.ToJsonString());

        var show = Iwsft("show", "example", "generate", "--quick");
        Assert.Equal(1, show.Code);
        AssertOneLineError(show.Stderr, $"stage 'generate' output 'numbers' hash \"{evil}\" is not a hash (64 lowercase hex characters)");
        Assert.Equal(1, Iwsft("gc", "--grace", "0").Code);
        Assert.Equal(1, Iwsft("why", "example", "n000000009", "--quick").Code);
        Assert.Equal("precious", File.ReadAllText(Path.Combine(outside, "victim.parquet")));
        Assert.True(File.Exists(Path.Combine(outside, "victim.meta.json")));
        Assert.False(Directory.Exists(Path.Combine(Store, "quarantine")));
    }

    [Fact]
    public void StatusVerifyFindsAnEditThatKeptSizeAndMtimeAndRunVerifyRepairsIt()
    {
        Assert.Equal(0, Iwsft("run", "example", "--quick").Code);
        var doc = JsonNode.Parse(File.ReadAllText(Lock("example")))!;
        var hash = doc["stages"]!["sum_by_group"]!["outputs"]!["groups"]!["hash"]!.GetValue<string>();
        var obj = Path.Combine(Store, "objects", hash[..2], hash + ".parquet");
        var mtime = File.GetLastWriteTimeUtc(obj);
        var bytes = File.ReadAllBytes(obj);
        bytes[bytes.Length / 2] ^= 0x40;
        File.WriteAllBytes(obj, bytes);
        File.SetLastWriteTimeUtc(obj, mtime);

        Assert.Contains("sum_by_group             up to date", Iwsft("status", "example", "--quick").Stdout); // the documented fast path
        var verify = Iwsft("status", "example", "--quick", "--verify");
        Assert.Equal(0, verify.Code);
        Assert.Contains("sum_by_group             stale: artifact groups corrupt", verify.Stdout);
        var run = Iwsft("run", "example", "--quick", "--verify");
        Assert.True(run.Code == 0, run.Stderr);
        Assert.Contains("sum_by_group: ran", run.Stdout);
        Assert.Equal(hash, JsonNode.Parse(File.ReadAllText(Lock("example")))!["stages"]!["sum_by_group"]!["outputs"]!["groups"]!["hash"]!.GetValue<string>());
        Assert.DoesNotContain("stale", Iwsft("status", "example", "--quick", "--verify").Stdout);
    }

    string IngestTrain(string sourcesJson, params string[] more) =>
        string.Join('\u0001', new[] { "run", "demo", "--quick", "--until", "ingest_train", "--set", $"ingest_train.sources={sourcesJson}" }.Concat(more));

    (int Code, string Stdout, string Stderr) RunIngestTrain(string sourcesJson, params string[] more) =>
        Iwsft(IngestTrain(sourcesJson, more).Split('\u0001'));

    [Fact]
    public void WhyTellsTheKeptFirstOccurrenceFromItsDroppedDuplicate()
    {
        var pool = Path.Combine(_dir, "pool.jsonl");
        File.WriteAllLines(pool, ["{\"question\": \"What is 6 times 7?\"}", "{\"question\": \"What is 2 plus 2?\"}", "{\"question\": \"What is 6 times 7?\"}"]);
        var run = RunIngestTrain($"[{{\"path\": \"{pool}\", \"name\": \"pool\"}}]");
        Assert.True(run.Code == 0, run.Stderr);
        var id = RecordMapper.RecordId("What is 6 times 7?");

        var why = Iwsft("why", "demo", id, "--quick");
        Assert.True(why.Code == 0, why.Stderr);
        var lines = why.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("ingest_train ")).ToList();
        Assert.Equal(2, lines.Count);
        Assert.Contains(lines, l => l.Contains("kept    ingested — pool line 1 ("));
        Assert.Contains(lines, l => l.Contains("DROPPED (another occurrence) duplicate — exact duplicate question: pool line 3 (") && l.Contains("first seen at pool line 1 ("));
        Assert.Contains($"'{id}' was kept by every filtering stage (other occurrences of the same id were dropped: 1 at 'ingest_train')", why.Stdout);
        Assert.DoesNotContain("was dropped at stage", why.Stdout);

        var missing = Iwsft("why", "demo", "0000000000000000", "--quick");
        Assert.Equal(1, missing.Code);
        AssertOneLineError(missing.Stderr, "record '0000000000000000' is in no decisions table of pipeline 'demo'");
        Assert.DoesNotContain("0000000000000000", missing.Stdout);
    }

    [Theory]
    [InlineData("null", "'sources' is null")]
    [InlineData("[null]", "sources[0] is null")]
    [InlineData("[{}]", "sources[0] has no 'path'")]
    public void BadSourceListsAreOneLineErrorsNamingTheKey(string value, string problem)
    {
        var r = RunIngestTrain(value);
        Assert.Equal(1, r.Code);
        AssertOneLineError(r.Stderr, $"error: --set ingest_train.sources={value}: value '{value}' is not valid for stage 'ingest_train' key 'sources': stage 'ingest_train': {problem}");
    }

    [Fact]
    public void AnEmptySourceWarnsAndFailOnEmptyMakesItAnError()
    {
        var empty = Path.Combine(_dir, "empty.jsonl");
        File.WriteAllText(empty, "");
        var sources = $"[{{\"path\": \"{empty}\", \"name\": \"nothing\"}}]";
        var warned = RunIngestTrain(sources);
        Assert.True(warned.Code == 0, warned.Stderr);
        Assert.Contains($"warning: source 'nothing' ({empty}) has no records", warned.Stdout);

        var failed = RunIngestTrain(sources, "--set", "ingest_train.fail_on_empty=true");
        Assert.Equal(1, failed.Code);
        Assert.StartsWith($"error: stage 'ingest_train' failed: stage 'ingest_train': source 'nothing' ({empty}) has no records (fail_on_empty is set)", failed.Stderr);
    }
}
