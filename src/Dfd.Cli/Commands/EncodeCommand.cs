using Dfd.Core;
using Dfd.Detection;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Spectre.Console;

namespace Dfd.Cli.Commands;

static class EncodeCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd encode --model <encoder> --input <image|dir> --output templates.npy [--pick central] [--aligned] [--flip] [--json]",
        "  writes OUT.npy [N,D] and its sidecar OUT.json (model, weights, the file of each row);",
        Common.PickHelp + ",",
        "             or all (every face a row; the sidecar's face list gives its index, 0 = the most confident)",
        "  --aligned: the inputs are already the model's crops (no detection, no --pick); --flip: average with the mirrored face",
        "  encoder:   --weights W (else the registry's search path), --device cpu|cuda[:N]; for onnx:PATH / tfjs:PATH also",
        "             --input-size WxH --mean r,g,b --std r,g,b --channels rgb|bgr --template " + string.Join("|", Dfd.Encoders.GraphEncoderOptions.Templates) + " (over the sidecar)",
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json", "aligned", "flip" });
        var input = a.Req("input");
        var output = a.Req("output");
        bool aligned = a.Flag("aligned"), json = a.Flag("json"), flip = a.Flag("flip");
        var pickOpt = a.Opt("pick");
        var pick = Common.Pick(pickOpt);
        if (aligned && pickOpt != null) throw new UsageException("--pick chooses among detected faces; with --aligned nothing is detected");
        using var enc = Common.Encoder(a);
        a.CheckUnused();
        var spec = enc.Spec;
        var files = Common.InputFiles(input);

        using var pipeline = aligned ? null : FacePipeline.CreateDefault();
        var failures = new List<Failure>();
        var kept = new List<string>();
        var faceOf = new List<int?>();
        var crops = Common.WithProgress(aligned ? "reading" : "detecting + aligning", json, p =>
        {
            var list = new List<RgbImage>();
            for (int i = 0; i < files.Count; i++)
            {
                p.Report((i, files.Count));
                var (found, n, problem) = Common.Crops(files[i], spec, pipeline, pick);
                if (problem != null) { failures.Add(new(files[i], problem)); continue; }
                foreach (var (crop, k) in found) { list.Add(crop); kept.Add(files[i]); faceOf.Add(k >= 0 ? k : null); }
            }
            p.Report((files.Count, files.Count));
            return list;
        });

        // Nothing to encode is an error, not an empty .npy: one file that does not decode should fail like a missing one.
        if (crops.Count == 0)
            throw new DfdException($"{failures[0].file}: {failures[0].problem}" +
                (failures.Count > 1 ? $" (and {failures.Count - 1} more files failed: no face encoded, {output} not written)" : $" ({output} not written)"));

        var templates = Common.WithProgress("encoding", json, p =>
        {
            var res = new List<float[]>();
            for (int i = 0; i < crops.Count; i += 32)
            {
                res.AddRange(enc.Encode(crops.Skip(i).Take(32).ToList(), flip));
                p.Report((Math.Min(i + 32, crops.Count), crops.Count));
            }
            return res;
        });

        int d = spec.EmbeddingSize;
        var flat = new float[templates.Count * d];
        for (int i = 0; i < templates.Count; i++) templates[i].CopyTo(flat, i * d);
        Npy.Write(output, flat, [templates.Count, d]);
        var sidecar = new
        {
            format = "dfd-templates", model = spec.Name, weights = Dfd.Encoders.Registry.WeightsPath(spec.Name, a.Opt("weights")),
            rows = templates.Count, dim = d, dtype = "float32", l2_normalised = false, flip_averaged = flip,
            alignment = aligned ? "given (pre-aligned crops)" : $"YuNet 5 landmarks → {spec.InputWidth}x{spec.InputHeight} template",
            pick = aligned ? null : Common.PickName(pick), files = kept,
            // With --pick all: each row's face among its photo's detections (0 = the most confident).
            face = pick == FacePick.All && !aligned ? faceOf : null, failures,
        };
        var sidecarPath = Path.ChangeExtension(output, ".json");
        AtomicFile.WriteAllText(sidecarPath, Common.ToJson(sidecar));
        if (json) Console.WriteLine(Common.ToJson(new { output, sidecar = sidecarPath, rows = templates.Count, dim = d, failures }));
        else
        {
            Console.WriteLine($"wrote {output}: {templates.Count} × {d} float32 templates ({spec.Name}); files in row order in {sidecarPath}");
            foreach (var f in failures) AnsiConsole.MarkupLine($"[yellow]skipped[/] {Markup.Escape(f.file)}: {Markup.Escape(f.problem)}");
        }
        return failures.Count > 0 && templates.Count == 0 ? 1 : 0;
    }

    record Failure(string file, string problem);
}
