using System.Reflection;
using IwSft.Gpu.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>Forced garbage collections slow every test beside them, so these run alone.</summary>
[CollectionDefinition(nameof(NativeCallLifetimeTests), DisableParallelization = true)]
public class NativeCallLifetimeCollection;

/// <summary>
/// TorchSharp's wrappers read a Scalar's or Tensor's native handle and call libtorch without keeping
/// the managed object alive, so a garbage collection during the call can run the finalizer that frees
/// what libtorch is reading ("Unknown scalar type", "toFloat at Scalar.h"). The build gives every
/// output a TorchSharp.dll whose native-calling methods end with GC.KeepAlive of their arguments
/// (build/KeepTorchSharpArgumentsAlive.cs). These tests run the training arithmetic while another
/// thread forces collections back to back: with NuGet's TorchSharp.dll they fail within a few
/// thousand iterations (measured: 9–47 failures per 10 s per loop on the 2-core VM); patched, never.
/// </summary>
[Collection(nameof(NativeCallLifetimeTests))]
public class NativeCallLifetimeTests
{
    [Fact]
    public void The_loaded_TorchSharp_is_the_keep_alive_copy()
    {
        var marker = typeof(torch).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "IwSft.KeepAlive");
        Assert.True(marker is not null,
            $"{typeof(torch).Assembly.Location} is NuGet's unpatched TorchSharp.dll: the IwSftKeepAliveTorchSharp build target did not run");
        Assert.Equal("1", marker!.Value);
    }

    [Fact]
    public void Training_arithmetic_survives_collections_during_native_calls()
    {
        using var policy = randn(4, 16); using var reference = randn(4, 16); using var mask = ones(4, 16);
        using var lengths = full(4, 16L);
        // Control training uses TorchSharp's Adam, whose step builds its Scalars internally.
        using var layer = nn.Linear(16, 16);
        var adam = optim.Adam(layer.parameters(), lr: 1e-3);
        UnderCollections(6_000, () =>
        {
            ImportanceWeights.Sequence(policy, reference, mask, temperature: 1.0, minWeight: 0, maxWeight: 16);
            ImportanceWeights.Token(policy, reference, mask);
            ImportanceWeights.Trajectory(policy.sum(1), reference.sum(1), lengths);
            // Scalars nothing disposes: the double operand, pow's exponent, the alpha = 1 of a + b, clamp's bounds.
            var y = policy * 2.0;
            _ = ((y.pow(2) + policy) - 1.5).clamp(-3.0, 3.0);
            adam.zero_grad(); layer.forward(policy).pow(2).mean().backward(); adam.step();
        });
    }

    [Fact]
    public void Trainer_steps_survive_collections()
    {
        var data = TrainerTests.Data();
        var config = new TrainerConfig
        {
            Loss = LossKind.IwSftSequence, LearningRate = 1e-2, GlobalBatchSize = 4, MicroBatchSize = 2, Epochs = 40, Seed = 3, MaxGradNorm = 1.0,
        };
        var model = new TinyLanguageModel();
        using var trainer = new Trainer(model, data, config);
        UnderCollections(1, () => trainer.Run(null));
        Assert.All(model.TrainableParameters(), p => Assert.False(p.isnan().any().item<bool>()));
    }

    /// <summary>Runs <paramref name="body"/> <paramref name="iterations"/> times, each in its own dispose scope,
    /// while another thread collects garbage and runs finalizers without pause; every failure is reported.</summary>
    static void UnderCollections(int iterations, Action body)
    {
        var stop = 0;
        var hammer = new Thread(() =>
        {
            while (Volatile.Read(ref stop) == 0) { GC.Collect(); GC.WaitForPendingFinalizers(); }
        }) { IsBackground = true, Name = "gc-hammer" };
        var failures = new List<string>();
        hammer.Start();
        try
        {
            for (int i = 0; i < iterations; i++)
            {
                try { using var scope = NewDisposeScope(); body(); }
                catch (Exception e) { failures.Add($"iteration {i}: {e.GetType().Name}: {e.Message.Split('\n')[0]}"); }
            }
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            hammer.Join();
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of {iterations} iterations failed in native code:\n" + string.Join("\n", failures.Take(5)));
    }
}
