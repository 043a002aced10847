using System.Net;
using IwSft.Cli.Ui;
using IwSft.Runtime;

namespace IwSft.Pipelines.Tests.Ui;

/// <summary>The web view's safety promises: record text is escaped, only store objects are served, the store is never written.</summary>
[Collection("ui")]
public sealed class UiSafetyTests(UiFixture ui)
{
    [Fact]
    public async Task Record_text_holding_markup_is_escaped_on_every_page_that_shows_records()
    {
        var lk = ui.Store.ReadLock("ui-markup").Stages;
        var pages = new[]
        {
            "/", "/p/ui-markup", "/p/ui-markup/s/screen",                  // the pipeline's description; decisions by reason
            $"/a/{lk["candidates"].Outputs["candidates"].Hash}",          // the candidate's id, question and solution
            $"/a/{lk["screen"].Outputs["decisions"].Hash}",               // its decision: reason and detail
            $"/a/{lk["results"].Outputs["results"].Hash}",                // responses
            $"/p/ui-markup/why?id={Uri.EscapeDataString(MarkupPipeline.Payload)}",
        };
        foreach (var page in pages)
        {
            var html = await ui.PageAsync(page);
            Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("<img src=x", html, StringComparison.OrdinalIgnoreCase);
            Assert.Contains(MarkupPipeline.Escaped, html);
        }
        foreach (var page in new[] { "/p/ui-markup/s/candidates", $"/p/ui-markup/runs/{ui.MarkupSecondRun.RunId}", "/p/ui-markup/eval", "/p/ui-markup/runs" })
        {
            var html = await ui.PageAsync(page);
            Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("<img src=x", html, StringComparison.OrdinalIgnoreCase);
        }
        // The lineage of the record whose id is markup: found, dropped, the rule shown as text.
        var why = await ui.PageAsync($"/p/ui-markup/why?id={Uri.EscapeDataString(MarkupPipeline.Payload)}");
        Assert.Contains("<span class=\"dropped\">DROPPED</span>", why);
        Assert.Contains($"markup {MarkupPipeline.Escaped} — {MarkupPipeline.Escaped}", why);

        // Defence in depth: no script may run even if something slipped through.
        using var r = await ui.Http.GetAsync("/");
        Assert.Contains("default-src 'none'", r.Headers.GetValues("Content-Security-Policy").Single());
        Assert.Equal("nosniff", r.Headers.GetValues("X-Content-Type-Options").Single());
    }

