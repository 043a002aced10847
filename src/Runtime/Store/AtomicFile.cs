using System.Text;

namespace IwSft.Runtime.Store;

/// <summary>Small metadata files written as temp + fsync + rename, so readers see the old or the new file, never half.</summary>
internal static class AtomicFile
{
    public static void WriteAllText(string path, string text)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        // The process id in the name lets gc tell the leftovers of dead processes from files being written.
        var tmp = $"{path}.tmp-{Environment.ProcessId}-{Guid.NewGuid():N}";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            {
                var bytes = Encoding.UTF8.GetBytes(text);
                fs.Write(bytes);
                // Stryker disable once all : durability against power loss; no test can pull the plug (docs/testing.md)
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { } // e.g. the disk is full
            throw;
        }
    }
}
