using System.Net;
using System.Text.RegularExpressions;
using IwSft.Cli;
using IwSft.Runtime;

namespace IwSft.Pipelines.Tests.Ui;

/// <summary>Each page of <c>iwsft ui</c> over stores the real runner filled: what it must show, checked in the HTML.</summary>
[Collection("ui")]
public sealed partial class UiPageTests(UiFixture ui)
{
    [GeneratedRegex("data-stage=\"([^\"]+)\" data-state=\"([^\"]+)\"")]
    private static partial Regex DagNode();

    static Dictionary<string, string> DagStates(string html) =>
        DagNode().Matches(html).ToDictionary(m => WebUtility.HtmlDecode(m.Groups[1].Value), m => m.Groups[2].Value);

    [Fact]
    public async Task Index_lists_every_pipeline_with_its_last_run_and_status_counts()
    {
        var html = await ui.PageAsync("/");
        foreach (var d in ui.Definitions) Assert.Contains($"href=\"/p/{d.Name}\"", html);
        Assert.Contains("6 up to date", html);                                        // example
        Assert.Contains($"{ui.Build(ui.Demo).Stages.Count} up to date", html);       // demo: every stage
        Assert.Contains(ui.ExampleRun.RunId, html);
        Assert.Contains(ui.DemoRun.RunId, html);
    }

    [Fact]
    public async Task Pipeline_page_draws_every_stage_coloured_by_the_status_the_runner_computes()
    {
        foreach (var d in ui.Definitions)
        {
            var html = await ui.PageAsync($"/p/{d.Name}");
            var nodes = DagStates(html);
            var status = new PipelineRunner(ui.Store).Status(ui.Build(d));
            Assert.Equal(status.Stages.Select(s => s.Stage).Order(), nodes.Keys.Order());
            foreach (var s in status.Stages)
            {
                Assert.Equal(s.State == StageState.UpToDate ? "up-to-date" : "stale", nodes[s.Stage]);
                Assert.Contains($"href=\"/p/{d.Name}/s/{s.Stage}\"", html);                 // each node links to its stage
                Assert.Contains(WebUtility.HtmlEncode(EngineCommands.StatusText(s)), html); // the text `status` prints
            }
        }
        // The example's filter kept 13,333 of 20,000 numbers; the rows show on the pipeline page.
        Assert.Contains("kept=13,333", await ui.PageAsync("/p/example"));
    }

    [Fact]
    public async Task Stage_page_shows_key_parts_status_text_io_decisions_and_history()
    {
        var html = await ui.PageAsync("/p/example/s/drop_multiples");
        var lk = ui.Store.ReadLock("example").Stages["drop_multiples"];
        Assert.Contains("example.drop-multiples v1", html);
        Assert.Contains(lk.Key, html);
        Assert.Contains(lk.Code!, html);
        Assert.Contains("&quot;divisor&quot;: 3", html);                             // configuration
        Assert.Contains($"/a/{lk.Inputs["squared"].Hash}", html);                       // input with its hash
        Assert.Contains($"/a/{lk.Outputs["kept"].Hash}", html);                         // outputs with hashes and rows
        Assert.Contains("<span class=\"rows\">13,333</span>", html);
        Assert.Contains("<span class=\"rows\">20,000</span>", html);                 // decisions table
        Assert.Contains("dropped <span class=\"dropped\">6,667</span>", html);        // decisions summary by reason
        Assert.Contains("<td>divisible</td><td><span class=\"num\">6,667</span></td>", html);
        Assert.Contains(ui.ExampleRun.RunId, html);                                     // run history
        Assert.Contains("<span class=\"status\">up to date</span>", html);

        // A stage whose configuration differs from its last run: the page shows exactly what `status` prints.
        var stale = await ui.PageAsync("/p/ui-markup/s/results");
        var expected = EngineCommands.StatusText(new PipelineRunner(ui.Store).Status(ui.Build(ui.Markup))["results"]);
        Assert.Equal("up to date", expected); // the second run used the defaults
        Assert.Contains($"<span class=\"status\">{expected}</span>", stale);
        Assert.Contains(ui.MarkupFirstRun.RunId, stale);
        Assert.Contains(ui.MarkupSecondRun.RunId, stale);
    }

    [Fact]
    public async Task Table_artifact_preview_pages_rows_with_column_types()
    {
        var groups = ui.Store.ReadLock("example").Stages["sum_by_group"].Outputs["groups"];
        var html = await ui.PageAsync($"/a/{groups.Hash}");
        Assert.Contains("<td>group</td><td><code>int32</code></td>", html);
        Assert.Contains("<td>sum_square</td><td><code>double</code></td>", html);
        Assert.Contains("of <span class=\"rows\">7</span>", html);
        Assert.Contains("<td>0</td><td>1905</td>", html); // group 0 holds 1,905 numbers (as `show` prints)

        var decisions = ui.Store.ReadLock("example").Stages["drop_multiples"].Outputs["decisions"];
        var page2 = await ui.PageAsync($"/a/{decisions.Hash}?page=1");
        Assert.Contains($"Rows 51–100 of <span class=\"rows\">20,000</span>", page2);
        Assert.Contains("<td>n000000051</td>", page2);
        Assert.DoesNotContain("<td>n000000049</td>", page2);
        Assert.Contains($"?page=2", page2);
    }

