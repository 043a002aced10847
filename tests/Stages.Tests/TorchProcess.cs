using System.Runtime.CompilerServices;
using IwSft.Gpu;

namespace IwSft.Stages.Tests;

/// <summary>
/// This test process is a host like `iwsft run`: it sets libtorch's thread count once, before any test touches a
/// tensor (pipelines and stages never do; see <see cref="TorchThreads"/>).
/// </summary>
static class TorchProcess
{
#pragma warning disable CA2255 // a test assembly is the host here
    [ModuleInitializer]
    internal static void Configure() => TorchThreads.ConfigureProcess(TorchThreads.PipelineRun);
#pragma warning restore CA2255
}
