// One decoder file, the same templates, two devices: how far apart are the reconstructions? (bench/gpu.sh)
//
//   Dfd.Bench --device-diff --decoder F --templates T.npy [--a cpu] [--b cuda]
//
// Prints one JSON line: the largest and mean absolute difference of the decoder's float output (0..255 scale) and
// of the rounded images (grey levels), over every pixel of every template's reconstruction.
using System.Text.Json;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.IO;
using TorchSharp;

static class DeviceDiff
{
    public static int Run(Args opts)
    {
        var decoder = opts.Get("decoder", "");
        var (data, shape) = Npy.Read(opts.Get("templates", ""));
        int n = (int)shape[0], d = (int)shape[1];
        var templates = Enumerable.Range(0, n).Select(i => data.AsSpan(i * d, d).ToArray()).ToArray();
        var (fa, ia) = Decode(decoder, templates, torch.device(opts.Get("a", "cpu")));
        var (fb, ib) = Decode(decoder, templates, torch.device(opts.Get("b", "cuda")));
        double maxF = 0, sumF = 0; int maxI = 0; long sumI = 0;
        for (int k = 0; k < fa.Length; k++)
        {
            double e = Math.Abs(fa[k] - fb[k]); maxF = Math.Max(maxF, e); sumF += e;
            int g = Math.Abs(ia[k] - ib[k]); maxI = Math.Max(maxI, g); sumI += g;
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            templates = n, a = opts.Get("a", "cpu"), b = opts.Get("b", "cuda"), values = fa.Length,
            max_abs = maxF, mean_abs = sumF / fa.Length, max_grey_levels = maxI, mean_grey_levels = (double)sumI / fa.Length,
        }));
        return 0;
    }

    /// <summary>The decoder's output on a device, as floats and as the bytes of the images Reconstruct makes.</summary>
    static (float[] Floats, byte[] Bytes) Decode(string path, float[][] templates, torch.Device device)
    {
        using var loaded = DecoderFile.Load(path, device);
        using var _ = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var flat = templates.SelectMany(t => t).ToArray();
        var x = loaded.Decoder.forward(torch.tensor(flat, new long[] { templates.Length, templates[0].Length }).to(device));
        var floats = x.cpu().contiguous().data<float>().ToArray();
        var bytes = loaded.Decoder.Reconstruct(templates).SelectMany(i => i.Data).ToArray();
        return (floats, bytes);
    }
}
