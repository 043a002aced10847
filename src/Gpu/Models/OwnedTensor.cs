using static TorchSharp.torch;

namespace IwSft.Gpu.Models;

/// <summary>
/// Tensors made from managed arrays as libtorch-owned copies. TorchSharp's <c>tensor(array)</c> wraps the pinned
/// array itself, whose address (and so its alignment) is wherever the garbage collector put it; the CPU matmul
/// kernels take alignment-dependent paths (a different split into vector and scalar loads), so the same input at
/// another address can round differently in the last bit. A copy lives in libtorch's allocator, which aligns
/// every buffer to 64 bytes: the same numbers give the same results in every run.
/// </summary>
public static class OwnedTensor
{
    public static Tensor From(float[] data, params long[] shape)
    {
        using var view = tensor(data, shape);
        return view.clone();
    }
}
