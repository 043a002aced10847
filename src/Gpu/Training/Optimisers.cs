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
/// <para>
/// With <c>stateOnHost</c> the moments m, v and any fp32 master copy live in host memory (pinned when a
/// parameter is on CUDA) instead of beside the parameter — the ZeRO-Offload placement. Each step streams
/// every parameter through the device in chunks of at most <c>offloadChunkElements</c> elements: copy the
/// chunk's state in, apply <see cref="Update"/> (the very code of the on-device path, and every op is
/// elementwise, so the result is bit-identical), copy it back. Extra device memory is one chunk's state and
/// temporaries, however large the parameter (an embedding of 0.78B elements never has its moments on the GPU).
/// </para>
/// </summary>
public sealed class AdamW : ITensorOptimiser
{
    /// <summary>64 Mi elements: 256 MiB per fp32 chunk buffer, large enough that each copy runs at PCIe speed.</summary>
    public const long DefaultOffloadChunkElements = 64L << 20;

    readonly List<TorchSharp.Modules.Parameter> _params;
    readonly Tensor[] _m, _v;
    readonly Tensor?[] _master;
    bool _pin;

    public AdamW(IEnumerable<TorchSharp.Modules.Parameter> parameters, double beta1 = 0.9, double beta2 = 0.95,
                 double epsilon = 1e-8, double weightDecay = 1e-4, bool stateOnHost = false,
                 long offloadChunkElements = DefaultOffloadChunkElements)
    {
        if (beta1 is < 0 or >= 1 || beta2 is < 0 or >= 1) throw new ArgumentOutOfRangeException(nameof(beta1), "betas must be in [0, 1)");
        if (offloadChunkElements <= 0) throw new ArgumentOutOfRangeException(nameof(offloadChunkElements), $"the offload chunk must hold at least one element, got {offloadChunkElements}");
        _params = parameters.ToList();
        Beta1 = beta1; Beta2 = beta2; Epsilon = epsilon; WeightDecay = weightDecay;
        StateOnHost = stateOnHost; OffloadChunkElements = offloadChunkElements;
        // Pinned (page-locked) host memory lets the GPU DMA the chunks directly; it only exists with CUDA.
        _pin = stateOnHost && _params.Any(p => p.device_type == DeviceType.CUDA);
        _m = new Tensor[_params.Count]; _v = new Tensor[_params.Count]; _master = new Tensor?[_params.Count];
        using var _ = no_grad();
        for (int i = 0; i < _params.Count; i++)
        {
            var p = _params[i];
            // The offloaded update works on flat views, which only in-place-update a contiguous parameter.
            if (stateOnHost && !p.is_contiguous()) throw new ArgumentException($"parameter {i} (shape [{string.Join(", ", p.shape)}]) is not contiguous; host-offloaded AdamW needs contiguous parameters");
            var stateDevice = stateOnHost ? CPU : p.device;
            _master[i] = p.dtype == ScalarType.Float32 ? null : Place(p.detach().to(stateDevice).to(ScalarType.Float32).clone());
            _m[i] = Place(zeros(p.shape, ScalarType.Float32, stateDevice));
            _v[i] = Place(zeros(p.shape, ScalarType.Float32, stateDevice));
        }
    }

    /// <summary>Pins a host state tensor; where the host refuses to pin (a locked-memory limit) the state stays pageable: correct, slower copies.</summary>
    Tensor Place(Tensor t)
    {
        if (!_pin) return t;
        Tensor pinned;
        try { pinned = t.pin_memory(); }
        catch (Exception) { _pin = false; return t; }
        t.Dispose();
        return pinned;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Epsilon { get; }
    public double WeightDecay { get; }
    /// <summary>Whether m, v and the fp32 masters live in host memory and are streamed through the device each step.</summary>
    public bool StateOnHost { get; }
    /// <summary>Whether all that host state is pinned (page-locked): when offloading for a parameter on CUDA and the host allowed it.</summary>
    public bool PinnedState => _pin;
    /// <summary>The largest number of elements of one parameter brought to its device at once when <see cref="StateOnHost"/>.</summary>
    public long OffloadChunkElements { get; }
    /// <summary>Chunks streamed through the devices so far (a diagnostic: Σ over steps and parameters with a gradient of its chunk count).</summary>
    public long ChunksStreamed { get; private set; }
    public long StepCount { get; private set; }
    public IReadOnlyList<TorchSharp.Modules.Parameter> Parameters => _params;

    /// <summary>Where parameter <paramref name="index"/>'s moments are kept.</summary>
    public Device StateDevice(int index) => _m[index].device;

    /// <summary>
    /// The (start, length) element ranges that split a parameter of <paramref name="elements"/> elements into chunks of at
    /// most <paramref name="chunkElements"/>; the last one holds the remainder.
    /// </summary>
    public static IEnumerable<(long Start, long Length)> OffloadChunks(long elements, long chunkElements)
    {
        if (chunkElements <= 0) throw new ArgumentOutOfRangeException(nameof(chunkElements));
        for (long start = 0; start < elements; start += chunkElements)
            yield return (start, Math.Min(chunkElements, elements - start));
    }

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
            if (StateOnHost) { StepStreamed(i, grad, learningRate, stepSize, bc2Sqrt); continue; }
            using var scope = NewDisposeScope();
            var target = _master[i] ?? p;
            Update(target, _m[i], _v[i], grad.to(ScalarType.Float32), learningRate, stepSize, bc2Sqrt);
            if (_master[i] is { } master) p.copy_(master);
        }
    }

    /// <summary>One AdamW update of <paramref name="target"/> (all fp32, same device): the whole arithmetic of both placements.</summary>
    void Update(Tensor target, Tensor m, Tensor v, Tensor g, double learningRate, double stepSize, double bc2Sqrt)
    {
        target.mul_(1 - learningRate * WeightDecay);
        m.mul_(Beta1).add_(g, alpha: 1 - Beta1);
        v.mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
        using var denom = v.sqrt().div_(bc2Sqrt).add_(Epsilon);
        target.addcdiv_(m, denom, value: -stepSize);
    }

    void StepStreamed(int i, Tensor grad, double learningRate, double stepSize, double bc2Sqrt)
    {
        var p = _params[i];
        var device = p.device;
        // On a CPU parameter host and device coincide: the chunks are updated in place, no copies.
        bool copy = p.device_type != DeviceType.CPU;
        using var pFlat = p.view(-1);
        using var gFlat = grad.reshape(-1);
        using var mFlat = _m[i].view(-1);
        using var vFlat = _v[i].view(-1);
        using var masterFlat = _master[i]?.view(-1);
        foreach (var (start, length) in OffloadChunks(p.numel(), OffloadChunkElements))
        {
            using var scope = NewDisposeScope();
            var mHost = mFlat.narrow(0, start, length);
            var vHost = vFlat.narrow(0, start, length);
            var masterHost = masterFlat?.narrow(0, start, length);
            var m = copy ? mHost.to(device) : mHost;
            var v = copy ? vHost.to(device) : vHost;
            var master = masterHost is null ? null : copy ? masterHost.to(device) : masterHost;
            var pChunk = pFlat.narrow(0, start, length);
            Update(master ?? pChunk, m, v, gFlat.narrow(0, start, length).to(ScalarType.Float32), learningRate, stepSize, bc2Sqrt);
            if (master is not null) pChunk.copy_(master);
            if (copy)
            {
                mHost.copy_(m);
                vHost.copy_(v);
                masterHost?.copy_(master!);
            }
            ChunksStreamed++;
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
