using System.Security.Cryptography;
using System.Text;

namespace IwSft.Pipelines.Demo.Stages;

/// <summary>Stable ids and per-record random streams, so a record's output never depends on batching or order.</summary>
public static class DemoIds
{
    /// <summary>First 16 hex of sha256 over the parts joined by U+001F (the s1 id convention when one part).</summary>
    public static string Sha16(params string[] parts) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', parts))))[..16];

    /// <summary>A <see cref="Random"/> seeded from (seed, record id, purpose).</summary>
    public static Random RecordRandom(long seed, string recordId, string purpose)
    {
        var h = SHA256.HashData(Encoding.UTF8.GetBytes($"{seed}\u001f{recordId}\u001f{purpose}"));
        return new Random(BitConverter.ToInt32(h, 0) & int.MaxValue);
    }
}
