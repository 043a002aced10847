namespace IwSft.Runtime.Tests;

/// <summary>The engine knows nothing of terminals or ML: progress rendering and TorchSharp live above it.</summary>
public class EngineDependencyTests
{
    [Theory]
    [InlineData("Spectre.Console")]
    [InlineData("TorchSharp")]
    public void The_engine_does_not_reference(string assembly)
    {
        var references = typeof(PipelineRunner).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToList();
        Assert.DoesNotContain(assembly, references);
        Assert.Contains("Apache.Arrow", references);   // the check reads real references
    }
}
