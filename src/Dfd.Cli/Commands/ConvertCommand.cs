using Dfd.Encoders;
using Dfd.IO;
using Spectre.Console;

namespace Dfd.Cli.Commands;

static class ConvertCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd convert faceapi --manifest <weights_manifest.json> --out <file.safetensors> [--json]",
        "  face-api.js's dlib ResNet weights (tfjs manifest and shards) to safetensors with metadata",
        "usage: dfd convert relpaths FILE.safetensors... [--json]",
        "  rewrites absolute paths in a safetensors file's metadata (e.g. a decoder's --init and --data) as paths",
        "  relative to the working directory, or file names; tensors and every other byte of data stay as they are",
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var what = a.Positional.Count > 0 ? a.Positional[0] : null;
        if (what == "relpaths") return RelPaths(a);
        if (a.Positional.Count != 1 || what != "faceapi")
            throw new UsageException("usage: dfd convert faceapi --manifest face_recognition_model-weights_manifest.json --out dlib-resnet.safetensors | dfd convert relpaths FILE.safetensors...");
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

    static int RelPaths(Args a)
    {
        var files = a.Positional.Skip(1).ToList();
        bool json = a.Flag("json");
        a.CheckUnused();
        if (files.Count == 0) throw new UsageException("usage: dfd convert relpaths FILE.safetensors... (at least one file)");
        var rows = files.Select(f => new
        {
            file = f,
            changed = Safetensors.RewriteMetadata(f, (_, v) => RecordPath.ScrubPortable(v)),
            sha256 = Sha256(f),
        }).ToList();
        if (json) { Console.WriteLine(Common.ToJson(rows)); return 0; }
        var t = new Table().AddColumn("file").AddColumn("metadata rewritten").AddColumn("sha256");
        foreach (var r in rows)
            t.AddRow(Markup.Escape(r.file), Markup.Escape(r.changed.Count == 0 ? "nothing (no absolute paths)" : string.Join(", ", r.changed)), r.sha256);
        AnsiConsole.Write(t);
        return 0;
    }

    static string Sha256(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(f));
    }
}
