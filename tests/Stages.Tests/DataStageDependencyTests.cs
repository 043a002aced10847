using System.Reflection;
using System.Text.Json;

namespace IwSft.Stages.Tests;

/// <summary>
/// The data stages build and run without TorchSharp or libtorch, and the engine without Spectre.Console:
/// checked on what NuGet resolved for each project (project.assets.json, written by restore) and on the
/// assemblies IwSft.Stages actually loads.
/// </summary>
public class DataStageDependencyTests
{
    [Theory]
    [InlineData("src/Stages")]
    [InlineData("src/Core")]
    [InlineData("src/Runtime")]
    public void ANonModelProjectResolvesNoTorchPackage(string project)
    {
        var packages = ResolvedPackages(project);
        Assert.NotEmpty(packages); // guards against reading the wrong file
        Assert.DoesNotContain(packages, p => p.Contains("torch", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void TheEngineResolvesNoConsoleUiPackage() =>
        Assert.DoesNotContain(ResolvedPackages("src/Runtime"), p => p.StartsWith("Spectre.", StringComparison.OrdinalIgnoreCase));

    [Fact]
    public void TheModelStagesDoResolveTorch() => // the check above can tell the two apart
        Assert.Contains(ResolvedPackages("src/ModelStages"), p => p.Equals("TorchSharp", StringComparison.OrdinalIgnoreCase));

    [Fact]
    public void TheDataStageAssemblyReferencesNoModelAssembly()
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var pending = new Stack<Assembly>([typeof(IwSft.Stages.Ingest.IngestStage).Assembly]);
        while (pending.TryPop(out var assembly))
            foreach (var name in assembly.GetReferencedAssemblies())
                if (seen.Add(name.Name!) && name.Name!.StartsWith("IwSft", StringComparison.Ordinal))
                    pending.Push(Assembly.Load(name));
        Assert.Contains("IwSft.Runtime", seen);
        Assert.Contains("IwSft.Core", seen);
        Assert.DoesNotContain("IwSft.Gpu", seen);
        Assert.DoesNotContain("IwSft.ModelStages", seen);
        Assert.DoesNotContain(seen, n => n.StartsWith("TorchSharp", StringComparison.Ordinal));
    }

    /// <summary>Package ids (any version) in a project's restore output.</summary>
    static List<string> ResolvedPackages(string project)
    {
        string assets = Path.Combine(TestRepository.Root, project, "obj", "project.assets.json");
        Assert.True(File.Exists(assets), $"{assets} missing: restore the solution first");
        using var doc = JsonDocument.Parse(File.ReadAllText(assets));
        return doc.RootElement.GetProperty("libraries").EnumerateObject()
            .Where(l => l.Value.GetProperty("type").GetString() == "package")
            .Select(l => l.Name.Split('/')[0]).ToList();
    }
}