    [Fact]
    public async Task Artifact_urls_take_store_hashes_only_and_never_serve_a_file_outside_the_store()
    {
        var secret = Path.Combine(ui.Root, "secret.txt"); // beside the store, where a traversal would land
        File.WriteAllText(secret, "TOP-SECRET-OUTSIDE-THE-STORE");
        var dir = ui.Store.ReadLock("demo").Stages["report"].Outputs["report"].Hash;
        var table = ui.Store.ReadLock("example").Stages["generate"].Outputs["numbers"].Hash;
        var absent = new string('0', 64);
        var requests = new[]
        {
            "/a/../../secret.txt", "/a/%2e%2e/%2e%2e/secret.txt", "/a/..%2F..%2Fsecret.txt", "/a/%2E%2E%2F%2E%2E%2Fsecret.txt",
            "/a/not-a-hash", $"/a/{dir.ToUpperInvariant()}", $"/a/{dir}0", $"/a/{dir[..63]}g", $"/a/{absent}", $"/a/{absent}/report.md",
            $"/a/{dir}/../../../../secret.txt", $"/a/{dir}/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt", $"/a/{dir}/..%2F..%2F..%2F..%2Fsecret.txt",
            $"/a/{dir}/%2Fetc%2Fpasswd", $"/a/{dir}/.%2Freport.md", $"/a/{dir}/a%5C..%5C..%5Csecret.txt", $"/a/{dir}/nope.png", $"/a/{table}/x",
        };
        foreach (var path in requests)
        {
            // Sent as written: HttpClient's Uri would otherwise resolve the dot segments before the server sees them.
            var raw = new Uri(ui.Server.BaseAddress + path.TrimStart('/'), new UriCreationOptions { DangerousDisablePathAndQueryCanonicalization = true });
            using var r = await ui.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, raw));
            var body = await r.Content.ReadAsStringAsync();
            Assert.True(r.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound, $"{path}: {(int)r.StatusCode}");
            Assert.DoesNotContain("TOP-SECRET", body);
        }
        using var bad = await ui.Http.GetAsync("/a/not-a-hash");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        using var gone = await ui.Http.GetAsync($"/a/{absent}");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        using var post = await ui.Http.PostAsync("/", new StringContent(""));
        Assert.Equal(HttpStatusCode.MethodNotAllowed, post.StatusCode);
    }

    [Fact]
    public async Task A_symbolic_link_inside_a_directory_artifact_is_not_followed()
    {
        // A store holding one directory object with links out of it (a damaged or hostile store), served read-only.
        var root = Directory.CreateTempSubdirectory("iwsft-ui-links-").FullName;
        try
        {
            var outside = Path.Combine(root, "outside");
            Directory.CreateDirectory(outside);
            File.WriteAllText(Path.Combine(outside, "secret.txt"), "TOP-SECRET-OUTSIDE-THE-STORE");
            var hash = new string('b', 64);
            var obj = Path.Combine(root, "store", "objects", "bb", hash + ".dir");
            Directory.CreateDirectory(obj);
            File.WriteAllText(Path.Combine(obj, "report.md"), "# fine");
            File.CreateSymbolicLink(Path.Combine(obj, "leak.txt"), Path.Combine(outside, "secret.txt"));
            Directory.CreateSymbolicLink(Path.Combine(obj, "sub"), outside);
            await using var server = await UiServer.StartAsync(new UiOptions { StoreDirectory = Path.Combine(root, "store"), Port = 0, Pipelines = [] });
            using var http = new HttpClient { BaseAddress = server.BaseAddress };
            Assert.Equal("# fine", await http.GetStringAsync($"/a/{hash}/report.md"));
            foreach (var path in new[] { $"/a/{hash}/leak.txt", $"/a/{hash}/sub/secret.txt" })
            {
                using var r = await http.GetAsync(path);
                Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
                Assert.DoesNotContain("TOP-SECRET", await r.Content.ReadAsStringAsync());
            }
            var listing = await http.GetStringAsync($"/a/{hash}");
            Assert.DoesNotContain("leak.txt", listing);
            Assert.False(File.Exists(Path.Combine(root, "store", "store.lock")), "the read-only view created the store lock");
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>Every file and directory of the store with its size and modification time.</summary>
    static SortedDictionary<string, (long, long)> Snapshot(string root) =>
        new(new DirectoryInfo(root).EnumerateFileSystemInfos("*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(root, f.FullName), f => (f is FileInfo fi ? fi.Length : -1, f.LastWriteTimeUtc.Ticks)), StringComparer.Ordinal);

    [Fact]
    public async Task Browsing_every_page_leaves_the_store_byte_for_byte_as_it_was()
    {
        var before = Snapshot(ui.StoreDir);
        var lk = ui.Store.ReadLock("demo").Stages;
        var pages = new List<string> { "/", "/p/example/why?id=n000000009", "/p/demo/eval", $"/p/ui-markup/eval?a={ui.MarkupFirstRun.RunId}&b={ui.MarkupSecondRun.RunId}" };
        foreach (var d in ui.Definitions)
        {
            pages.Add($"/p/{d.Name}");
            pages.Add($"/p/{d.Name}/runs");
            pages.AddRange(ui.Build(d).Stages.Select(s => $"/p/{d.Name}/s/{s.Name}"));
        }
        pages.AddRange(lk.Values.SelectMany(e => e.Outputs.Values).Select(a => $"/a/{a.Hash}"));
        foreach (var page in pages) await ui.PageAsync(page);
        using (var png = await ui.Http.GetAsync($"/a/{lk["report"].Outputs["report"].Hash}/report.md")) Assert.Equal(HttpStatusCode.OK, png.StatusCode);
        Assert.Equal(before, Snapshot(ui.StoreDir));
    }

    [Fact]
    public async Task A_run_in_progress_shows_from_its_inflight_record_and_runs_beside_the_view()
    {
        var root = Directory.CreateTempSubdirectory("iwsft-ui-inflight-").FullName;
        try
        {
            var store = new ArtifactStore(Path.Combine(root, "store"));
            var gated = new GatedPipeline();
            await new PipelineRunner(store).RunAsync(gated.Build(new PipelineBuildOptions()), CancellationToken.None); // a first, finished run
            await using var server = await UiServer.StartAsync(new UiOptions { StoreDirectory = store.Root, Port = 0, Pipelines = [gated] });
            using var http = new HttpClient { BaseAddress = server.BaseAddress };

            var run = Task.Run(() => new PipelineRunner(store, new RunOptions { Force = ["wait"] }).RunAsync(gated.Build(new PipelineBuildOptions())));
            await gated.Started.Task.WaitAsync(TimeSpan.FromMinutes(3)); // the run holds its locks and has written its in-flight record
            var during = await http.GetStringAsync("/p/gated/runs");
            var inflight = Assert.Single(store.InflightRuns());
            Assert.Contains("<span class=\"state in-progress\">in progress</span>", during);
            Assert.Contains(inflight.RunId, during);
            Assert.Contains("in progress", await http.GetStringAsync("/p/gated"));
            gated.Release.SetResult();
            var result = await run.WaitAsync(TimeSpan.FromMinutes(3)); // the view took no lock the run needed
            Assert.True(result.Succeeded);
            var after = await http.GetStringAsync("/p/gated/runs");
            Assert.DoesNotContain("in-progress", after);
            Assert.Contains(result.RunId, after);
        }
        finally { Directory.Delete(root, recursive: true); }
    }

    /// <summary>One stage that signals when it runs and waits for the test to release it.</summary>
    sealed class GatedPipeline : IPipelineDefinition
    {
        public TaskCompletionSource Started { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        int _runs;
        public string Name => "gated";
        public string Description => "test pipeline: a stage that waits";
        public Pipeline Build(PipelineBuildOptions options)
        {
            var p = new Pipeline(Name, Description);
            p.Add(new Wait("wait", this));
            return p;
        }

        public sealed class NoConfig;

        sealed class Wait(string name, GatedPipeline owner) : Stage<NoConfig>(name)
        {
            public override string Kind => "ui-test.wait";
            public override int Version => 1;
            public override IReadOnlyList<PortSpec> Inputs => [];
            public override IReadOnlyList<PortSpec> Outputs => [PortSpec.Dir("out")];
            public override async Task RunAsync(IStageContext ctx)
            {
                File.WriteAllText(Path.Combine(ctx.OutputDirectory("out"), "x.txt"), "x");
                if (Interlocked.Increment(ref owner._runs) == 1) return; // the first run finishes at once
                owner.Started.SetResult();
                await owner.Release.Task.WaitAsync(ctx.CancellationToken);
            }
        }
    }
}
