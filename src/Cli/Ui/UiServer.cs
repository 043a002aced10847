using System.Net;
using IwSft.Pipelines;
using IwSft.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IwSft.Cli.Ui;

/// <summary>Options of <c>iwsft ui</c>.</summary>
public sealed record UiOptions
{
    public required string StoreDirectory { get; init; }
    /// <summary>Address to bind: 127.0.0.1 unless asked (<c>--host</c>); "localhost" binds the loopback addresses.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; init; } = 8080;
    public bool Quick { get; init; }
    public IReadOnlyList<IPipelineDefinition> Pipelines { get; init; } = PipelineCatalog.All;
}

/// <summary>
/// The web view's host: Kestrel serving server-rendered pages over a read-only store. <c>iwsft ui</c> and the tests
/// start it through <see cref="StartAsync"/>; <see cref="BaseAddress"/> is the bound address (the real port when 0 was asked).
/// </summary>
public sealed class UiServer : IAsyncDisposable
{
    readonly WebApplication _app;
    UiServer(WebApplication app, Uri address) { _app = app; BaseAddress = address; }

    public Uri BaseAddress { get; }

    public static async Task<UiServer> StartAsync(UiOptions options, CancellationToken ct = default)
    {
        var store = ArtifactStore.OpenReadOnly(options.StoreDirectory);
        if (!Directory.Exists(store.Root)) throw new DirectoryNotFoundException($"store {store.Root} does not exist (run a pipeline first, or pass --store DIR)");
        var site = new UiSite(store, options.Pipelines, options.Quick);
        var builder = KestrelHost.Builder(options.Host, options.Port);
        var app = builder.Build();
        app.Use(async (ctx, next) =>
        {
            // Defence in depth behind the escaping: no script runs and nothing is fetched from elsewhere.
            ctx.Response.Headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; style-src 'self'; form-action 'self'; base-uri 'self'";
            ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
            ctx.Response.Headers["Referrer-Policy"] = "no-referrer";
            if (!HttpMethods.IsGet(ctx.Request.Method) && !HttpMethods.IsHead(ctx.Request.Method))
            {
                ctx.Response.StatusCode = 405; // read-only: nothing to post
                return;
            }
            try { await next(ctx); }
            catch (Exception e) when (!ctx.Response.HasStarted && e is not OperationCanceledException)
            {
                var status = e switch { UiRequestException r => r.Status, KeyNotFoundException => 404, _ => 500 };
                ctx.Response.StatusCode = status;
                ctx.Response.ContentType = "text/html; charset=utf-8";
                await ctx.Response.WriteAsync(Html.Page(status == 500 ? "Error" : status == 404 ? "Not found" : "Bad request", $"<p class=\"error\">{Html.E(e.Message)}</p>"));
            }
        });
        Routes(app, site);
        await app.StartAsync(ct);
        return new UiServer(app, KestrelHost.BoundAddress(app));
    }

    static IResult Html200(string html) => Results.Content(html, "text/html; charset=utf-8");

    static void Routes(WebApplication app, UiSite site)
    {
        app.MapGet("/ui.css", () => Results.Content(Html.Css, "text/css; charset=utf-8"));
        app.MapGet("/", () => Html200(PipelinePages.Index(site)));
        app.MapGet("/p/{pipeline}", (string pipeline) => Html200(PipelinePages.Pipeline(site, pipeline)));
        app.MapGet("/p/{pipeline}/s/{stage}", (string pipeline, string stage) => Html200(StagePage.Render(site, pipeline, stage)));
        app.MapGet("/p/{pipeline}/why", async (string pipeline, string? id, CancellationToken ct) => Html200(await LineagePage.RenderAsync(site, pipeline, id, ct)));
        app.MapGet("/p/{pipeline}/runs", (string pipeline) => Html200(RunPages.List(site, pipeline)));
        app.MapGet("/p/{pipeline}/runs/{run}", (string pipeline, string run) => Html200(RunPages.Manifest(site, pipeline, run)));
        app.MapGet("/p/{pipeline}/eval", async (string pipeline, string? a, string? b, CancellationToken ct) => Html200(await RunPages.EvalAsync(site, pipeline, a, b, ct)));
        app.MapGet("/a/{hash}", async (string hash, int? page, CancellationToken ct) => Html200(await ArtifactPages.RenderAsync(site, hash, page ?? 0, ct)));
        app.MapGet("/a/{hash}/{**path}", (string hash, string? path, HttpContext ctx) =>
        {
            if (string.IsNullOrEmpty(path)) return Results.Redirect(Html.Url("a", hash));
            var file = ArtifactPages.ResolveFile(site, hash, path);
            var (type, inline) = ArtifactPages.ContentTypeOf(file);
            if (!inline) ctx.Response.Headers.ContentDisposition = $"attachment; filename=\"{Path.GetFileName(file).Replace("\"", "")}\"";
            return Results.File(file, type);
        });
    }

    /// <summary>Serves until <paramref name="ct"/> is cancelled (Ctrl-C).</summary>
    public async Task WaitAsync(CancellationToken ct)
    {
        try { await Task.Delay(Timeout.Infinite, ct); } catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
