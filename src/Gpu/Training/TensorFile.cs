using System.Text;
using static TorchSharp.torch;

namespace IwSft.Gpu.Training;

/// <summary>
/// A minimal binary list of float32 tensors (magic, count, then per tensor: rank, shape, values), used
/// for trainer state. Values are stored as float32; bf16 parameters round-trip exactly through it.
/// </summary>
public static class TensorFile
{
    const string Magic = "IWSFT-TENSORS-1";

    public static void Write(BinaryWriter writer, IReadOnlyList<Tensor> tensors)
    {
        writer.Write(Magic);
        writer.Write(tensors.Count);
        foreach (var t in tensors)
        {
            using var cpu = t.detach().to(ScalarType.Float32).cpu().contiguous();
            writer.Write(cpu.shape.Length);
            foreach (var d in cpu.shape) writer.Write(d);
            var values = cpu.data<float>().ToArray();
            writer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
    }

    /// <summary>Reads tensors into <paramref name="targets"/> in order (copy_, so device and dtype are the targets').</summary>
    public static void ReadInto(BinaryReader reader, IReadOnlyList<Tensor> targets, string what)
    {
        if (reader.ReadString() != Magic) throw new InvalidDataException($"{what}: not a trainer tensor block");
        int count = reader.ReadInt32();
        if (count != targets.Count) throw new InvalidDataException($"{what}: holds {count} tensors, the model/optimiser has {targets.Count}");
        using var _ = no_grad();
        for (int i = 0; i < count; i++)
        {
            int rank = reader.ReadInt32();
            var shape = new long[rank];
            for (int d = 0; d < rank; d++) shape[d] = reader.ReadInt64();
            if (!shape.SequenceEqual(targets[i].shape))
                throw new InvalidDataException($"{what}: tensor {i} has shape [{string.Join(",", shape)}], expected [{string.Join(",", targets[i].shape)}]");
            long n = shape.Aggregate(1L, (a, b) => a * b);
            var values = new float[n];
            var bytes = reader.ReadBytes(checked((int)(n * 4)));
            if (bytes.Length != n * 4) throw new EndOfStreamException($"{what}: truncated at tensor {i}");
            Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
            using var source = tensor(values, shape, ScalarType.Float32);
            targets[i].copy_(source);
        }
    }
}
