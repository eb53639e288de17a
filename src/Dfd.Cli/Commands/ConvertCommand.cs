using Dfd.Encoders;

namespace Dfd.Cli.Commands;

static class ConvertCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd convert faceapi --manifest <weights_manifest.json> --out <file.safetensors> [--json]",
        "  face-api.js's dlib ResNet weights (tfjs manifest and shards) to safetensors with metadata"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        if (a.Positional.Count != 1 || a.Positional[0] != "faceapi")
            throw new UsageException("usage: dfd convert faceapi --manifest face_recognition_model-weights_manifest.json --out dlib-resnet.safetensors");
        var manifest = a.Req("manifest");
        var outPath = a.Req("out");
        bool json = a.Flag("json");
        a.CheckUnused();
        FaceApiWeights.ConvertDlibResNet(manifest, outPath);
        var size = new FileInfo(outPath).Length;
        Console.WriteLine(json ? Common.ToJson(new { encoder = DlibResNet.Spec.Name, output = outPath, bytes = size })
            : $"wrote {outPath} ({size / 1e6:F1} MB, encoder {DlibResNet.Spec.Name})");
        return 0;
    }
}
