using static TorchSharp.torch;

namespace IwSft.Gpu.Models;

/// <summary>
/// Activation recomputation: the forward runs without recording a graph and keeps only its input;
/// backward replays the function with autograd on and differentiates it with respect to the input
/// and the parameters (passed in as function inputs so autograd routes their gradients here).
/// Both the forward and the replay run in their own dispose scope: in TorchSharp an intermediate
/// tensor lives as long as its handle, so without the scope every replayed layer's tensors would stay
/// allocated until the caller's scope ends (or until the GC, on the autograd engine's device threads).
/// </summary>
public static class Checkpointing
{
    public static Tensor Run(Func<Tensor, Tensor> f, Tensor x, IEnumerable<Tensor> parameters)
    {
        var args = new List<object> { f, x };
        args.AddRange(parameters);
        return Recompute.apply(args.ToArray());
    }

    /// <summary>Runs <paramref name="f"/> in a dispose scope and keeps only its result: its intermediates are
    /// freed on return (autograd holds its own references to what backward needs).</summary>
    public static Tensor Scoped(Func<Tensor> f)
    {
        using var scope = NewDisposeScope();
        return f().MoveToOuterDisposeScope();
    }

    sealed class Recompute : autograd.SingleTensorFunction<Recompute>
    {
        // The autograd engine copies the gradients a backward returns, so the C# handles can go once it has them, i.e.
        // at this thread's next backward. Kept in no dispose scope: otherwise every layer's returned parameter
        // gradients would live until the caller's scope ends (a full model's worth of gradients again).
        [ThreadStatic] static List<Tensor>? _returned;

        public override string Name => "RecomputeCheckpoint";

        public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
        {
            var f = (Func<Tensor, Tensor>)vars[0];
            var x = (Tensor)vars[1];
            ctx.save_data("f", f);
            ctx.save_data("params", vars.Skip(2).Cast<Tensor>().ToList());
            ctx.save_for_backward(new List<Tensor> { x });
            using var _ = no_grad();
            return Scoped(() => f(x));
        }

        public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
        {
            var f = (Func<Tensor, Tensor>)ctx.get_data("f");
            var ps = (List<Tensor>)ctx.get_data("params");
            if (_returned is not null) foreach (var t in _returned) t.Dispose();
            _returned = new List<Tensor>();
            using var scope = NewDisposeScope();
            var x = ctx.get_saved_variables()[0].detach().requires_grad_(true);
            using var _ = enable_grad();
            var y = f(x);
            var inputs = new List<Tensor> { x };
            inputs.AddRange(ps);
            var grads = autograd.grad(new List<Tensor> { y }, inputs, new List<Tensor> { gradOutput }, allow_unused: true);
            // One gradient per apply() argument: none for the function itself. Only the gradients leave the scope.
            var result = new List<Tensor> { null! };
            foreach (var g in grads)
            {
                if (g is not null) { g.DetachFromDisposeScope(); _returned.Add(g); }
                result.Add(g!);
            }
            // The engine's handle to the incoming gradient is registered in the caller's scope, if any; release it now.
            gradOutput.Dispose();
            return result;
        }
    }
}
