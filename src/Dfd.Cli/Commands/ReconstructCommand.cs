using System.Text.Json.Nodes;
using Dfd.Decoder;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Dfd.Reports;
using Spectre.Console;
using TorchSharp;

namespace Dfd.Cli.Commands;

/// <summary>Images (align → encode → decode) or stored templates (.npy) → reconstructed faces.</summary>
static class ReconstructCommand
{
    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var decPath = a.Req("decoder");
        var input = a.Req("input");
        var output = a.Req("output");
        bool json = a.Flag("json");
        var device = Common.Device(a);
        var weights = a.Opt("weights");
        a.CheckUnused();

        // Templates need only the decoder; images also the encoder it names, which FaceModel opens with it.
        bool fromNpy = input.EndsWith(".npy", StringComparison.OrdinalIgnoreCase);
        using var model = fromNpy ? null : FaceModel.FromDecoder(decPath, weights, device);
        using var loaded = fromNpy ? DecoderFile.Load(decPath, device) : null;
        var dec = model?.Decoder ?? loaded!.Decoder;
        var info = model?.DecoderInfo ?? loaded!.Info;
        Directory.CreateDirectory(output);
        var rows = new List<object>();
        var problems = new List<string>();
        List<string> names;
        List<RgbImage>? originals = null;
        float[][] templates;

        if (fromNpy)
        {
            var (data, shape) = Npy.Read(input);
            if (shape.Length != 2) throw new InvalidDataException($"{input}: templates must be a 2-D array [N,D], this one has shape ({string.Join(",", shape)})");
            int n = (int)shape[0], d = (int)shape[1];
            if (d != info.TemplateDim)
                throw new InvalidDataException($"{input}: templates have {d} dimensions; decoder {decPath} was trained on {info.TemplateDim}-D templates of '{info.Encoder}'");
            var sidecar = Path.ChangeExtension(input, ".json");
            List<string>? files = null;
            if (File.Exists(sidecar))
            {
                var j = JsonNode.Parse(File.ReadAllText(sidecar));
                var sidecarModel = j?["model"]?.GetValue<string>();
                if (sidecarModel != null && sidecarModel != info.Encoder)
                    throw new InvalidDataException($"{input}: templates come from encoder '{sidecarModel}' (per {Path.GetFileName(sidecar)}); decoder {decPath} inverts '{info.Encoder}'");
                files = j?["files"]?.AsArray().Select(x => x!.GetValue<string>()).ToList();
            }
            names = []; var list = new List<float[]>();
            for (int i = 0; i < n; i++)
            {
                var row = data.AsSpan(i * d, d).ToArray();
                string name = files != null && i < files.Count ? Path.GetFileNameWithoutExtension(files[i]) : $"row{i:D5}";
                if (row.Any(v => !float.IsFinite(v))) { problems.Add($"{input}: row {i} ({name}) holds NaN or infinite values; skipped"); continue; }
                if (row.All(v => v == 0)) { problems.Add($"{input}: row {i} ({name}) is all zeros; skipped"); continue; }
                names.Add(name); list.Add(row);
            }
            templates = list.ToArray();
        }
        else
        {
            names = []; originals = [];
            foreach (var f in Common.InputFiles(input))
            {
                var r = model!.Crop(f);
                if (r.Crop is not { } crop) { problems.Add($"{f}: {r.Problem}"); continue; }
                names.Add(Path.GetFileNameWithoutExtension(f)); originals.Add(crop);
            }
            templates = model!.Encode(originals);
        }

        var recon = dec.Reconstruct(templates);
        for (int i = 0; i < recon.Count; i++)
        {
            var path = Path.Combine(output, names[i] + ".png");
            ImageIO.Save(recon[i], path);
            if (originals != null) ImageIO.Save(originals[i], Path.Combine(output, names[i] + ".aligned.png"));
            rows.Add(new { name = names[i], reconstruction = path });
        }
        if (recon.Count > 0)
        {
            var grid = originals != null ? ImageGrid.Compose([originals.Take(16).ToList(), recon.Take(16).ToList()]) : ImageGrid.Compose([recon.Take(16).ToList()]);
            ImageIO.Save(grid, Path.Combine(output, "grid.png"));
        }
        var summary = new { decoder = decPath, encoder = info.Encoder, input, output, reconstructed = recon.Count, problems, items = rows };
        AtomicFile.WriteAllText(Path.Combine(output, "reconstruct.json"), Common.ToJson(summary));
        if (json) Console.WriteLine(Common.ToJson(summary));
        else
        {
            Console.WriteLine($"{recon.Count} reconstructions ({info.Encoder} templates) → {output} (grid.png, reconstruct.json)");
            foreach (var p in problems) AnsiConsole.MarkupLine($"[yellow]skipped[/] {Markup.Escape(p)}");
        }
        return recon.Count == 0 && problems.Count > 0 ? 1 : 0;
    }
}
