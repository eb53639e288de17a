using System.Security.Cryptography;
using System.Text;

namespace Dfd.IO;

/// <summary>
/// Short content ids: the first 16 lower-case hex digits of a SHA-256. One function, so that the same weights or
/// decoder file carries the same id in training provenance, evaluation records and cache keys.
/// </summary>
public static class FileId
{
    static readonly Dictionary<(string, DateTime, long), string> cache = new();

    /// <summary>The file's id; "" for null or a missing file. Remembered per (path, time written, length).</summary>
    public static string Of(string? path)
    {
        if (path == null || !File.Exists(path)) return "";
        var info = new FileInfo(path);
        var key = (info.FullName, info.LastWriteTimeUtc, info.Length);
        lock (cache) if (cache.TryGetValue(key, out var id)) return id;
        using var f = File.OpenRead(path);
        var h = Convert.ToHexStringLower(SHA256.HashData(f))[..16];
        lock (cache) cache[key] = h;
        return h;
    }

    /// <summary>The id of a text (cache keys made of names and settings); <paramref name="digits"/> hex digits.</summary>
    public static string OfText(string text, int digits = 16) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..digits];
}
