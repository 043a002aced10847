using IwSft.Gpu.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

public class OptimiserAndScheduleTests
{
    [Fact]
    public void AdamW_matches_torch_adamw_step_for_step()
    {
        var ours = new TorchSharp.Modules.Parameter(tensor(new[] { 0.5f, -1.0f, 2.0f }));
        var theirs = new TorchSharp.Modules.Parameter(tensor(new[] { 0.5f, -1.0f, 2.0f }));
        var adam = new AdamW([ours], beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1);
        var reference = optim.AdamW([theirs], lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8, weight_decay: 0.1);
        for (int step = 0; step < 5; step++)
        {
            foreach (var p in new[] { ours, theirs })
            {
                p.grad?.zero_();
                (p * p * p).sum().backward();   // gradient 3p², different every step
            }
            adam.Step(0.01);
            reference.step();
        }
        Assert.True(allclose(ours, theirs, rtol: 1e-6, atol: 1e-7), $"ours [{string.Join(", ", ours.data<float>().ToArray())}] vs torch [{string.Join(", ", theirs.data<float>().ToArray())}]");
    }

    [Fact]
    public void AdamW_keeps_fp32_master_weights_for_bf16_parameters()
    {
        // 1 + 1e-3 is not representable in bf16 (spacing 2^-7 near 1), so a bf16-only update would be lost.
        var p = new TorchSharp.Modules.Parameter(ones(1, ScalarType.BFloat16));
        var adam = new AdamW([p], weightDecay: 0);
        for (int i = 0; i < 10; i++)
        {
            p.grad?.zero_();
            (p.to(ScalarType.Float32) * -1).sum().backward();   // gradient −1 → each step adds lr
            adam.Step(1e-3);
        }
        // master: 1 + 10·1e-3 = 1.01 → bf16 rounds to 1.0078125 (nearest multiple of 2^-7)
        Assert.Equal(1.0078125, p.to(ScalarType.Float32).item<float>(), 1e-7);
        Assert.Equal(1.01, adam.StateTensors()[2].item<float>(), 1e-5);
    }

    [Fact]
    public void Schedule_warms_up_linearly_then_follows_cosine_to_the_floor()
    {
        // 100 steps, 5% warmup = 5 steps: lr(s) = 1e-5·s/5 for s < 5.
        var s = new LearningRateSchedule(1e-5, 100);
        Assert.Equal(5, s.Warmup);
        Assert.Equal(0.0, s.At(0));
        Assert.Equal(0.6e-5, s.At(3), 1e-15);
        Assert.Equal(1e-5, s.At(5), 1e-15);                                   // cosine starts at the peak
        Assert.Equal(0.5 * 1e-5 * (1 + Math.Cos(Math.PI * 47 / 95.0)), s.At(52), 1e-18);
        Assert.Equal(0.0, s.At(100), 1e-18);
        // floor and explicit warmup steps (control: 300 warmup of 2000)
        var c = new LearningRateSchedule(4e-5, 2000, MinLearningRate: 1e-6, WarmupSteps: 300);
        Assert.Equal(4e-5 * 150 / 300, c.At(150), 1e-18);
        Assert.Equal(1e-6, c.At(2000), 1e-18);
        Assert.Equal(1e-6 + (4e-5 - 1e-6) * 0.5 * (1 + Math.Cos(Math.PI * 850 / 1700.0)), c.At(1150), 1e-18);
        // ceil: 5% of 30 steps = 1.5 → 2 warmup steps
        Assert.Equal(2, new LearningRateSchedule(1, 30).Warmup);
    }
}
