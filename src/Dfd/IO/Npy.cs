using System.Text;

namespace Dfd.IO;

/// <summary>NumPy .npy version 1.0, little-endian float32, C order: what numpy.load reads without options.</summary>
public static class Npy
{
    public static void Write(string path, float[,] rows)
    {
        int n = rows.GetLength(0), d = rows.GetLength(1);
        var flat = new float[n * d];
        Buffer.BlockCopy(rows, 0, flat, 0, flat.Length * 4);
        Write(path, flat, [n, d]);
    }

    public static void Write(string path, float[] data, long[] shape)
    {
        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}";
        // Header (magic 6 + version 2 + length 2 + dict + newline) is padded to a multiple of 64 bytes.
        int unpadded = 10 + dict.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        string header = dict + new string(' ', total - unpadded) + "\n";
        AtomicFile.Write(path, s =>
        {
            using var w = new BinaryWriter(s, Encoding.ASCII, leaveOpen: true);
            w.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0 });
            w.Write((ushort)header.Length);
            w.Write(Encoding.ASCII.GetBytes(header));
            w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(data.AsSpan()));
        });
    }

    public static (float[] Data, long[] Shape) Read(string path)
    {
        byte[] b;
        try { b = File.ReadAllBytes(path); }
        catch (FileNotFoundException) { throw new ModelFileException(path, "file not found"); }
        if (b.Length < 10 || b[0] != 0x93 || Encoding.ASCII.GetString(b, 1, 5) != "NUMPY")
            throw new ModelFileException(path, "not a .npy file");
        int major = b[6];
        int hlen, start;
        if (major == 1) { hlen = BitConverter.ToUInt16(b, 8); start = 10; }
        else { hlen = (int)BitConverter.ToUInt32(b, 8); start = 12; }
        if (start + hlen > b.Length) throw new ModelFileException(path, "truncated .npy header");
        string header = Encoding.ASCII.GetString(b, start, hlen);
        if (header.Contains("'fortran_order': True")) throw new ModelFileException(path, "Fortran-ordered arrays are not supported");
        string descr = Between(header, "'descr':", ",").Trim().Trim('\'');
        var shapeText = Between(header, "'shape': (", ")");
        long[] shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(long.Parse).ToArray();
        long count = shape.Aggregate(1L, (x, y) => x * y);
        int dataAt = start + hlen;
        int width = descr switch { "<f4" => 4, "<f8" => 8, _ => throw new ModelFileException(path, $"dtype {descr} is not supported (float32 or float64 expected)") };
        if (b.Length - dataAt != count * width)
            throw new ModelFileException(path, $"truncated .npy file: {b.Length - dataAt} data bytes, shape ({shapeText}) needs {count * width}");
        float[] data = width == 4
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(b.AsSpan(dataAt)).ToArray()
            : System.Runtime.InteropServices.MemoryMarshal.Cast<byte, double>(b.AsSpan(dataAt)).ToArray().Select(x => (float)x).ToArray();
        return (data, shape);
    }

    static string Between(string s, string a, string b)
    {
        int i = s.IndexOf(a, StringComparison.Ordinal);
        if (i < 0) return "";
        i += a.Length;
        int j = s.IndexOf(b, i, StringComparison.Ordinal);
        return j < 0 ? s[i..] : s[i..j];
    }
}
