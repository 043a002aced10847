using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace IwSft.Cli;

/// <summary>The Kestrel set-up the CLI's servers share (<c>iwsft ui</c>, <c>iwsft serve</c>): one address, no request logs.</summary>
static class KestrelHost
{
    /// <summary>A slim builder listening on <paramref name="host"/> (an IP address or "localhost") and <paramref name="port"/> (0: any free port).</summary>
    public static WebApplicationBuilder Builder(string host, int port)
    {
        if (port is < 0 or > 65535) throw new ArgumentException($"--port {port}: not a port (0-65535)");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders(); // the command prints its one line; request logs would drown a terminal
        builder.WebHost.UseKestrel(k =>
        {
            if (host == "localhost") k.ListenLocalhost(port);
            else if (IPAddress.TryParse(host, out var ip)) k.Listen(ip, port);
            else throw new ArgumentException($"--host {host}: not an IP address (or 'localhost')");
        });
        return builder;
    }

    /// <summary>The address the started app listens on (the real port when 0 was asked), ending in '/'.</summary>
    public static Uri BoundAddress(WebApplication app)
    {
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new Uri(bound.Replace("[::]", "localhost", StringComparison.Ordinal).TrimEnd('/') + "/");
    }
}
