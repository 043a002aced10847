using System.Security.Cryptography;
using System.Text;

namespace IwSft.Stages.Evaluate;

/// <summary>
/// Content hash of a checkpoint directory: sha256 over (relative path, size, sha256 of content) of
/// every file, in ordinal path order. Paths and bytes only, never timestamps, so a copied checkpoint
/// hashes the same and an edited one never does.
/// </summary>
public static class CheckpointHasher
{
    public static string Hash(string directory, CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(directory)) throw new DirectoryNotFoundException($"checkpoint directory '{directory}' does not exist");
        var files = Directory.EnumerateFiles(directory, "*", SearchOption.AllDirectories)
            .Select(f => (Path: f, Rel: Path.GetRelativePath(directory, f).Replace('\\', '/')))
            .OrderBy(f => f.Rel, StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0) throw new InvalidDataException($"checkpoint directory '{directory}' is empty");
        using var outer = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (path, rel) in files)
        {
            cancellationToken.ThrowIfCancellationRequested();
            using var s = File.OpenRead(path);
            byte[] content = SHA256.HashData(s);
            outer.AppendData(Encoding.UTF8.GetBytes($"{rel}\0{s.Length}\0"));
            outer.AppendData(content);
        }
        return Convert.ToHexStringLower(outer.GetHashAndReset());
    }
}
