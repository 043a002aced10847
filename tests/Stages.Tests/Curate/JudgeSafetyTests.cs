using System.Net;
using System.Net.Sockets;
using IwSft.Runtime;
using IwSft.Stages.Curate.Judge;
using IwSft.Stages.Ingest;

namespace IwSft.Stages.Tests.Curate;

/// <summary>Issue 14 item 11: a judge memo line of the wrong type, and a connection the server closes, are errors that say where.</summary>
public sealed class JudgeSafetyTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("iwsft-judge-safety-").FullName;
    public void Dispose() { try { Directory.Delete(_dir, recursive: true); } catch (IOException) { } }

    static JudgeConfig Config(string baseUrl) => new()
    {
        BaseUrl = baseUrl, Model = "judge-model", Kind = JudgeKind.Domain, PromptTemplate = "Classify: {question}", OutputColumn = "domain",
        MaxConcurrency = 1,
        Resilience = new JudgeResilienceConfig { MaxRetryAttempts = 1, BaseDelaySeconds = 0.01, MaxDelaySeconds = 0.02, AttemptTimeoutSeconds = 30, BreakerMinimumThroughput = 100_000 },
    };

    Pipeline Build(string baseUrl)
    {
        var pool = Path.Combine(_dir, "pool.jsonl");
        if (!File.Exists(pool)) File.WriteAllLines(pool, ["{\"question\": \"Q one\"}", "{\"question\": \"Q two\"}"]);
        var p = new Pipeline("judged");
        var ingest = p.Add(new IngestStage("ingest", new IngestConfig { Sources = [new IngestSource { Path = pool, Name = "pool" }] }));
        p.Add(new JudgeStage("judge", Config(baseUrl))).From("records", ingest[IngestStage.CandidatesOutput]);
        return p;
    }

    [Fact]
    public async Task ACachedAnswerOfTheWrongTypeNamesTheMemoFileAndTheRecord()
    {
        await using var server = new JudgeTestServer(_ => JudgeReply.Content("11"));
        var runner = new PipelineRunner(new ArtifactStore(Path.Combine(_dir, "store")));
        await runner.RunAsync(Build(server.BaseUrl));
        var memo = Directory.GetFiles(Path.Combine(_dir, "store", "memo", "judge")).Single();
        // Each line holds the answer as a JSON string {"v":"11"}; store it as a number instead, whatever the line's layout.
        int changed = 0;
        var lines = File.ReadAllLines(memo).Select(line =>
        {
            var node = System.Text.Json.Nodes.JsonNode.Parse(line)!;
            var text = Damage(node, ref changed);
            return text ?? line;
        }).ToList();
        Assert.Equal(2, changed);
        File.WriteAllLines(memo, lines);

        var e = await Assert.ThrowsAsync<StageFailedException>(() => new PipelineRunner(runner.Store, new RunOptions { Force = ["judge"] }).RunAsync(Build(server.BaseUrl)));
        Assert.Equal("judge", e.Stage);
        Assert.Contains($"the record memo {memo} holds an unreadable value for record '", e.Message);
        Assert.Matches("for record '[0-9a-f]{16}' \\(key [0-9a-f]{12}\\): the cached Domain answer should be \\{\"v\": a string or null\\} but is \\{\"v\":11\\}", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    static string? Damage(System.Text.Json.Nodes.JsonNode node, ref int changed)
    {
        var items = node switch
        {
            System.Text.Json.Nodes.JsonArray a => a.Select((x, i) => (Index: (object)i, Value: x)).ToList(),
            System.Text.Json.Nodes.JsonObject o => o.Select(kv => (Index: (object)kv.Key, Value: kv.Value)).ToList(),
            _ => [],
        };
        foreach (var (index, value) in items)
            if (value is System.Text.Json.Nodes.JsonValue v && v.GetValueKind() == System.Text.Json.JsonValueKind.String && v.GetValue<string>() == "{\"v\":\"11\"}")
            {
                if (index is int i) node[i] = "{\"v\":11}"; else node[(string)index] = "{\"v\":11}";
                changed++;
                return node.ToJsonString();
            }
        return null;
    }

    [Fact]
    public async Task AConnectionClosedByTheServerNamesTheUrlAndTheCause()
    {
        // A server that reads the request and hangs up without answering.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var serve = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                using var client = await listener.AcceptTcpClientAsync(stop.Token);
                var buffer = new byte[8192];
                var stream = client.GetStream();
                int n = await stream.ReadAsync(buffer, stop.Token);          // the request (headers and the small body)
                if (n > 0) await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"cho"u8.ToArray(), stop.Token); // then hang up mid-body
                client.Client.Shutdown(SocketShutdown.Both);
            }
        });
        try
        {
            var e = await Assert.ThrowsAsync<StageFailedException>(() =>
                new PipelineRunner(new ArtifactStore(Path.Combine(_dir, "store"))).RunAsync(Build($"http://127.0.0.1:{port}")));
            Assert.Equal("judge", e.Stage);
            Assert.Contains($"POST http://127.0.0.1:{port}/v1/chat/completions: ", e.Message);
            Assert.Contains("the server closed the connection", e.Message);
            Assert.Contains("failed after 2 attempts", e.Message);
        }
        finally
        {
            stop.Cancel();
            listener.Stop();
            try { await serve; } catch (Exception) { }
        }
    }
}
