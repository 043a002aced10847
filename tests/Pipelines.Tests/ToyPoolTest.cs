using System.Text.Json.Nodes;
using IwSft.Pipelines.S1k.Stages;

namespace IwSft.Pipelines.Tests;

/// <summary>A temporary directory with the toy checkpoint (<see cref="ToyModelStage"/>) and a JSONL pool the test writes.</summary>
public abstract class ToyPoolTest(string prefix, int records) : IAsyncLifetime
{
    protected readonly string _root = Directory.CreateTempSubdirectory(prefix).FullName;
    protected string _checkpoint = "";

    protected string Pool => Path.Combine(_root, "pool.jsonl");

    /// <summary>Pool record <paramref name="i"/>.</summary>
    protected abstract JsonObject Record(int i);

    protected void WritePool(int count) => File.WriteAllLines(Pool, Enumerable.Range(0, count).Select(i => Record(i).ToJsonString()));

    public Task InitializeAsync()
    {
        _checkpoint = ToyModelStage.Write(Path.Combine(_root, "toy"));
        WritePool(records);
        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }
}
