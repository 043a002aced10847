using System.Text;
using System.Text.Json;
using TorchSharp;

namespace IwSft.Gpu.Safetensors;

/// <summary>
/// Writes tensors in the safetensors layout (8-byte little-endian header length, JSON header, data
/// section in header order), readable by the Python `safetensors` package. The file is written to
/// a temporary name and moved into place, so a failed write never leaves a half file behind.
/// </summary>
public static class SafetensorsWriter
{
    public static void Write(string path, IReadOnlyList<(string Name, torch.Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new Dictionary<string, object>();
        if (metadata is { Count: > 0 }) header["__metadata__"] = metadata;
        long offset = 0;
        foreach (var (name, t) in tensors)
        {
            if (name == "__metadata__") throw new ArgumentException("'__metadata__' is reserved and cannot name a tensor");
            long bytes = t.numel() * SafetensorsDType.ElementBytes(t.dtype);
            header[name] = new Dictionary<string, object>
            {
                ["dtype"] = SafetensorsDType.NameOf(t.dtype),
                ["shape"] = t.shape,
                ["data_offsets"] = new[] { offset, offset + bytes },
            };
            offset += bytes;
        }
        var json = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(header));
        // Pad the header with spaces to an 8-byte boundary, as the reference writer does, so data is aligned.
        int padded = (json.Length + 7) / 8 * 8;
        var headerBytes = new byte[padded];
        Array.Fill(headerBytes, (byte)' ');
        json.CopyTo(headerBytes, 0);

        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                fs.Write(BitConverter.GetBytes((ulong)padded));
                fs.Write(headerBytes);
                foreach (var (_, t) in tensors)
                {
                    if (t.numel() == 0) continue;
                    using var cpu = t.detach().cpu().contiguous();
                    fs.Write(cpu.bytes);
                }
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }
}
