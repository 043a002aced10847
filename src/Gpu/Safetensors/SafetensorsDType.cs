using TorchSharp;

namespace IwSft.Gpu.Safetensors;

/// <summary>The dtype names of the safetensors format and their TorchSharp scalar types.</summary>
public static class SafetensorsDType
{
    static readonly (string Name, torch.ScalarType Type, int Bytes)[] Table =
    {
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
    };

    public static bool TryParse(string name, out torch.ScalarType type, out int elementBytes)
    {
        foreach (var (n, t, b) in Table)
            if (n == name) { type = t; elementBytes = b; return true; }
        type = default; elementBytes = 0;
        return false;
    }

    public static string NameOf(torch.ScalarType type)
    {
        foreach (var (n, t, _) in Table) if (t == type) return n;
        throw new NotSupportedException($"dtype {type} cannot be stored in safetensors by this writer");
    }

    public static int ElementBytes(torch.ScalarType type)
    {
        foreach (var (_, t, b) in Table) if (t == type) return b;
        throw new NotSupportedException($"dtype {type} cannot be stored in safetensors by this writer");
    }

    /// <summary>Parses "bfloat16"/"float16"/"float32" (HF config torch_dtype) or "bf16"/"fp16"/"fp32".</summary>
    public static torch.ScalarType ParseTorchName(string name) => name.ToLowerInvariant() switch
    {
        "bfloat16" or "bf16" => torch.ScalarType.BFloat16,
        "float16" or "fp16" or "half" => torch.ScalarType.Float16,
        "float32" or "fp32" or "float" => torch.ScalarType.Float32,
        _ => throw new ArgumentException($"unknown dtype '{name}' (expected bfloat16, float16 or float32)"),
    };

    public static string TorchName(torch.ScalarType type) => type switch
    {
        torch.ScalarType.BFloat16 => "bfloat16",
        torch.ScalarType.Float16 => "float16",
        torch.ScalarType.Float32 => "float32",
        _ => throw new ArgumentException($"dtype {type} is not a model dtype"),
    };
}
