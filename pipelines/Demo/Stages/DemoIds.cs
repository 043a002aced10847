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

    /// <summary>
    /// Whether a clean train problem trains the reference policy (its demonstrations) or is held out for sampling D+:
    /// a hash of the problem id, uniform in [0, 1), below <paramref name="referenceShare"/>. 1 = every problem does both.
    /// </summary>
    public static bool TrainsReference(string problemId, double referenceShare)
    {
        CheckReferenceShare("reference split", referenceShare);
        if (referenceShare == 1) return true;
        var h = SHA256.HashData(Encoding.UTF8.GetBytes("reference-split\u001f" + problemId));
        return (BitConverter.ToUInt64(h, 0) >> 11) * (1.0 / (1UL << 53)) < referenceShare;
    }

    /// <summary>Rejects a share outside (0, 1], naming the stage.</summary>
    public static void CheckReferenceShare(string stage, double referenceShare)
    {
        if (referenceShare is <= 0 or > 1 || double.IsNaN(referenceShare))
            throw new ArgumentException($"stage '{stage}': reference_share must be in (0, 1], got {referenceShare}");
    }
}
