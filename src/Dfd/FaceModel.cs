using Dfd.Core;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using TorchSharp;

namespace Dfd;

/// <summary>A photo in which the detector found no face.</summary>
public sealed class NoFaceException(string what) : DfdException($"{what}: no face found");

/// <summary>
/// An FR model with its decoder and a face detector: photo → aligned crop → template → reconstructed face, and
/// comparison of templates, in the manner of facenet-pytorch's detect → align → embed.
/// <code>
/// using var model = FaceModel.Open("dlib-resnet");             // encoder + its shipped decoder + YuNet
/// var crop = model.Align(ImageIO.Load("photo.jpg"));             // the most central face, aligned to the encoder's crop
/// var template = model.Encode(crop);
/// ImageIO.Save(model.Reconstruct(template), "face.png");
/// </code>
/// The CLI's commands and the analyses are built on the same parts (<see cref="FaceInput"/>, <see cref="Registry"/>,
/// <see cref="DecoderFile"/>, <see cref="Reconstruction"/>).
/// </summary>
public sealed class FaceModel : IDisposable
{
    FacePipeline? pipeline;
    readonly LoadedDecoder? decoder;

    FaceModel(IEncoder encoder, LoadedDecoder? decoder)
    {
        Encoder = encoder;
        this.decoder = decoder;
    }

    /// <summary>
    /// Opens an encoder and its decoder. <paramref name="encoder"/>: a registry name (<c>dfd models</c> lists them),
    /// <c>onnx:PATH.onnx</c> or <c>tfjs:PATH.json</c>; <paramref name="weights"/>: a weights file instead of the one the registry finds;
    /// <paramref name="decoder"/>: a decoder file, else the shipped <c>models/dfd-&lt;encoder&gt;-lfw.safetensors</c>
    /// where present (without either the model encodes and compares but cannot reconstruct).
    /// </summary>
    /// <exception cref="EncoderNotAvailableException">Unknown encoder, or its weights are not found.</exception>
    /// <exception cref="DecoderFileException">The decoder is missing, damaged or made for another encoder.</exception>
    public static FaceModel Open(string encoder, string? weights = null, string? decoder = null, torch.Device? device = null,
        GraphEncoderOptions? onnx = null)
    {
        var enc = Registry.Create(encoder, weights, device, onnx);
        try
        {
            var path = decoder ?? DecoderFile.ShippedPath(enc.Spec.Name);
            return new FaceModel(enc, path == null ? null : DecoderFile.Load(path, device, enc.Spec));
        }
        catch { enc.Dispose(); throw; }
    }

    /// <summary>Opens a decoder file and the encoder it names (with <paramref name="weights"/>, when given).</summary>
    /// <exception cref="DecoderFileException">The decoder is missing or damaged, or its encoder cannot be built here.</exception>
    public static FaceModel FromDecoder(string decoder, string? weights = null, torch.Device? device = null)
    {
        var loaded = DecoderFile.Load(decoder, device);
        try
        {
            var enc = Registry.Create(loaded.RequireEncoder().Name, weights, device);
            if (enc.Spec.EmbeddingSize != loaded.Info.TemplateDim)
            {
                enc.Dispose();
                throw new DecoderFileException(decoder, $"decoder takes {loaded.Info.TemplateDim}-D templates; encoder '{enc.Spec.Name}' with these weights makes {enc.Spec.EmbeddingSize}-D");
            }
            return new FaceModel(enc, loaded);
        }
        catch { loaded.Dispose(); throw; }
    }

    public IEncoder Encoder { get; }
    public EncoderSpec Spec => Encoder.Spec;
    public FaceDecoder? Decoder => decoder?.Decoder;
    public string? DecoderPath => decoder?.Path;
    public DecoderInfo? DecoderInfo => decoder?.Info;

    /// <summary>Detect → align (YuNet), loaded on first use.</summary>
    public FacePipeline Pipeline => pipeline ??= FacePipeline.CreateDefault();

    /// <summary>Faces in a photo, most confident first, with their five landmarks.</summary>
    public IReadOnlyList<Face> Detect(RgbImage photo) => Pipeline.Detect(photo);

    /// <summary>A face of the photo (default: the most central, <see cref="FacePick"/>) aligned to the encoder's crop.</summary>
    /// <exception cref="NoFaceException">No face is given and the detector finds none.</exception>
    public RgbImage Align(RgbImage photo, Face? face = null)
    {
        face ??= Detect(photo) is { Count: > 0 } faces ? FacePipeline.MostCentral(faces, photo.Width, photo.Height)
            : throw new NoFaceException($"{photo.Width}×{photo.Height} image");
        return FacePipeline.Align(photo, face, Spec.Template);
    }

    /// <summary>A file made into the encoder's crop: detected and aligned, or (<paramref name="aligned"/>) read as an aligned crop.</summary>
    public CropResult Crop(string file, bool aligned = false, FacePick pick = FacePick.MostCentral) =>
        FaceInput.Crop(file, Spec, aligned ? null : Pipeline, pick);

    /// <summary>The template of an aligned crop (<see cref="Spec"/>'s size).</summary>
    public float[] Encode(RgbImage crop) => Encoder.Encode([crop])[0];

    public float[][] Encode(IReadOnlyList<RgbImage> crops, bool flipAverage = false) => Encoder.Encode(crops, flipAverage);

    /// <summary>
    /// The template of a reconstruction: a decoder may draw larger than the encoder's crop (dfd train --out-size), so
    /// the image is first resized to the crop, as training showed it to the encoder.
    /// </summary>
    public float[] EncodeReconstruction(RgbImage reconstruction) =>
        Encode(Reconstruction.Resize([reconstruction], Spec.InputWidth, Spec.InputHeight)[0]);

    /// <summary>The face the decoder draws from a template (at the decoder's output size, <see cref="Dfd.Decoder.DecoderInfo.OutWidth"/>).</summary>
    /// <exception cref="InvalidOperationException">No decoder was found or given.</exception>
    public RgbImage Reconstruct(float[] template) => RequireDecoder().Reconstruct(template);

    public List<RgbImage> Reconstruct(IReadOnlyList<float[]> templates) => RequireDecoder().Reconstruct(templates);

    /// <summary>Cosine similarity of two templates, the score the model's threshold applies to.</summary>
    public double Compare(float[] a, float[] b) => Cosine.Of(a, b);

    /// <summary>Whether two templates match at the model's measured FMR 1e-3 threshold.</summary>
    /// <exception cref="InvalidOperationException">No threshold was measured for this model.</exception>
    public bool Matches(float[] a, float[] b) => double.IsNaN(Spec.Threshold1e3)
        ? throw new InvalidOperationException($"no FMR 1e-3 threshold is known for {Spec.Name}; compare scores with Compare and a threshold of your own")
        : Compare(a, b) >= Spec.Threshold1e3;

    FaceDecoder RequireDecoder() => Decoder ?? throw new InvalidOperationException(
        $"no decoder for {Spec.Name}: none given and no shipped models/dfd-{Spec.Name}-lfw.safetensors found");

    public void Dispose()
    {
        pipeline?.Dispose();
        decoder?.Dispose();
        Encoder.Dispose();
    }
}
