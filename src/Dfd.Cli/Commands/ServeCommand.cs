using System.Net;
using Dfd.Decoder;
using Dfd.Reports;
using Dfd.Web;

namespace Dfd.Cli.Commands;

/// <summary>`dfd serve`: opens the models and runs the explorer (Dfd.Web) until Ctrl+C.</summary>
static class ServeCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd serve [--encoder a,b] [--decoder d1,d2] [--sharp s1,s2] [--port 5117] [--host 127.0.0.1] [--samples dir] [--json]",
        "  the explorer in the browser (Kestrel, a static page), a column per encoder; --decoder gives one file per encoder in",
        "  order (empty for the shipped one); --sharp likewise its sharp decoder (empty: the shipped",
        "  models/dfd-<encoder>-lfw-sharp.safetensors where present): a column with one offers regression / sharp, and each",
        "  reconstruction says which decoder drew it; --samples: the faces offered for loading (default the bundled samples);",
        "  the face of a photo with several: the most central, as everywhere (click another box to pick it); --device cpu|cuda[:N]"
    ]);

    public static int Run(string[] argv) => Run(argv, null);

    /// <param name="stop">Ends the server when set (tests); otherwise Ctrl+C or SIGTERM does.</param>
    public static int Run(string[] argv, CancellationToken? stop)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        bool json = a.Flag("json");
        var encoders = (a.Opt("encoder") ?? "dlib-resnet").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var decoders = a.Opt("decoder")?.Split(',', StringSplitOptions.TrimEntries);
        var sharpFiles = a.Opt("sharp")?.Split(',', StringSplitOptions.TrimEntries);
        var host = a.Opt("host") ?? "127.0.0.1";
        int port = a.Int("port", 5117);
        var samples = a.Opt("samples") ?? Demo.FindSamples();
        var device = Common.Device(a);
        a.CheckUnused();
        if (encoders.Length == 0) throw new UsageException("--encoder names no encoder");
        if (encoders.Distinct().Count() != encoders.Length) throw new UsageException("--encoder names an encoder twice");
        if (decoders != null && decoders.Length != encoders.Length)
            throw new UsageException($"--decoder gives {decoders.Length} decoder(s) for {encoders.Length} encoder(s): one per encoder, in order (empty for the shipped one)");
        if (sharpFiles != null && sharpFiles.Length != encoders.Length)
            throw new UsageException(
                $"--sharp gives {sharpFiles.Length} decoder(s) for {encoders.Length} encoder(s): " +
                "one per encoder, in order (empty for the shipped one)");
        if (port is < 0 or > 65535) throw new UsageException($"--port must lie in 0..65535, got {port}");
        if (host != "localhost" && !IPAddress.TryParse(host, out _)) throw new UsageException($"--host expects an IP address (or localhost), got '{host}'");
        if (samples != null && !Directory.Exists(samples)) throw new UsageException($"--samples {samples}: no such folder");

        var models = new List<FaceModel>();
        var sharp = new List<LoadedDecoder?>();
        try
        {
            for (int i = 0; i < encoders.Length; i++)
            {
                var m = FaceModel.Open(encoders[i], decoder: decoders?[i] is { Length: > 0 } d ? d : null, device: device);
                models.Add(m);
                var s = sharpFiles?[i] is { Length: > 0 } f ? f : DecoderFile.ShippedSharpPath(m.Spec.Name);
                sharp.Add(s == null ? null : DecoderFile.Load(s, device, m.Spec));
            }
        }
        catch
        {
            foreach (var m in models) m.Dispose();
            foreach (var d in sharp) d?.Dispose();
            throw;
        }

        var options = new ServeOptions { Host = host, Port = port };
        if (!options.IsLoopback)
            Console.Error.WriteLine($"dfd serve: warning: listening on {host}, not only this machine: anyone who can reach it can upload faces and see their reconstructions (there is no login; faces are biometric data)");
        var server = DfdServer.Create(new Explorer(models, samples, sharp: sharp), options);
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
            var url = server.Address;
            // One line, so that a script reading the output can take the address from its first line.
            var sharpNames = sharp.Select(d => d == null ? null : Path.GetFileName(d.Path)).ToList();
            var line = new { url, host, encoders, sharp_decoders = sharpNames, side_by_side = server.Explorer.SideBySide, samples };
            if (json) Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(line,
                new System.Text.Json.JsonSerializerOptions(Common.Json) { WriteIndented = false }));
            else
            {
                Console.WriteLine($"dfd serve: {url}  (encoders: {string.Join(", ", encoders)}; Ctrl+C stops)");
                Console.WriteLine("uploaded photos stay in this process's memory and are never written to disk");
            }
            Console.Out.Flush();
            using var done = new ManualResetEventSlim();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; done.Set(); };
            Console.CancelKeyPress += onCancel;
            using var reg = stop?.Register(done.Set);
            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; done.Set(); });
            done.Wait();
            Console.CancelKeyPress -= onCancel;
        }
        finally { server.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
        return 0;
    }
}
