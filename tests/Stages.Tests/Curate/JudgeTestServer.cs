using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace IwSft.Stages.Tests.Curate;

/// <summary>What the fake judge answers for one request (<see cref="Never"/>: holds the request until the client gives up).</summary>
public sealed record JudgeReply(int Status, string Body, TimeSpan Delay = default, string? RetryAfter = null)
{
    public static JudgeReply Never { get; } = new(200, "{}", Timeout.InfiniteTimeSpan);

    public static JudgeReply Content(string content) =>
        new(200, new JsonObject { ["choices"] = new JsonArray(new JsonObject { ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = content } }) }.ToJsonString());
}

/// <summary>A request as the server saw it.</summary>
public sealed record JudgeRequest(string Prompt, JsonNode Body, string? Authorization, int Attempt);

/// <summary>
/// A real OpenAI-compatible chat-completions server on 127.0.0.1 (HttpListener). The reply function gets the
/// user prompt and the attempt number for that prompt (1 = first), so tests can inject faults per record.
/// </summary>
public sealed class JudgeTestServer : IAsyncDisposable
{
    readonly HttpListener _listener = new();
    readonly Func<JudgeRequest, JudgeReply> _reply;
    readonly ConcurrentDictionary<string, int> _attempts = new();
    readonly CancellationTokenSource _stop = new();
    readonly Task _loop;

    public JudgeTestServer(Func<JudgeRequest, JudgeReply> reply)
    {
        _reply = reply;
        int port = FreePort();
        BaseUrl = $"http://127.0.0.1:{port}";
        _listener.Prefixes.Add(BaseUrl + "/");
        _listener.Start();
        _loop = Task.Run(AcceptLoop);
    }

    public string BaseUrl { get; }
    public ConcurrentQueue<JudgeRequest> Requests { get; } = new();
    public int RequestCount => Requests.Count;
    public int AttemptsFor(string prompt) => _attempts.GetValueOrDefault(prompt);

    static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext c;
            try { c = await _listener.GetContextAsync(); }
            catch (Exception) when (_stop.IsCancellationRequested) { return; }
            catch (HttpListenerException) { return; }
            catch (ObjectDisposedException) { return; }
            _ = Task.Run(() => Handle(c));
        }
    }

    async Task Handle(HttpListenerContext c)
    {
        try
        {
            if (c.Request.HttpMethod != "POST" || c.Request.Url!.AbsolutePath != "/v1/chat/completions")
            {
                await Send(c, new JudgeReply(404, "{\"error\":\"not found\"}"));
                return;
            }
            string text;
            using (var r = new StreamReader(c.Request.InputStream, Encoding.UTF8)) text = await r.ReadToEndAsync();
            var body = JsonNode.Parse(text)!;
            string prompt = body["messages"]!.AsArray()[^1]!["content"]!.GetValue<string>();
            int attempt = _attempts.AddOrUpdate(prompt, 1, (_, n) => n + 1);
            var req = new JudgeRequest(prompt, body, c.Request.Headers["Authorization"], attempt);
            Requests.Enqueue(req);
            var reply = _reply(req);
            if (reply.Delay > TimeSpan.Zero || reply.Delay == Timeout.InfiniteTimeSpan)
            {
                try { await Task.Delay(reply.Delay, _stop.Token); } catch (OperationCanceledException) { }
            }
            await Send(c, reply);
        }
        catch (Exception)
        {
            // The client may have given up (timeout) and closed the connection; nothing to answer.
            try { c.Response.Abort(); } catch { }
        }
    }

    static async Task Send(HttpListenerContext c, JudgeReply reply)
    {
        c.Response.StatusCode = reply.Status;
        // One request per connection: whether a client reuses a kept-alive connection that the listener is closing
        // (a reset before the request reaches the server: one retry more than a test planned) is left to no race.
        c.Response.KeepAlive = false;
        c.Response.ContentType = "application/json";
        if (reply.RetryAfter != null) c.Response.Headers["Retry-After"] = reply.RetryAfter;
        var bytes = Encoding.UTF8.GetBytes(reply.Body);
        c.Response.ContentLength64 = bytes.Length;
        await c.Response.OutputStream.WriteAsync(bytes);
        c.Response.Close();
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        _listener.Close();
        try { await _loop; } catch { }
    }
}
