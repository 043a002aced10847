using System.Runtime.InteropServices;

namespace IwSft.Runtime.Store;

/// <summary>
/// What kind of file system entry a path is (following symbolic links), from <c>statx(2)</c>: .NET reports a
/// FIFO or a device as an ordinary file, and hashing one would block forever (a FIFO without a writer) or
/// never end (<c>/dev/zero</c>). Where statx is unavailable (Windows, very old C libraries) every entry counts as regular.
/// </summary>
internal static class FileKinds
{
    /// <summary>Null for a regular file, a directory or a missing path; otherwise what it is ("a FIFO (named pipe)", ...).</summary>
    public static string? Irregular(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        var buf = new byte[256];
        int rc;
        try { rc = Statx(AtFdCwd, path, 0, StatxType, buf); }
        catch (EntryPointNotFoundException) { return null; }
        catch (DllNotFoundException) { return null; }
        if (rc != 0) return null; // missing or unreadable: the caller's own open reports it
        int mode = BitConverter.ToUInt16(buf, 28) & 0xF000; // struct statx: stx_mode at byte 28 on every architecture
        return mode switch
        {
            0x8000 or 0x4000 => null,           // S_IFREG, S_IFDIR
            0x1000 => "a FIFO (named pipe)",    // S_IFIFO
            0x2000 => "a character device",     // S_IFCHR
            0x6000 => "a block device",         // S_IFBLK
            0xC000 => "a socket",               // S_IFSOCK
            _ => "not a regular file",
        };
    }

    /// <summary>Throws a one-line <see cref="InvalidDataException"/> unless <paramref name="path"/> is a regular file or a directory.</summary>
    public static void RequireRegular(string path)
    {
        if (Irregular(path) is { } what)
            throw new InvalidDataException($"'{path}' is {what}, not a regular file: inputs must be regular files or directories of regular files");
    }

    const int AtFdCwd = -100;
    const uint StatxType = 0x1;

    // A blittable byte[] is pinned and passed as a pointer, so statx writes straight into it.
    [DllImport("libc", EntryPoint = "statx", CharSet = CharSet.Ansi)]
    static extern int Statx(int dirfd, string path, int flags, uint mask, byte[] buf);
}
