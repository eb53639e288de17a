using Dfd.Encoders;
using Dfd.Imaging;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfd.Decoder;

public static class Reconstruction
{
    /// <summary>
    /// Templates → face images, the one batched decode every caller uses: on the decoder's device, without gradients,
    /// in eval mode (a decoder that was training is put back into training mode afterwards). The images are at the
    /// decoder's output size, which may be larger than its encoder's crop: to encode them, use
    /// <see cref="ReconstructAt"/> with the encoder's input size.
    /// </summary>
    /// <exception cref="ArgumentException">A template's length is not the decoder's template size.</exception>
    /// <remarks>
    /// <paramref name="seed"/>: the noise of a decoder that injects noise (other seeds draw other detail for the same
    /// template; decoders without noise give the same faces for every seed). Pass it by name: <c>Reconstruct(t, seed: 5)</c>.
    /// </remarks>
    public static List<RgbImage> Reconstruct(this FaceDecoder dec, IReadOnlyList<float[]> templates, int batch = 32,
        IProgress<(int Done, int Total)>? progress = null, long seed = FaceDecoder.DefaultSeed) =>
        dec.ReconstructAt(templates, dec.Config.OutWidth, dec.Config.OutHeight, batch, progress, seed);

    /// <summary>
    /// <see cref="Reconstruct(FaceDecoder, IReadOnlyList{float[]}, int, IProgress{ValueTuple{int, int}}?, long)"/> resized to
    /// <paramref name="width"/>×<paramref name="height"/> before rounding to bytes, by <see cref="ToSize"/>: as training
    /// showed the reconstruction to the encoder. Pass the encoder's input size to feed reconstructions back into it.
    /// </summary>
    public static List<RgbImage> ReconstructAt(this FaceDecoder dec, IReadOnlyList<float[]> templates, int width, int height, int batch = 32,
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
                list.AddRange(Tensors.ToImages(ToSize(dec.forward(t, seed), width, height)));
                progress?.Report((i + k, templates.Count));
            }
        }
        finally { if (training) dec.train(); }
        return list;
    }

    public static RgbImage Reconstruct(this FaceDecoder dec, float[] template, long seed = FaceDecoder.DefaultSeed) => dec.Reconstruct([template], seed: seed)[0];

    /// <summary>
    /// Images [N,C,H,W] → [N,C,height,width], differentiable: bilinear with antialiasing (a larger output shrunk to the
    /// encoder's crop averages its pixels rather than skipping them). The one resize between a decoder's output size and
    /// its encoder's input, in training (identity and perceptual terms) and at inference alike. Same size: unchanged.
    /// </summary>
    public static Tensor ToSize(Tensor x, int width, int height) =>
        x.shape[2] == height && x.shape[3] == width ? x
            : F.interpolate(x, size: [height, width], mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);

    /// <summary>Images resized by <see cref="ToSize"/> (on the CPU), rounded back to bytes.</summary>
    public static List<RgbImage> Resize(IReadOnlyList<RgbImage> images, int width, int height)
    {
        if (images.Count == 0) return [];
        if (images.All(i => i.Width == width && i.Height == height)) return [.. images];
        var list = new List<RgbImage>(images.Count);
        // In order, a chunk of equal-sized images at a time.
        for (int i = 0; i < images.Count;)
        {
            int j = i;
            while (j < images.Count && j - i < 64 && images[j].Width == images[i].Width && images[j].Height == images[i].Height) j++;
            using var scope = torch.NewDisposeScope();
            var chunk = images.Skip(i).Take(j - i).ToList();
            list.AddRange(Tensors.ToImages(ToSize(Tensors.FromImages(chunk, chunk[0].Width, chunk[0].Height), width, height)));
            i = j;
        }
        return list;
    }
}
