namespace IwSft.Runtime.Tests;

/// <summary>
/// How long a test waits for something that must happen (a child process reaching a point, a run finishing,
/// a sibling branch starting) before it calls it a hang. Only the failure path ever waits this long: no test
/// outcome depends on how fast a loaded machine is, so it is minutes, not seconds.
/// </summary>
static class HangGuard
{
    public static readonly TimeSpan Limit = TimeSpan.FromMinutes(5);
}
