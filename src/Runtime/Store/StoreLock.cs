namespace IwSft.Runtime.Store;

/// <summary>
/// The store-wide reader/writer lock, an advisory <c>flock</c> on <c>ROOT/store.lock</c> (through
/// <see cref="FileShare"/>: a shared lock for FileShare.ReadWrite, an exclusive one for FileShare.None; the
/// kernel drops it when the process dies, even on SIGKILL). Runs, <c>status</c>, <c>show</c> and <c>why</c>
/// hold it shared, so runs of different pipelines go on side by side; <c>gc</c> holds it exclusively, so it
/// never deletes anything while any of them is using the store.
/// </summary>
internal sealed class StoreLock : IDisposable
{
    readonly FileStream _handle;
    StoreLock(FileStream handle) => _handle = handle;

    internal static string PathOf(string root) => Path.Combine(root, "store.lock");

    /// <summary>How long a shared holder waits for gc to finish before giving up.</summary>
    internal static TimeSpan SharedWait { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>Shared lock; waits (polling, cancellable) while gc holds the store.</summary>
    public static StoreLock Shared(string root, CancellationToken ct = default)
    {
        var path = PathOf(root);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        int delayMs = 10;
        while (true)
        {
            try { return new StoreLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.Read, FileShare.ReadWrite)); }
            catch (IOException) when (IsContention(path))
            {
                if (waited.Elapsed > SharedWait)
                    throw new StoreBusyException($"store {root} has been locked by gc for {waited.Elapsed.TotalMinutes:F0} minutes (lock {path}); try again later");
            }
            if (ct.WaitHandle.WaitOne(delayMs)) ct.ThrowIfCancellationRequested();
            delayMs = Math.Min(delayMs * 2, 500);
        }
    }

    /// <summary>
    /// A shared lock for a read-only reader: opens an existing lock file only (a store nothing has run in has none,
    /// and a reader creates nothing), else holds nothing. It never conflicts with a run, which also holds it shared.
    /// </summary>
    public static IDisposable SharedIfPresent(string root, CancellationToken ct = default)
    {
        var path = PathOf(root);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        int delayMs = 10;
        while (true)
        {
            try { return new StoreLock(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite)); }
            catch (FileNotFoundException) { return new NoLock(); }
            catch (DirectoryNotFoundException) { return new NoLock(); }
            catch (IOException) when (IsContention(path))
            {
                if (waited.Elapsed > SharedWait)
                    throw new StoreBusyException($"store {root} has been locked by gc for {waited.Elapsed.TotalMinutes:F0} minutes (lock {path}); try again later");
            }
            if (ct.WaitHandle.WaitOne(delayMs)) ct.ThrowIfCancellationRequested();
            delayMs = Math.Min(delayMs * 2, 500);
        }
    }

    sealed class NoLock : IDisposable { public void Dispose() { } }

    /// <summary>Exclusive lock, or <see cref="StoreBusyException"/> at once when anything else holds the store.</summary>
    public static StoreLock Exclusive(string root, string purpose)
    {
        var path = PathOf(root);
        try { return new StoreLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None)); }
        catch (IOException) when (IsContention(path))
        {
            throw new StoreBusyException($"{purpose}: store {root} is in use by another iwsft process (a run, status, show or why); " +
                                         "nothing was deleted; run it again when they have finished");
        }
    }

    // A failed open of an existing lock file is contention; anything else (no such directory, no permission) is not.
    static bool IsContention(string path) => File.Exists(path);

    public void Dispose() => _handle.Dispose();
}
