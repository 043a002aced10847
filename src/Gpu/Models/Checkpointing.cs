using static TorchSharp.torch;

namespace IwSft.Gpu.Models;

/// <summary>
/// Activation recomputation: the forward runs without recording a graph and keeps only its input;
/// backward replays the function with autograd on and differentiates it with respect to the input
/// and the parameters (passed in as function inputs so autograd routes their gradients here).
/// </summary>
public static class Checkpointing
{
    public static Tensor Run(Func<Tensor, Tensor> f, Tensor x, IEnumerable<Tensor> parameters)
    {
        var args = new List<object> { f, x };
        args.AddRange(parameters);
        return Recompute.apply(args.ToArray());
    }

    sealed class Recompute : autograd.SingleTensorFunction<Recompute>
    {
        public override string Name => "RecomputeCheckpoint";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var f = (Func<Tensor, Tensor>)vars[0];
            var x = (Tensor)vars[1];
            ctx.save_data("f", f);
            ctx.save_data("params", vars.Skip(2).Cast<Tensor>().ToList());
            ctx.save_for_backward(new List<Tensor> { x });
            using var _ = no_grad();
            return f(x);
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var f = (Func<Tensor, Tensor>)ctx.get_data("f");
            var ps = (List<Tensor>)ctx.get_data("params");
            var x = ctx.get_saved_variables()[0].detach().requires_grad_(true);
            using var _ = enable_grad();
            var y = f(x);
            var inputs = new List<Tensor> { x };
            inputs.AddRange(ps);
            var grads = autograd.grad(new List<Tensor> { y }, inputs, new List<Tensor> { gradOutput }, allow_unused: true);
            // One gradient per apply() argument: none for the function itself.
            var result = new List<Tensor> { null! };
            result.AddRange(grads);
            return result;
        }
    }
}
