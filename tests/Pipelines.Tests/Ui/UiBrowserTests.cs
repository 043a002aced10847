using System.Net;
using System.Text.RegularExpressions;

namespace IwSft.Pipelines.Tests.Ui;

/// <summary>
/// The web view in a real browser: headless Chromium loads the demo's DAG page (--dump-dom: the DOM after
/// parsing) and takes a screenshot, which must hold a drawing (many colours), not a blank or error page.
/// Set IWSFT_UI_SCREENSHOT=PATH to keep the screenshot (docs/ui-dag.png was made so).
/// </summary>
[Collection("ui")]
public sealed class UiBrowserTests(UiFixture ui)
{
    [ChromiumFact]
    public void Chromium_renders_the_dag_page_with_every_stage_and_a_non_blank_screenshot()
    {
        var work = Directory.CreateTempSubdirectory("iwsft-ui-chromium-").FullName;
        try
        {
            var url = new Uri(ui.Server.BaseAddress, "/p/demo").ToString();
            var dom = Chromium.Run(work, "--dump-dom", url);
            var stages = ui.Build(ui.Demo).Stages.Select(s => s.Name).ToList();
            var drawn = Regex.Matches(dom, "data-stage=\"([^\"]+)\"").Select(m => WebUtility.HtmlDecode(m.Groups[1].Value)).ToHashSet();
            Assert.Equal(stages.Order(), drawn.Order());
            Assert.Contains("<svg class=\"dag\"", dom);

            var shot = Path.Combine(work, "dag.png");
            Chromium.Run(work, $"--screenshot={shot}", "--window-size=1280,900", "--hide-scrollbars", url);
            var png = PngPixels.Decode(File.ReadAllBytes(shot));
            Assert.Equal((1280, 900), (png.Width, png.Height));
            // A blank page has one colour, an error page a handful; the DAG has node fills, text and anti-aliased edges.
            Assert.True(png.DistinctColours() > 64, $"screenshot has only {png.DistinctColours()} colours");
            if (Environment.GetEnvironmentVariable("IWSFT_UI_SCREENSHOT") is { Length: > 0 } keep) File.Copy(shot, keep, overwrite: true);
        }
        finally { try { Directory.Delete(work, recursive: true); } catch (IOException) { } }
    }
}
