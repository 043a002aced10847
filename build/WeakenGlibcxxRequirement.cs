// MSBuild inline task (compiled by RoslynCodeTaskFactory): sets VER_FLG_WEAK on one version
// requirement of libLibTorchSharp.so when the system libstdc++ does not provide that version.
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class IwSftWeakenGlibcxxRequirement : Task
{
    [Required] public string Directory { get; set; }
    [Required] public string Version { get; set; }

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
    };

    public override bool Execute()
    {
        string lib = Path.Combine(Directory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        if (!File.Exists(lib)) return true;
        string system = Array.Find(LibStdCxxCandidates, File.Exists);
        if (system == null) { Log.LogMessage(MessageImportance.Low, "libstdc++ not found; leaving LibTorchSharp as is"); return true; }
        if (Contains(File.ReadAllBytes(system), Encoding.ASCII.GetBytes(Version + "\0")))
        {
            Log.LogMessage(MessageImportance.Low, system + " provides " + Version + "; no patch needed");
            return true;
        }
        try
        {
            string result = Patch(lib, Version);
            Log.LogMessage(MessageImportance.Normal, "LibTorchSharp " + Version + ": " + result + " (" + lib + ")");
            return true;
        }
        catch (Exception e)
        {
            Log.LogError("Could not patch " + lib + " for " + Version + ": " + e.Message);
            return false;
        }
    }

    static bool Contains(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return true;
        }
        return false;
    }

    // ELF64 little-endian only (linux-x64). Walks .gnu.version_r: Verneed -> Vernaux entries.
    static string Patch(string path, string version)
    {
        byte[] b = File.ReadAllBytes(path);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F' || b[4] != 2 || b[5] != 1)
            throw new InvalidDataException("not a little-endian ELF64 file");
        long shoff = (long)BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A);
        int shnum = BitConverter.ToUInt16(b, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            long sh = shoff + (long)s * shentsize;
            if (BitConverter.ToUInt32(b, (int)sh + 4) != ShtGnuVerneed) continue;
            long off = (long)BitConverter.ToUInt64(b, (int)sh + 0x18);
            uint link = BitConverter.ToUInt32(b, (int)sh + 0x28);
            uint info = BitConverter.ToUInt32(b, (int)sh + 0x2C); // number of Verneed entries
            long strOff = (long)BitConverter.ToUInt64(b, (int)(shoff + link * shentsize) + 0x18);
            long vn = off;
            for (uint n = 0; n < info; n++)
            {
                int cnt = BitConverter.ToUInt16(b, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(b, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    uint name = BitConverter.ToUInt32(b, (int)aux + 8);
                    if (ReadCString(b, strOff + name) == version)
                    {
                        ushort flags = BitConverter.ToUInt16(b, (int)aux + 4);
                        if ((flags & VerFlgWeak) != 0) return "already weak";
                        flags |= VerFlgWeak;
                        string tmp = path + ".patching";
                        b[aux + 4] = (byte)(flags & 0xff);
                        b[aux + 5] = (byte)(flags >> 8);
                        File.WriteAllBytes(tmp, b);
                        File.Replace(tmp, path, null); // rename: a half-patched library is never loaded
                        return "marked weak";
                    }
                    aux += BitConverter.ToUInt32(b, (int)aux + 12);
                }
                vn += BitConverter.ToUInt32(b, (int)vn + 12);
            }
        }
        return "no " + version + " requirement found";
    }

    static string ReadCString(byte[] b, long at)
    {
        long end = at;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)at, (int)(end - at));
    }
}
