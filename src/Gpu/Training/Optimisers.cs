using TorchSharp;
using static TorchSharp.torch;

namespace IwSft.Gpu.Training;

/// <summary>
/// An optimiser whose whole state is a list of named tensors plus a step counter, so the trainer can
/// checkpoint and restore it bit-exactly. (TorchSharp's built-in optimisers keep their state behind
/// native handles with no stable save/load format; writing AdamW on tensors is a dozen lines and
/// exact, and lets us keep fp32 master weights for bf16 models.)
/// </summary>
public interface ITensorOptimiser : IDisposable
{
    IReadOnlyList<TorchSharp.Modules.Parameter> Parameters { get; }
    long StepCount { get; }
    /// <summary>Applies one update with the gradients currently in the parameters' .grad.</summary>
    void Step(double learningRate);
    void ZeroGrad();
    /// <summary>Everything needed to continue bit-exactly, as tensors (CPU copies are made by the saver).</summary>
    IReadOnlyList<Tensor> StateTensors();
    /// <summary>Restores state written by <see cref="StateTensors"/> (same order and shapes).</summary>
    void LoadState(long stepCount, IReadOnlyList<Tensor> state);
}

/// <summary>
/// AdamW, the same arithmetic as torch.optim.AdamW (decoupled weight decay p ← p·(1 − lr·wd) before the
/// Adam update; bias-corrected moments; ε added to √v̂). Parameters that are not float32 (a bf16 model)
/// are updated through an fp32 master copy which is then cast back into the parameter.
/// </summary>
public sealed class AdamW : ITensorOptimiser
{
    readonly List<TorchSharp.Modules.Parameter> _params;
    readonly Tensor[] _m, _v;
    readonly Tensor?[] _master;

    public AdamW(IEnumerable<TorchSharp.Modules.Parameter> parameters, double beta1 = 0.9, double beta2 = 0.95,
                 double epsilon = 1e-8, double weightDecay = 1e-4)
    {
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), "betas must be in [0, 1)");
        _params = parameters.ToList();
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
        _m = new Tensor[_params.Count]; _v = new Tensor[_params.Count]; _master = new Tensor?[_params.Count];
        using var _ = no_grad();
        for (int i = 0; i < _params.Count; i++)
        {
            var p = _params[i];
            _master[i] = p.dtype == ScalarType.Float32 ? null : p.detach().to(ScalarType.Float32).clone();
            _m[i] = zeros(p.shape, ScalarType.Float32, p.device);
            _v[i] = zeros(p.shape, ScalarType.Float32, p.device);
        }
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    public long StepCount { get; private set; }
    public IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => _params;

    public void Step(double learningRate)
    {
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        double stepSize = learningRate / bc1, bc2Sqrt = Math.Sqrt(bc2);
        using var _ = no_grad();
        for (int i = 0; i < _params.Count; i++)
        {
            var p = _params[i];
            using var grad = p.grad;
            if (grad is null) continue;
            using var scope = NewDisposeScope();
            var g = grad.to(ScalarType.Float32);
            var target = _master[i] ?? p;
            target.mul_(1 - learningRate * WeightDecay);
            _m[i].mul_(Beta1).add_(g, alpha: 1 - Beta1);
            _v[i].mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
            var denom = (_v[i].sqrt() / bc2Sqrt).add_(Epsilon);
            target.addcdiv_(_m[i], denom, value: -stepSize);
            if (_master[i] is { } master) p.copy_(master);
        }
    }

    public void ZeroGrad()
    {
        foreach (var p in _params)
        {
            using var g = p.grad;
            g?.zero_();
        }
    }

    public IReadOnlyList<Tensor> StateTensors()
    {
        var list = new List<Tensor>(_m);
        list.AddRange(_v);
        list.AddRange(_master.Where(t => t is not null)!);
        return list;
    }

    public void LoadState(long stepCount, IReadOnlyList<Tensor> state)
    {
        int masters = _master.Count(t => t is not null);
        if (state.Count != 2 * _params.Count + masters)
            throw new InvalidDataException($"AdamW state has {state.Count} tensors, expected {2 * _params.Count + masters}");
        using var _ = no_grad();
        for (int i = 0; i < _params.Count; i++)
        {
            _m[i].copy_(state[i]);
            _v[i].copy_(state[_params.Count + i]);
        }
        int k = 2 * _params.Count;
        for (int i = 0; i < _params.Count; i++)
            if (_master[i] is { } master) master.copy_(state[k++]);
        StepCount = stepCount;
    }

    public void Dispose()
    {
        foreach (var t in _m.Concat(_v)) t.Dispose();
        foreach (var t in _master) t?.Dispose();
    }
}

/// <summary>Plain gradient descent p ← p − lr·g. Used where the dynamics must be analysable (the bandit).</summary>
public sealed class Sgd : ITensorOptimiser
{
    readonly List<TorchSharp.Modules.Parameter> _params;

    public Sgd(IEnumerable<TorchSharp.Modules.Parameter> parameters) => _params = parameters.ToList();

    public IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => _params;
    public long StepCount { get; private set; }

    public void Step(double learningRate)
    {
        StepCount++;
        using var _ = no_grad();
        foreach (var p in _params)
        {
            using var g = p.grad;
            if (g is not null) p.add_(g, alpha: -learningRate);
        }
    }

    public void ZeroGrad()
    {
        foreach (var p in _params)
        {
            using var g = p.grad;
            g?.zero_();
        }
    }

    public IReadOnlyList<Tensor> StateTensors() => [];

    public void LoadState(long stepCount, IReadOnlyList<Tensor> state)
    {
        if (state.Count != 0) throw new InvalidDataException($"SGD has no state tensors, got {state.Count}");
        StepCount = stepCount;
    }

    public void Dispose() { }
}