    [Fact]
    public async Task Directory_artifact_renders_report_md_with_images_that_resolve_to_pngs()
    {
        var report = ui.Store.ReadLock("demo").Stages["report"].Outputs["report"];
        var html = await ui.PageAsync($"/a/{report.Hash}");
        Assert.Contains("report.md", html);
        Assert.Contains("<div class=\"report\">", html);
        var baseHref = Regex.Match(html, "<base href=\"([^\"]+)\">").Groups[1].Value;
        Assert.Equal($"/a/{report.Hash}/", baseHref);
        var report_ = html[html.IndexOf("<div class=\"report\">", StringComparison.Ordinal)..];
        var images = Regex.Matches(report_, "<img src=\"([^\"]+)\"").Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToList();
        Assert.NotEmpty(images);
        foreach (var src in images)
        {
            var url = new Uri(new Uri(ui.Server.BaseAddress, baseHref), src);
            using var r = await ui.Http.GetAsync(url);
            Assert.True(r.StatusCode == HttpStatusCode.OK, $"{url}: {(int)r.StatusCode}");
            Assert.Equal("image/png", r.Content.Headers.ContentType?.MediaType);
            var png = PngPixels.Decode(await r.Content.ReadAsByteArrayAsync());
            Assert.True(png.Width > 10 && png.Height > 10);
        }
        // Every listed file downloads.
        foreach (Match m in Regex.Matches(html, "<a href=\"(/a/[0-9a-f]{64}/[^\"]+)\" download>"))
        {
            using var r = await ui.Http.GetAsync(WebUtility.HtmlDecode(m.Groups[1].Value));
            Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        }
    }

    [Fact]
    public async Task Lineage_page_answers_like_why()
    {
        var html = await ui.PageAsync("/p/example/why?id=n000000009");
        Assert.Contains("<span class=\"dropped\">DROPPED</span>", html);
        Assert.Contains("divisible — 9 % 3 == 0", html);
        var w = await new PipelineRunner(ui.Store).WhyAsync(ui.Build(ui.Example), "n000000009");
        Assert.Contains(WebUtility.HtmlEncode(EngineCommands.WhyConclusion(w)), html);
        Assert.Contains("&#39;n000000009&#39; was dropped at stage &#39;drop_multiples&#39;: divisible", html);

        var kept = await ui.PageAsync("/p/example/why?id=n000000010");
        Assert.Contains("was kept by every filtering stage", kept);
        var missing = await ui.PageAsync("/p/example/why?id=nope");
        Assert.Contains("record &#39;nope&#39; is in no decisions table of pipeline &#39;example&#39;", missing);
    }

    [Fact]
    public async Task Runs_list_and_manifest_show_every_stage_of_the_run()
    {
        var list = await ui.PageAsync("/p/demo/runs");
        Assert.Contains(ui.DemoRun.RunId, list);
        var manifest = await ui.PageAsync($"/p/demo/runs/{ui.DemoRun.RunId}");
        foreach (var s in ui.DemoRun.Stages.Values)
        {
            Assert.Contains($"href=\"/p/demo/s/{s.Name}\"", manifest);
            foreach (var (output, a) in s.Outputs) Assert.Contains($"/a/{a.Hash}", manifest);
        }
        using var unknown = await ui.Http.GetAsync("/p/demo/runs/..%2F..%2Flock");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Evaluation_page_shows_the_summary_and_diffs_two_runs_like_metrics_diff()
    {
        var demo = await ui.PageAsync("/p/demo/eval");
        Assert.Contains("report_greedy.summary", demo);
        Assert.Contains("95% interval", demo);

        var html = await ui.PageAsync($"/p/ui-markup/eval?a={ui.MarkupFirstRun.RunId}&b={ui.MarkupSecondRun.RunId}");
        Assert.Contains("<td>sft_s1</td><td>arith</td>", html);
        Assert.Contains("0.5000 [", html);   // 2 of 4 right
        Assert.Contains("0.7500 [", html);   // 3 of 4
        Assert.Contains("+0.2500", html);
        // The text block is what `iwsft metrics diff` prints for these two summaries.
        var pre = WebUtility.HtmlDecode(Regex.Match(html, "<pre class=\"metrics-diff\">(.*?)</pre>", RegexOptions.Singleline).Groups[1].Value);
        Assert.StartsWith("checkpoint  benchmark  metric", pre);
        Assert.Contains("sft_s1      arith      accuracy  0.5000 [", pre);
    }

    [Fact]
    public async Task The_ui_command_binds_loopback_and_prints_its_address()
    {
        var work = Directory.CreateTempSubdirectory("iwsft-ui-cmd-").FullName; // the command's working directory (its default store)
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = work };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "iwsft.dll"));
        foreach (var a in new[] { "ui", "--store", ui.StoreDir, "--port", "0", "--quick" }) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        try
        {
            // The first line names the bound address (or the process ends with an error); a bounded wait, not a sleep.
            var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(3));
            Assert.True(line is not null, "iwsft ui printed nothing");
            var url = Regex.Match(line!, @"http://127\.0\.0\.1:\d+/").Value;
            Assert.True(url.Length > 0, line);
            using var http = new HttpClient { Timeout = TimeSpan.FromMinutes(3) };
            // A page that reads the store but builds no pipeline: the command's wiring is under test here, not the pages.
            var runs = await http.GetStringAsync(url + "p/example/runs");
            Assert.Contains(ui.ExampleRun.RunId, runs);
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            p.WaitForExit(60_000);
            try { Directory.Delete(work, recursive: true); } catch (IOException) { }
        }
    }
}
