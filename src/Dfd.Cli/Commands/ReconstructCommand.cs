using System.Text.Json.Nodes;
using Dfd.Decoder;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Dfd.Reports;
using Spectre.Console;
using TorchSharp;

namespace Dfd.Cli.Commands;

/// <summary>
/// Images (align → encode → decode) or stored templates (.npy) → reconstructed faces. Several decoders of the same
/// encoder (--decoder A,B) decode the same templates, and the grid sets their rows under the originals.
/// </summary>
static class ReconstructCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd reconstruct --decoder F[,F2,…] --input <image|dir|templates.npy> --output <dir> [--pick central] [--json]",
        "  images are aligned and encoded by the decoder's encoder (--weights W for its weights); templates.npy [N,D]",
        "  must come from that encoder (its sidecar is checked). Writes NAME.png (and NAME.aligned.png), grid.png and",
        "  reconstruct.json; several decoders of one encoder decode the same templates, one grid row each (NAME.dK.png);",
        "  images are at the decoder's output size (its output_size, which --out-size in training may make larger than the crop)",
        Common.PickHelp + ",",
        "             or all (every face: NAME_faceK.png where a photo has several, K = 0 the most confident); images only",
        "  --device cpu|cuda[:N]; --seed N: the noise of a decoder that injects noise (sharp decoders; default 0, the",
        "  shipped faces), so other seeds draw other detail for the same template; decoders without noise ignore it"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        var decPaths = a.Req("decoder").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (decPaths.Length == 0) throw new UsageException("--decoder needs a decoder file");
        var decPath = decPaths[0];
        var input = a.Req("input");
        var output = a.Req("output");
        bool json = a.Flag("json");
        var device = Common.Device(a);
        var weights = a.Opt("weights");
        var seedOpt = a.Opt("seed");
        long seed = FaceDecoder.DefaultSeed;
        if (seedOpt != null && !long.TryParse(seedOpt, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out seed))
            throw new UsageException($"--seed: '{seedOpt}' is not a whole number");
        var pickOpt = a.Opt("pick");
        var pick = Common.Pick(pickOpt);
        a.CheckUnused();

        // Templates need only the decoder; images also the encoder it names, which FaceModel opens with it.
        bool fromNpy = input.EndsWith(".npy", StringComparison.OrdinalIgnoreCase);
        if (fromNpy && pickOpt != null)
            throw new UsageException($"--pick chooses among the faces of photos; {input} holds templates (dfd encode --pick chose them)");
        using var model = fromNpy ? null : FaceModel.FromDecoder(decPath, weights, device);
        using var loaded = fromNpy ? DecoderFile.Load(decPath, device) : null;
        var dec = model?.Decoder ?? loaded!.Decoder;
        var info = model?.DecoderInfo ?? loaded!.Info;
        var others = new List<LoadedDecoder>();
        using var _others = new DisposeAll(others);
        foreach (var p in decPaths.Skip(1))
        {
            var o = DecoderFile.Load(p, device);
            others.Add(o);
            if (o.Info.Encoder != info.Encoder || o.Info.TemplateDim != info.TemplateDim)
                throw new InvalidDataException($"{p}: inverts '{o.Info.Encoder}' ({o.Info.TemplateDim}-D); {decPath} inverts '{info.Encoder}' ({info.TemplateDim}-D): decoders compared in one grid must share an encoder");
        }
        // Which decoder drew each row ("regression" or "sharp"), for the grid's labels and the JSON.
        var kinds = others.Select(o => o.Info.Kind).Prepend(info.Kind).ToList();
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
            List<int?>? faceOf = null;
            if (File.Exists(sidecar))
            {
                var j = JsonNode.Parse(File.ReadAllText(sidecar));
                var sidecarModel = j?["model"]?.GetValue<string>();
                if (sidecarModel != null && sidecarModel != info.Encoder)
                    throw new InvalidDataException($"{input}: templates come from encoder '{sidecarModel}' (per {Path.GetFileName(sidecar)}); decoder {decPath} inverts '{info.Encoder}'");
                files = j?["files"]?.AsArray().Select(x => x!.GetValue<string>()).ToList();
                faceOf = j?["face"] is JsonArray fa ? fa.Select(x => x?.GetValue<int?>()).ToList() : null;
            }
            names = []; var list = new List<float[]>();
            var perFile = files?.GroupBy(f => f).ToDictionary(g => g.Key, g => g.Count());
            for (int i = 0; i < n; i++)
            {
                var row = data.AsSpan(i * d, d).ToArray();
                // Rows of one photo (encode --pick all) are NAME_faceK, as align names them.
                int face = faceOf != null && i < faceOf.Count && faceOf[i] is { } k ? k : -1;
                string name = files != null && i < files.Count
                    ? Path.GetFileNameWithoutExtension(files[i]) + Common.FaceSuffix(face, perFile![files[i]])
                    : $"row{i:D5}";
                if (row.Any(v => !float.IsFinite(v))) { problems.Add($"{input}: row {i} ({name}) holds NaN or infinite values; skipped"); continue; }
                if (row.All(v => v == 0)) { problems.Add($"{input}: row {i} ({name}) is all zeros; skipped"); continue; }
                names.Add(name); list.Add(row);
            }
            templates = list.ToArray();
        }
        else
        {
            names = []; originals = [];
            var crops = new List<RgbImage>();
            // A decoder drawing larger than the encoder's crop: the face is also aligned at its size, to show beside it.
            bool larger = info.OutWidth != model!.Spec.InputWidth || info.OutHeight != model.Spec.InputHeight;
            foreach (var f in Common.InputFiles(input))
            {
                if (larger && pick != FacePick.All)
                {
                    var r = FaceInput.Crop(f, model.Spec, model.Pipeline, pick, info.OutWidth, info.OutHeight);
                    if (r.Crop is not { } c) { problems.Add($"{f}: {r.Problem}"); continue; }
                    names.Add(Path.GetFileNameWithoutExtension(f)); crops.Add(c); originals.Add(r.Target!);
                    continue;
                }
                var (faces, found, problem) = Common.Crops(f, model.Spec, model.Pipeline, pick);
                if (problem != null) { problems.Add($"{f}: {problem}"); continue; }
                foreach (var (crop, k) in faces)
                {
                    names.Add(Path.GetFileNameWithoutExtension(f) + Common.FaceSuffix(k, found));
                    crops.Add(crop);
                    // Every face of a photo at the output size: the crop scaled up, for the eye only.
                    originals.Add(larger ? Reconstruction.Resize([crop], info.OutWidth, info.OutHeight)[0] : crop);
                }
            }
            templates = model.Encode(crops);
        }

        var recon = dec.Reconstruct(templates, seed: seed);
        // The other decoders' faces go beside the first's as NAME.dK.png (K = 2, 3, … in --decoder order).
        var more = others.Select(o => o.Decoder.Reconstruct(templates, seed: seed)).ToList();
        for (int i = 0; i < recon.Count; i++)
        {
            var path = Path.Combine(output, names[i] + ".png");
            ImageIO.Save(recon[i], path);
            var extra = more.Select((m, k) => Path.Combine(output, $"{names[i]}.d{k + 2}.png")).ToList();
            for (int k = 0; k < more.Count; k++) ImageIO.Save(more[k][i], extra[k]);
            if (originals != null) ImageIO.Save(originals[i], Path.Combine(output, names[i] + ".aligned.png"));
            rows.Add(more.Count == 0 ? new { name = names[i], reconstruction = path } : new { name = names[i], reconstruction = path, others = extra });
        }
        if (recon.Count > 0)
        {
            var gridRows = new List<IReadOnlyList<RgbImage>>();
            var labels = new List<string>();
            if (originals != null) { gridRows.Add(originals.Take(16).ToList()); labels.Add("originals"); }
            gridRows.Add(recon.Take(16).ToList());
            gridRows.AddRange(more.Select(m => m.Take(16).ToList()));
            labels.AddRange(DecoderKind.RowLabels(kinds, decPaths));
            ImageIO.Save(LabelledGrid.Compose(gridRows, labels), Path.Combine(output, "grid.png"));
        }
        object decoders = decPaths.Length == 1 ? decPath : decPaths;
        object kind = kinds.Count == 1 ? kinds[0] : kinds;
        var summary = new
        {
            decoder = decoders, decoder_kind = kind, encoder = info.Encoder, output_size = $"{info.OutWidth}x{info.OutHeight}", input, output,
            pick = fromNpy ? null : Common.PickName(pick), reconstructed = recon.Count, problems, items = rows,
        };
        AtomicFile.WriteAllText(Path.Combine(output, "reconstruct.json"), Common.ToJson(summary));
        if (json) Console.WriteLine(Common.ToJson(summary));
        else
        {
            Console.WriteLine($"{recon.Count} reconstructions at {info.OutWidth}x{info.OutHeight} ({info.Encoder} templates; {string.Join(", ", DecoderKind.RowLabels(kinds, decPaths))}) → {output} (grid.png, reconstruct.json)");
            foreach (var p in problems) AnsiConsole.MarkupLine($"[yellow]skipped[/] {Markup.Escape(p)}");
        }
        return recon.Count == 0 && problems.Count > 0 ? 1 : 0;
    }
}

/// <summary>Disposes the loaded decoders at the end of the command.</summary>
sealed class DisposeAll(List<LoadedDecoder> items) : IDisposable
{
    public void Dispose() { foreach (var d in items) d.Dispose(); }
}
