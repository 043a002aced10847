using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Gpu.Tests;

/// <summary>
/// TorchSharp's native library loads on this machine (the build weakens its GLIBCXX_3.4.32
/// requirement where the system libstdc++ lacks it) and does real work: tensors, a forward and
/// backward pass, and an AdamW step that lowers the loss.
/// </summary>
public class TorchSharpLoadTests
{
    [Fact]
    public void TensorsMatmulAutogradAndAdamWWork()
    {
        var a = tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var b = tensor(new float[] { 5, 6, 7, 8 }).reshape(2, 2);
        var c = matmul(a, b);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, c.data<float>().ToArray());

        manual_seed(1234);
        var model = nn.Sequential(("l1", nn.Linear(4, 8)), ("act", nn.Tanh()), ("l2", nn.Linear(8, 1)));
        var x = randn(16, 4);
        var y = x.sum(1, keepdim: true);
        var opt = optim.AdamW(model.parameters(), lr: 1e-2, weight_decay: 1e-4);
        float first = 0, last = 0;
        for (int step = 0; step < 50; step++)
        {
            opt.zero_grad();
            var loss = nn.functional.mse_loss(model.forward(x), y);
            loss.backward();
            foreach (var p in model.parameters()) Assert.NotNull(p.grad);
            opt.step();
            if (step == 0) first = loss.item<float>();
            last = loss.item<float>();
        }
        Assert.True(last < first * 0.5f, $"AdamW did not reduce the loss: first {first}, last {last}");
    }
}
