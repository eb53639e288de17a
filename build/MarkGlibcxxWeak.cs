using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

// Sets VER_FLG_WEAK on the GLIBCXX_3.4.32 entry of .gnu.version_r in libLibTorchSharp.so when the system's
// libstdc++ does not define that version. Idempotent; leaves the file untouched when nothing needs doing.
public class MarkGlibcxxWeak : Task
{
    public string Directory { get; set; } = "";

    const string Version = "GLIBCXX_3.4.32";
    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    static readonly string[] LibStdCxx =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
    };

    public override bool Execute()
    {
        string so = Path.Combine(Directory, "libLibTorchSharp.so");
        if (!File.Exists(so)) return true;
        if (SystemHasVersion()) return true;
        try
        {
            string result = Patch(so);
            Log.LogMessage(MessageImportance.High, "libLibTorchSharp.so: " + result);
            return true;
        }
        catch (Exception e)
        {
            Log.LogError("could not patch " + so + ": " + e.Message);
            return false;
        }
    }

    static bool SystemHasVersion()
    {
        foreach (var path in LibStdCxx)
        {
            if (!File.Exists(path)) continue;
            byte[] data = File.ReadAllBytes(path);
            return IndexOf(data, Encoding.ASCII.GetBytes(Version + "\0")) >= 0;
        }
        return false;
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i + needle.Length <= hay.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    static string Patch(string path)
    {
        byte[] b = File.ReadAllBytes(path);
        if (b.Length < 64 || b[0] != 0x7f || b[1] != (byte)'E' || b[2] != (byte)'L' || b[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (b[4] != 2 || b[5] != 1) throw new InvalidDataException("only 64-bit little-endian ELF is handled");

        ulong shoff = BitConverter.ToUInt64(b, 0x28);
        int shentsize = BitConverter.ToUInt16(b, 0x3A);
        int shnum = BitConverter.ToUInt16(b, 0x3C);
        for (int s = 0; s < shnum; s++)
        {
            int sh = checked((int)shoff + s * shentsize);
            if (BitConverter.ToUInt32(b, sh + 4) != ShtGnuVerneed) continue;
            int off = checked((int)BitConverter.ToUInt64(b, sh + 0x18));
            int link = (int)BitConverter.ToUInt32(b, sh + 0x28);
            int strtab = checked((int)BitConverter.ToUInt64(b, (int)shoff + link * shentsize + 0x18));

            int vn = off;
            while (true)
            {
                int cnt = BitConverter.ToUInt16(b, vn + 2);
                int aux = vn + (int)BitConverter.ToUInt32(b, vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    int name = strtab + (int)BitConverter.ToUInt32(b, aux + 8);
                    if (ReadString(b, name) == Version)
                    {
                        ushort flags = BitConverter.ToUInt16(b, aux + 4);
                        if ((flags & VerFlgWeak) != 0) return Version + " already weak";
                        BitConverter.GetBytes((ushort)(flags | VerFlgWeak)).CopyTo(b, aux + 4);
                        string tmp = path + ".patching";
                        File.WriteAllBytes(tmp, b);
                        File.Replace(tmp, path, null);
                        return "marked " + Version + " weak (system libstdc++ lacks it)";
                    }
                    uint next = BitConverter.ToUInt32(b, aux + 12);
                    if (next == 0) break;
                    aux += (int)next;
                }
                uint vnNext = BitConverter.ToUInt32(b, vn + 12);
                if (vnNext == 0) break;
                vn += (int)vnNext;
            }
            return "no " + Version + " requirement found";
        }
        return "no .gnu.version_r section";
    }

    static string ReadString(byte[] b, int at)
    {
        int end = at;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, at, end - at);
    }
}
