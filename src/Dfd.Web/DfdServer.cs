using System.Net;
using System.Reflection;
using System.Text.Json;
using Dfd.Analysis;
using Dfd.Core;
using Dfd.Decoder;
using Dfd.Imaging;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Dfd.Web;

/// <summary>How `dfd serve` listens and how much it takes.</summary>
public sealed record ServeOptions
{
    /// <summary>127.0.0.1 unless asked: the page handles biometric data and has no login.</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>0: any free port (tests, the bench).</summary>
    public int Port { get; init; } = 5117;
    /// <summary>A request still waiting or running after this gets 503.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public int QueueCapacity { get; init; } = 64;
    public int PerClient { get; init; } = 8;
    /// <summary>Largest upload (the 40-megapixel limit of <see cref="ImageIO"/> applies after it).</summary>
    public long MaxUploadBytes { get; init; } = 10 * 1024 * 1024;
    /// <summary>Largest JSON request body.</summary>
    public long MaxJsonBytes { get; init; } = 1024 * 1024;

    /// <summary>Whether <see cref="Host"/> is a loopback address (or localhost): only this machine can connect.</summary>
    public bool IsLoopback => Host == "localhost" || IPAddress.TryParse(Host, out var ip) && IPAddress.IsLoopback(ip);

    public string Url => $"http://{(IPAddress.TryParse(Host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Host}]" : Host)}:{Port}";
}

/// <summary>
/// `dfd serve`: the embedding-space explorer. Kestrel with minimal APIs serving a static page (embedded in this
/// assembly) and a JSON API over an <see cref="Explorer"/>; all model work goes through one <see cref="WorkQueue"/>.
/// Every refused request gets a 4xx and <c>{"error": "one line"}</c>; nothing a client sends stops the server.
/// </summary>
public sealed class DfdServer : IAsyncDisposable
{
    DfdServer(WebApplication app, Explorer explorer, WorkQueue queue, ServeOptions options)
    {
        App = app; Explorer = explorer; Queue = queue; Options = options;
    }

    public WebApplication App { get; }
    public Explorer Explorer { get; }
    public WorkQueue Queue { get; }
    public ServeOptions Options { get; }

    /// <summary>The address it listens on, once started (with the real port where <see cref="ServeOptions.Port"/> was 0).</summary>
    public string Address =>
        App.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? Options.Url;

