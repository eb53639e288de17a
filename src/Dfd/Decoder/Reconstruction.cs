using Dfd.Encoders;
using Dfd.Imaging;
using TorchSharp;

namespace Dfd.Decoder;

public static class Reconstruction
{
    /// <summary>
    /// Templates → face images, the one batched decode every caller uses: on the decoder's device, without gradients,
    /// in eval mode (a decoder that was training is put back into training mode afterwards).
    /// </summary>
    /// <exception cref="ArgumentException">A template's length is not the decoder's template size.</exception>
    /// <remarks>
    /// <paramref name="seed"/>: the noise of a decoder that injects noise (other seeds draw other detail for the same
    /// template; decoders without noise give the same faces for every seed). Pass it by name: <c>Reconstruct(t, seed: 5)</c>.
    /// </remarks>
    public static List<RgbImage> Reconstruct(this FaceDecoder dec, IReadOnlyList<float[]> templates, int batch = 32,
        IProgress<(int Done, int Total)>? progress = null, long seed = FaceDecoder.DefaultSeed)
    {
        int d = dec.Config.TemplateDim;
        for (int i = 0; i < templates.Count; i++)
            if (templates[i].Length != d) throw new ArgumentException($"template {i} has {templates[i].Length} values; the decoder takes {d}");
        var list = new List<RgbImage>(templates.Count);
        bool training = dec.training;
        dec.eval();
        try
        {
            var device = dec.parameters().First().device;
            using var _ = torch.no_grad();
            for (int i = 0; i < templates.Count; i += batch)
            {
                using var scope = torch.NewDisposeScope();
                int k = Math.Min(batch, templates.Count - i);
                var flat = new float[k * d];
                for (int j = 0; j < k; j++) templates[i + j].CopyTo(flat, j * d);
                var t = torch.tensor(flat, new long[] { k, d }).to(device);
                list.AddRange(Tensors.ToImages(dec.forward(t, seed)));
                progress?.Report((i + k, templates.Count));
            }
        }
        finally { if (training) dec.train(); }
        return list;
    }

    public static RgbImage Reconstruct(this FaceDecoder dec, float[] template, long seed = FaceDecoder.DefaultSeed) => dec.Reconstruct([template], seed: seed)[0];
}
