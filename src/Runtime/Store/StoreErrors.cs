namespace IwSft.Runtime;

/// <summary>
/// A store metadata file (lock, cache entry, run record, object sidecar) that exists but cannot be trusted:
/// not valid JSON, the wrong shape, or a hash that is not 64 lowercase hex characters. The message names the
/// file. Commands that would act on it stop; <c>gc</c> deletes nothing.
/// </summary>
public sealed class StoreFileCorruptException(string file, string problem, string? consequence = null)
    : IOException($"store file {file} is unreadable: {problem}; {consequence ?? "nothing was changed (repair or delete the file, then rerun)"}")
{
    public string File { get; } = file;
    public string Problem { get; } = problem;
}

/// <summary>An artifact whose bytes no longer hash to its address (found while it was read or verified). It was moved to quarantine/.</summary>
public sealed class ArtifactCorruptException(string artifact, string expectedHash, string actualHash)
    : IOException($"artifact {artifact} ({expectedHash[..12]}) is corrupt: its content hashes to {(actualHash.Length >= 12 ? actualHash[..12] : actualHash)}, not to its address; " +
                           "it was moved to quarantine/ and nothing computed from it was stored; rerun the pipeline to recompute it")
{
    public string Artifact { get; } = artifact;
    public string ExpectedHash { get; } = expectedHash;
}

/// <summary>The store is held by another process in a conflicting mode (gc while runs are active, or the reverse, past the wait limit).</summary>
public sealed class StoreBusyException(string message) : InvalidOperationException(message);