    /// <summary>Builds the server over an explorer (which it then owns). <paramref name="configure"/>: e.g. UseTestServer.</summary>
    public static DfdServer Create(Explorer explorer, ServeOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(DfdServer).Assembly.GetName().Name, ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls(options.Url);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = Math.Max(options.MaxUploadBytes, options.MaxJsonBytes) + 1;
            k.AddServerHeader = false;
        });
        configure?.Invoke(builder);
        var app = builder.Build();
        var queue = new WorkQueue(options.QueueCapacity, options.PerClient);
        var server = new DfdServer(app, explorer, queue, options);
        server.Map();
        return server;
    }

    public Task StartAsync(CancellationToken ct = default) => App.StartAsync(ct);

    public async ValueTask DisposeAsync()
    {
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5)))
            try { await App.StopAsync(cts.Token); } catch (InvalidOperationException) { }   // never started
        await App.DisposeAsync();
        Queue.Dispose();
        Explorer.Dispose();
    }

    void Map()
    {
        var app = App;
        app.Use(Guard);
        foreach (var (path, file, type) in new[] { ("/", "index.html", "text/html; charset=utf-8"), ("/app.js", "app.js", "text/javascript; charset=utf-8"), ("/style.css", "style.css", "text/css; charset=utf-8") })
        {
            var bytes = Page(file);
            app.MapGet(path, (HttpContext ctx) =>
            {
                ctx.Response.Headers.CacheControl = "no-store";
                ctx.Response.Headers["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'";
                return Results.Bytes(bytes, type);
            });
        }

        app.MapGet("/api/info", () => Json(Info()));
        app.MapPost("/api/faces", (Delegate)Upload);
        app.MapPost("/api/faces/sample", async (HttpContext ctx) =>
        {
            var r = await Body<SampleRequest>(ctx);
            var kinds = Explorer.Choose(r.Decoders);
            var bytes = Explorer.SampleBytes(r.Name);
            return await Work(ctx, () => FaceJson(Explorer.Add(r.Name!, ImageIO.Decode(bytes, r.Name!)), kinds));
        });
        app.MapGet("/api/faces/{id}", async (HttpContext ctx, string id) =>
        {
            var kinds = Explorer.Choose(ApiJson.DecoderQuery(ctx.Request.Query["decoders"].FirstOrDefault()));
            var f = Explorer.Get(id);
            return await Work(ctx, () => FaceJson(f, kinds));
        });
        app.MapPost("/api/faces/{id}/pick", async (HttpContext ctx, string id) =>
        {
            var r = await Body<PickRequest>(ctx);
            var kinds = Explorer.Choose(r.Decoders);
            Explorer.Get(id);
            return await Work(ctx, () => FaceJson(Explorer.Pick(id, r.Index), kinds));
        });
        app.MapDelete("/api/faces/{id}", (string id) => Explorer.Remove(id)
            ? Results.NoContent() : throw new ApiException(404, $"unknown face id '{Explorer.Clip(id)}'"));

        app.MapPost("/api/perturb", async (HttpContext ctx) =>
        {
            var r = await Body<PerturbRequest>(ctx);
            Limits.Check("rotation", r.Rotation, Limits.Rotation);
            Limits.Check("shift_x", r.ShiftX, Limits.Shift);
            Limits.Check("shift_y", r.ShiftY, Limits.Shift);
            Limits.Check("scale", r.Scale, Limits.Scale);
            if (r.Occluder != null) Explorer.CheckOccluder(r.Occluder);
            var kinds = Explorer.Choose(r.Decoders);
            var f = Explorer.Get(r.Face);
            return await Work(ctx, () => new
            {
                face = f.Id, rotation = r.Rotation, shift_x = r.ShiftX, shift_y = r.ShiftY, scale = r.Scale, occluder = r.Occluder,
                results = Explorer.Perturb(f, r, kinds).Select(OutcomeJson).ToList(),
            });
        });

        app.MapPost("/api/heatmap", async (HttpContext ctx) =>
        {
            var r = await Body<HeatmapRequest>(ctx);
            Limits.Check("patch", r.Patch, Limits.Patch);
            Limits.Check("stride", r.Stride, Limits.Stride);
            ApiJson.Colour(r.Colour);
            Explorer.CheckHeatmap(r);
            var f = Explorer.Get(r.Face);
            return await Work(ctx, () => new
            {
                face = f.Id, patch = r.Patch, stride = r.Stride, colour = r.Colour ?? "black",
                results = Explorer.Heatmap(f, r).Select(h => new
                {
                    encoder = h.Encoder, image = DataUrl(h.Map),
                    peak = new { x = h.Numbers.Peak.X, y = h.Numbers.Peak.Y, drop = h.Numbers.Peak.Drop },
                    mean_drop = h.Numbers.Mean.Average(),
                }).ToList(),
            });
        });

        app.MapPost("/api/attack", async (HttpContext ctx) =>
        {
            var r = await Body<AttackRequest>(ctx);
            if (r.Method is not ("fgsm" or "pgd")) throw new ApiException(400, $"method must be fgsm or pgd, got '{Explorer.Clip(r.Method)}'");
            var goal = r.Goal switch
            {
                "dodge" => AttackGoal.Dodge,
                "impersonate" => AttackGoal.Impersonate,
                _ => throw new ApiException(400, $"goal must be dodge or impersonate, got '{Explorer.Clip(r.Goal)}'"),
            };
            Limits.Check("epsilon", r.Epsilon, Limits.Epsilon);
            Limits.Check("steps", r.Steps, Limits.Steps);
            Limits.Check("amplify", r.Amplify, Limits.Amplify);
            var kinds = Explorer.Choose(r.Decoders);
            var f = Explorer.Get(r.Face);
            LoadedFace? target = null;
            if (goal == AttackGoal.Impersonate) target = r.Target != null ? Explorer.Get(r.Target) : throw new ApiException(400, "impersonate needs a target face id");
            else if (r.Target != null) throw new ApiException(400, "dodge takes no target (it pushes away from the face's own template)");
            return await Work(ctx, () => new
            {
                face = f.Id, method = r.Method, goal = r.Goal, target = target?.Id, epsilon = r.Epsilon,
                steps = r.Method == "fgsm" ? 1 : r.Steps, amplify = r.Amplify,
                results = Explorer.Attack(f, target, r, goal, kinds).Select(a => new
                {
                    result = OutcomeJson(a.Result), difference = DataUrl(a.Difference),
                    target_cosine = a.TargetCosine, target_match = a.TargetMatch,
                }).ToList(),
            });
        });

        app.MapPost("/api/interpolate", async (HttpContext ctx) =>
        {
            var r = await Body<InterpolateRequest>(ctx);
            Limits.Check("t", r.T, Limits.Fraction);
            var kinds = Explorer.Choose(r.Decoders);
            LoadedFace a = Explorer.Get(r.A), b = Explorer.Get(r.B);
            return await Work(ctx, () => new
            {
                a = a.Id, b = b.Id, t = r.T,
                results = Explorer.Interpolate(a, b, r.T, kinds).Select(p => new
                {
                    encoder = p.Encoder, reconstruction = p.Reconstruction is { } img ? DataUrl(img) : null, decoder = p.Decoder,
                    cosine_a = p.CosineA, cosine_b = p.CosineB, match_a = p.MatchA, match_b = p.MatchB,
                }).ToList(),
            });
        });

        app.MapPost("/api/reconstruct", async (HttpContext ctx) =>
        {
            var r = await Body<ReconstructRequest>(ctx);
            var m = Explorer.Model(r.Encoder);
            if (r.Template is not { } t) throw new ApiException(400, "no template given");
            if (t.Length != m.Spec.EmbeddingSize) throw new ApiException(400, $"template has {t.Length} values; {m.Spec.Name} makes {m.Spec.EmbeddingSize}");
            if (t.Any(x => !float.IsFinite(x))) throw new ApiException(400, "template holds a value that is not a finite number");
            int k = Explorer.Models.ToList().IndexOf(m);
            var kind = Explorer.Choose(new Dictionary<string, string?> { [m.Spec.Name] = r.Decoder ?? DecoderKind.Regression })[k];
            if (kind == DecoderKind.Regression && m.Decoder == null) throw new ApiException(409, $"{m.Spec.Name} has no decoder here");
            return await Work(ctx, () =>
            {
                var (img, drawn) = Explorer.Draw(k, kind, t);
                return new { encoder = m.Spec.Name, decoder = drawn, reconstruction = DataUrl(img!) };
            });
        });

        app.MapFallback("/api/{**rest}", (HttpContext ctx) => Error(ctx, 404, $"no such endpoint: {ctx.Request.Method} {Explorer.Clip(ctx.Request.Path)}"));
    }

    object Info() => new
    {
        encoders = Explorer.Models.Select((m, k) => new
        {
            name = m.Spec.Name, input_width = m.Spec.InputWidth, input_height = m.Spec.InputHeight, embedding_size = m.Spec.EmbeddingSize,
            threshold = double.IsFinite(m.Spec.Threshold1e3) ? m.Spec.Threshold1e3 : (double?)null, threshold_source = m.Spec.ThresholdSource,
            decoder = m.DecoderPath is { } p ? Path.GetFileName(p) : null,
            sharp_decoder = Explorer.Sharp(k) is { } s ? Path.GetFileName(s.Path) : null,
            // The kinds the page offers for this encoder's column.
            decoders = new[] { m.Decoder != null ? DecoderKind.Regression : null, Explorer.Sharp(k) != null ? DecoderKind.Sharp : null }
                .OfType<string>().ToList(),
        }).ToList(),
        side_by_side = Explorer.SideBySide,
        samples = Explorer.Samples,
        occluders = Explorer.OccluderNames,
        limits = Limits.Describe(),
        max_upload_bytes = Options.MaxUploadBytes,
        max_megapixels = ImageIO.MaxPixels / 1_000_000,
        request_timeout_s = Options.RequestTimeout.TotalSeconds,
    };

    /// <summary>A photo as the body (any type ImageIO decodes; the bytes decide, not the name), ?name= for display.</summary>
    async Task<IResult> Upload(HttpContext ctx)
    {
        var type = ctx.Request.ContentType ?? "";
        if (type.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) || type.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
            throw new ApiException(415, "send the image file itself as the request body, not a form");
        var name = ctx.Request.Query["name"].FirstOrDefault() is { Length: > 0 } n ? Explorer.Clip(Path.GetFileName(n)) : "upload";
        var kinds = Explorer.Choose(ApiJson.DecoderQuery(ctx.Request.Query["decoders"].FirstOrDefault()));
        var bytes = await ReadBody(ctx, Options.MaxUploadBytes, $"image larger than {Options.MaxUploadBytes / (1024 * 1024)} MB");
        return await Work(ctx, () =>
        {
            RgbImage photo;
            try { photo = ImageIO.Decode(bytes, name); }
            catch (ImageLoadException e) { throw new ApiException(e.Problem.Contains("megapixel") ? 413 : 415, e.Message); }
            return FaceJson(Explorer.Add(name, photo), kinds);
        });
    }

    /// <summary>Queues model work for this client and waits for it, within the request time limit.</summary>
    async Task<IResult> Work(HttpContext ctx, Func<object> work)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        cts.CancelAfter(Options.RequestTimeout);
        try
        {
            return Json(await Queue.Run(Client(ctx), work, cts.Token));
        }
        catch (OperationCanceledException) when (!ctx.RequestAborted.IsCancellationRequested)
        {
            throw new ApiException(503, $"no answer within {Options.RequestTimeout.TotalSeconds:0.#} s (server busy); try again");
        }
    }

    /// <summary>Who is asking, for the queue's fairness: the page's per-tab id (X-Dfd-Client), else the remote address.</summary>
    static string Client(HttpContext ctx)
    {
        var h = ctx.Request.Headers["X-Dfd-Client"].FirstOrDefault();
        if (!string.IsNullOrEmpty(h)) return "h:" + (h.Length > 64 ? h[..64] : h);
        return "ip:" + (ctx.Connection.RemoteIpAddress?.ToString() ?? "local");
    }

    async Task<T> Body<T>(HttpContext ctx) where T : class =>
        ApiJson.Parse<T>(await ReadBody(ctx, Options.MaxJsonBytes, $"request body larger than {Options.MaxJsonBytes / 1024} KB"));

    static async Task<byte[]> ReadBody(HttpContext ctx, long limit, string tooLarge)
    {
        if (ctx.Request.ContentLength > limit) throw new ApiException(413, tooLarge);
        using var ms = new MemoryStream();
        var buf = new byte[81920];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(buf, ctx.RequestAborted)) > 0)
        {
            if (ms.Length + n > limit) throw new ApiException(413, tooLarge);
            ms.Write(buf, 0, n);
        }
        return ms.ToArray();
    }

    object FaceJson(LoadedFace f, IReadOnlyList<string> kinds)
    {
        const int show = 480;   // the photo as the page shows it, at most this many pixels on its long side
        double s = Math.Min(1, (double)show / Math.Max(f.Photo.Width, f.Photo.Height));
        var shown = s < 1 ? Warp.Resize(f.Photo, Math.Max(1, (int)Math.Round(f.Photo.Width * s)), Math.Max(1, (int)Math.Round(f.Photo.Height * s))) : f.Photo;
        return new
        {
            id = f.Id, name = f.Name, width = f.Photo.Width, height = f.Photo.Height,
            photo = "data:image/jpeg;base64," + Convert.ToBase64String(ImageIO.Encode(shown, ".jpg", 90)),
            photo_width = shown.Width, photo_height = shown.Height,
            faces = f.Faces.Select(d => new
            {
                x = d.X, y = d.Y, width = d.Width, height = d.Height, score = d.Score,
                landmarks = d.Landmarks.Select(p => new[] { p.X, p.Y }).ToArray(),
            }).ToList(),
            pick = f.Pick,
            encoders = Explorer.Models.Select((m, k) =>
            {
                var v = f.Views[k];
                var (recon, drawn) = Explorer.Reconstruction(f, k, kinds[k]);
                double? rc = recon != null ? m.Compare(m.EncodeReconstruction(recon), v.Template) : null;
                return new
                {
                    encoder = m.Spec.Name, crop = DataUrl(v.Crop), reconstruction = recon is { } r ? DataUrl(r) : null, decoder = drawn,
                    reconstruction_cosine = rc, reconstruction_match = rc is { } c ? c >= m.Spec.Threshold1e3 : (bool?)null,
                    threshold = double.IsFinite(m.Spec.Threshold1e3) ? m.Spec.Threshold1e3 : (double?)null,
                    template = v.Template,
                };
            }).ToList(),
        };
    }

    static object OutcomeJson(Explorer.Outcome o) => new
    {
        encoder = o.Encoder, image = DataUrl(o.Image), reconstruction = o.Reconstruction is { } r ? DataUrl(r) : null, decoder = o.Decoder,
        cosine = o.Cosine, match = o.Match, threshold = double.IsFinite(o.Threshold) ? o.Threshold : (double?)null,
    };

    /// <summary>A PNG data URL; zlib level 1, as a slider update's two PNGs would otherwise cost as much as the decoder.</summary>
    public static string DataUrl(RgbImage img) => "data:image/png;base64," + Convert.ToBase64String(ImageIO.EncodePng(img, 1));

    static IResult Json(object o) => Results.Text(JsonSerializer.Serialize(o, ApiJson.Options), "application/json; charset=utf-8");

    static byte[] Page(string file)
    {
        using var s = typeof(DfdServer).Assembly.GetManifestResourceStream("wwwroot/" + file)
            ?? throw new InvalidOperationException($"page file {file} is not embedded in {typeof(DfdServer).Assembly.GetName().Name}");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>Every failure of a request becomes a status and one line of JSON; the server goes on.</summary>
    static async Task Guard(HttpContext ctx, RequestDelegate next)
    {
        try { await next(ctx); }
        catch (ApiException e) { await Error(ctx, e.Status, e.Message); }
        catch (QueueFullException e) { await Error(ctx, e.Status, e.Message); }
        catch (NoFaceException e) { await Error(ctx, 422, e.Message); }
        catch (BadHttpRequestException e) { await Error(ctx, e.StatusCode, e.StatusCode == 413 ? "request body too large" : ApiJson.OneLine(e.Message)); }
        catch (DfdException e) { await Error(ctx, 400, e.Message); }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { }   // the client went away
        catch (Exception e)
        {
            Console.Error.WriteLine($"dfd serve: {ctx.Request.Method} {ctx.Request.Path}: {e.GetType().Name}: {ApiJson.OneLine(e.Message)}");
            await Error(ctx, 500, "internal error: " + ApiJson.OneLine(e.Message));
        }
    }

    static async Task Error(HttpContext ctx, int status, string message)
    {
        if (ctx.Response.HasStarted) return;
        ctx.Response.Clear();
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json; charset=utf-8";
        await ctx.Response.WriteAsync(JsonSerializer.Serialize(new { error = ApiJson.OneLine(message) }, ApiJson.Options));
    }
}
