using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using IwSft.Gpu.Serving;
using IwSft.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace IwSft.Cli.Serve;

/// <summary>Options of <c>iwsft serve</c>'s server.</summary>
public sealed record ServeOptions
{
    /// <summary>The name clients send as <c>model</c> and <c>/v1/models</c> lists.</summary>
    public required string ModelName { get; init; }
    /// <summary>Where the weights came from (shown as <c>root</c> in <c>/v1/models</c>).</summary>
    public string? Root { get; init; }
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0 picks a free port (tests).</summary>
    public int Port { get; init; } = 8000;
    /// <summary>Runs before each batch is drained from the queue; tests hold it to make requests meet in one batch.</summary>
    internal Func<CancellationToken, Task>? BeforeBatch { get; init; }
}

/// <summary>
/// An OpenAI-compatible server over one in-process model (<see cref="CompletionEngine"/>): <c>GET /v1/models</c>,
/// <c>POST /v1/completions</c>, <c>POST /v1/chat/completions</c>. Concurrent requests are batched statically: while
/// the model works, requests queue; when it is free, everything queued runs as one batch. Batching never changes
/// a result (each choice samples from its own seed), only throughput.
/// </summary>
public sealed class OpenAiServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    readonly CancellationTokenSource _stop = new();
    readonly CompletionEngine _engine;
    readonly ServeOptions _options;
    readonly QwenChatTemplate _template = new();
    Task _worker = Task.CompletedTask;
    int _received, _batches, _largestBatch;

    sealed record Pending(IReadOnlyList<CompletionJob> Jobs, TaskCompletionSource<IReadOnlyList<CompletionOutput>> Done);

    OpenAiServer(WebApplication app, CompletionEngine engine, ServeOptions options) { _app = app; _engine = engine; _options = options; }

    public Uri BaseAddress { get; private set; } = null!;
    /// <summary>Requests accepted into the queue so far.</summary>
    public int Received => Volatile.Read(ref _received);
    /// <summary>Batches the model has run, and the most jobs (choices) one of them held.</summary>
    public (int Batches, int LargestBatch) BatchCounts => (Volatile.Read(ref _batches), Volatile.Read(ref _largestBatch));

    public static async Task<OpenAiServer> StartAsync(CompletionEngine engine, ServeOptions options, CancellationToken ct = default)
    {
        var app = KestrelHost.Builder(options.Host, options.Port).Build();
        var server = new OpenAiServer(app, engine, options);
        app.MapGet("/v1/models", server.Models);
        app.MapPost("/v1/completions", ctx => server.Handle(ctx, "cmpl-",
            body => OpenAiProtocol.ParseCompletion(body, options.ModelName, engine),
            (id, created, request, outputs) => OpenAiProtocol.RenderCompletion(id, created, request, outputs, engine.Tokenizer)));
        app.MapPost("/v1/chat/completions", ctx => server.Handle(ctx, "chatcmpl-",
            body => OpenAiProtocol.ParseChat(body, options.ModelName, engine, server._template),
            (id, created, request, outputs) => OpenAiProtocol.RenderChat(id, created, request, outputs, engine.Tokenizer)));
        app.MapFallback(ctx => Reply(ctx, new OpenAiError(404, $"no route {ctx.Request.Method} {ctx.Request.Path}", code: "not_found").ToJson(), 404));
        server._worker = Task.Run(() => server.RunBatchesAsync(server._stop.Token));
        await app.StartAsync(ct);
        server.BaseAddress = KestrelHost.BoundAddress(app);
        return server;
    }

    Task Models(HttpContext ctx) => Reply(ctx, new JsonObject
    {
        ["object"] = "list",
        ["data"] = new JsonArray(new JsonObject
        {
            ["id"] = _options.ModelName, ["object"] = "model", ["created"] = 0, ["owned_by"] = "iwsft",
            ["root"] = _options.Root ?? _options.ModelName, ["parent"] = null, ["max_model_len"] = _engine.MaxModelLength,
        }),
    }, 200);

    async Task Handle(HttpContext ctx, string idPrefix, Func<JsonNode?, ParsedRequest> parse,
        Func<string, long, ParsedRequest, IReadOnlyList<CompletionOutput>, JsonObject> render)
    {
        try
        {
            JsonNode? body;
            try { body = await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted); }
            catch (JsonException e) { throw OpenAiError.Invalid("body", $"the request body is not JSON: {e.Message}"); }
            var request = parse(body);
            var done = new TaskCompletionSource<IReadOnlyList<CompletionOutput>>(TaskCreationOptions.RunContinuationsAsynchronously);
            Interlocked.Increment(ref _received);
            await _queue.Writer.WriteAsync(new Pending(request.Jobs, done), ctx.RequestAborted);
            var outputs = await done.Task.WaitAsync(ctx.RequestAborted);
            var id = idPrefix + Guid.NewGuid().ToString("N");
            await Reply(ctx, render(id, DateTimeOffset.UtcNow.ToUnixTimeSeconds(), request, outputs), 200);
        }
        catch (OpenAiError e) { await Reply(ctx, e.ToJson(), e.Status); }
        catch (Exception e) when (e is not OperationCanceledException && !ctx.Response.HasStarted)
        {
            await Reply(ctx, new OpenAiError(500, e.Message, code: "internal_error", type: "server_error").ToJson(), 500);
        }
    }

    async Task RunBatchesAsync(CancellationToken ct)
    {
        try
        {
            while (await _queue.Reader.WaitToReadAsync(ct))
            {
                if (_options.BeforeBatch is { } hold) await hold(ct);
                var batch = new List<Pending>();
                while (_queue.Reader.TryRead(out var p)) batch.Add(p);
                var jobs = batch.SelectMany(p => p.Jobs).ToList();
                Interlocked.Increment(ref _batches);
                if (jobs.Count > _largestBatch) Volatile.Write(ref _largestBatch, jobs.Count);
                try
                {
                    var outputs = _engine.Run(jobs);
                    int at = 0;
                    foreach (var p in batch) { p.Done.TrySetResult(outputs.Skip(at).Take(p.Jobs.Count).ToList()); at += p.Jobs.Count; }
                }
                catch (Exception e)
                {
                    foreach (var p in batch) p.Done.TrySetException(e);
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    static async Task Reply(HttpContext ctx, JsonObject json, int status)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(json.ToJsonString());
    }

    /// <summary>Serves until <paramref name="ct"/> is cancelled (Ctrl-C).</summary>
    public async Task WaitAsync(CancellationToken ct)
    {
        try { await Task.Delay(Timeout.Infinite, ct); } catch (OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        _stop.Cancel();
        _queue.Writer.TryComplete();
        await _worker;
        await _app.DisposeAsync();
        _stop.Dispose();
    }
}
