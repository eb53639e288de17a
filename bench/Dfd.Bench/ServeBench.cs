// dfd serve under load (bench/serve.sh): a real Kestrel server on 127.0.0.1 (any free port) over dlib-resnet and its
// shipped decoder, driven over HTTP from this process. Traffic goes only to 127.0.0.1, in bounded loops.
//
//   Dfd.Bench --serve [--requests 60] [--warmup 10] [--clients 8] [--seconds 60] [--max-per-client 5000]
//
// 1. Slider latency: one client sends --requests perturb requests one after another (rotation, shift and scale moving
//    as a dragged slider does), each timed from send to the whole JSON answer read (the answer holds the perturbed crop
//    and the reconstruction as PNGs). Also, in-process, the parts of one update: perturb, encode, decode, PNG.
// 2. Load: --clients clients, each with its own X-Dfd-Client id, send perturb requests back to back for --seconds
//    (at most --max-per-client each); every answer that is not 200 counts as a failure.
// Prints one JSON line per part on stdout.
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dfd;
using Dfd.Analysis;
using Dfd.Imaging;
using Dfd.Web;

static class ServeBench
{
    public static int Run(Args opts, string root) => RunAsync(opts, root).GetAwaiter().GetResult();

    static async Task<int> RunAsync(Args opts, string root)
    {
        int requests = int.Parse(opts.Get("requests", "60")), warmup = int.Parse(opts.Get("warmup", "10"));
        int clients = int.Parse(opts.Get("clients", "8")), seconds = int.Parse(opts.Get("seconds", "60"));
        int maxPerClient = int.Parse(opts.Get("max-per-client", "5000"));
        Console.Error.WriteLine($"# dfd serve bench: torch threads {TorchSharp.torch.get_num_threads()}, {Environment.ProcessorCount} CPUs, load {Load()}");

        var model = FaceModel.Open("dlib-resnet");
        await using var server = DfdServer.Create(new Explorer([model], Path.Combine(root, "samples")), new ServeOptions { Port = 0 });
        await server.StartAsync();
        var url = server.Address;
        if (!url.StartsWith("http://127.0.0.1:")) throw new InvalidOperationException($"server listens on {url}, not 127.0.0.1");
        Console.Error.WriteLine($"# server at {url}");
        using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(60) };

        var face = JsonNode.Parse(await Post(http, "/api/faces/sample", "{\"name\":\"Hugh_Grant_0001.jpg\"}", "bench"))!;
        string id = face["id"]!.GetValue<string>();

        // 1. One client, a slider moving.
        string Slider(int k) => string.Create(CultureInfo.InvariantCulture,
            $"{{\"face\":\"{id}\",\"rotation\":{(k % 61) - 30},\"shift_x\":{(k % 11) - 5},\"shift_y\":0,\"scale\":{1 + (k % 5) * 0.02}}}");
        for (int k = 0; k < warmup; k++) await Post(http, "/api/perturb", Slider(k), "bench");
        var ms = new List<double>();
        for (int k = 0; k < requests; k++)
        {
            var sw = Stopwatch.StartNew();
            await Post(http, "/api/perturb", Slider(k), "bench");
            ms.Add(sw.Elapsed.TotalMilliseconds);
        }

        // The parts of one update, in-process on this thread (the server is idle now).
        var crop = server.Explorer.Get(id).Views[0].Crop;
        var parts = new Dictionary<string, List<double>> { ["perturb"] = [], ["encode"] = [], ["decode"] = [], ["png x2 (data URLs)"] = [] };
        for (int k = 0; k < Math.Max(10, requests / 2); k++)
        {
            var sw = Stopwatch.StartNew();
            var img = Perturbations.Transform(crop, (k % 61) - 30, 1.02, 3, 0);
            parts["perturb"].Add(Lap(sw));
            var t = model.Encode(img);
            parts["encode"].Add(Lap(sw));
            var r = model.Reconstruct(t);
            parts["decode"].Add(Lap(sw));
            _ = DfdServer.DataUrl(img); _ = DfdServer.DataUrl(r);
            parts["png x2 (data URLs)"].Add(Lap(sw));
        }
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            part = "slider", requests, median_ms = Median(ms), p90_ms = Pct(ms, 0.9), min_ms = ms.Min(), max_ms = ms.Max(),
            parts_median_ms = parts.ToDictionary(p => p.Key, p => Math.Round(Median(p.Value), 2)), load = Load(),
        }));

        // 2. Several clients at once.
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        var results = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var lat = new List<double>();
            int failed = 0;
            var failures = new List<string>();
            for (int k = 0; k < maxPerClient && DateTime.UtcNow < deadline; k++)
            {
                var sw = Stopwatch.StartNew();
                try { await Post(http, "/api/perturb", Slider(k * 7 + c), $"client-{c}"); lat.Add(sw.Elapsed.TotalMilliseconds); }
                catch (Exception e) { failed++; if (failures.Count < 3) failures.Add(e.Message); }
            }
            return (lat, failed, failures);
        })));
        var all = results.SelectMany(r => r.lat).ToList();
        Console.WriteLine(JsonSerializer.Serialize(new
        {
            part = "load", clients, seconds, requests = all.Count + results.Sum(r => r.failed), ok = all.Count, failed = results.Sum(r => r.failed),
            per_client = results.Select(r => r.lat.Count).ToArray(), per_second = all.Count / (double)seconds,
            median_ms = Median(all), p95_ms = Pct(all, 0.95), max_ms = all.Count > 0 ? all.Max() : 0,
            failures = results.SelectMany(r => r.failures).Take(5).ToArray(), load = Load(),
        }));
        return results.Sum(r => r.failed) == 0 ? 0 : 1;
    }

    static async Task<string> Post(HttpClient http, string path, string json, string client)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        req.Headers.Add("X-Dfd-Client", client);
        using var r = await http.SendAsync(req);
        var body = await r.Content.ReadAsStringAsync();
        if (!r.IsSuccessStatusCode) throw new HttpRequestException($"{(int)r.StatusCode}: {body}");
        return body;
    }

    static double Lap(Stopwatch sw) { double t = sw.Elapsed.TotalMilliseconds; sw.Restart(); return t; }
    static double Median(List<double> v) => Pct(v, 0.5);
    static double Pct(List<double> v, double q)
    {
        if (v.Count == 0) return double.NaN;
        var s = v.OrderBy(x => x).ToList();
        double pos = q * (s.Count - 1);
        int lo = (int)Math.Floor(pos), hi = (int)Math.Ceiling(pos);
        return Math.Round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 2);
    }
    static string Load() => File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "?";
}
