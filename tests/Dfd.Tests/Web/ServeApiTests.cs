using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Dfd.Imaging;
using Xunit;

namespace Dfd.Tests.Web;

/// <summary>The explorer's API in-process: every endpoint, and every kind of bad request getting a 4xx and one line.</summary>
public class ServeApiTests(ServeFixture fx) : IClassFixture<ServeFixture>
{
    static RgbImage Png(string dataUrl)
    {
        Assert.StartsWith("data:image/png;base64,", dataUrl);
        return ImageIO.Decode(Convert.FromBase64String(dataUrl["data:image/png;base64,".Length..]), "response");
    }

    static double MeanAbsDiff(RgbImage a, RgbImage b) => a.Data.Zip(b.Data, (x, y) => Math.Abs(x - y)).Average();

    /// <summary>A refusal: the status, and a one-line reason that mentions each of <paramref name="mentions"/>.</summary>
    static void Refused((int Status, JsonNode Body) r, int status, params string[] mentions)
    {
        var error = r.Body["error"]?.GetValue<string>();
        Assert.True(r.Status == status, $"expected {status}, got {r.Status}: {r.Body.ToJsonString()}");
        Assert.False(string.IsNullOrWhiteSpace(error), "no error message");
        Assert.DoesNotContain('\n', error);
        Assert.DoesNotContain("   at ", error);
        foreach (var m in mentions) Assert.Contains(m, error);
    }

    [Fact]
    public async Task InfoListsTheEncoderSamplesOccludersAndLimits()
    {
        using var r = await fx.Client.GetAsync("/api/info");
        var j = await ServeFixture.Parse(r);
        Assert.Equal("dlib-resnet", j["encoders"]![0]!["name"]!.GetValue<string>());
        Assert.Equal(0.9201, j["encoders"]![0]!["threshold"]!.GetValue<double>(), 4);
        Assert.False(j["side_by_side"]!.GetValue<bool>());
        Assert.Equal(12, j["samples"]!.AsArray().Count);
        Assert.Contains("eyes", j["occluders"]!.AsArray().Select(o => o!.GetValue<string>()));
        Assert.Equal(10 * 1024 * 1024, j["max_upload_bytes"]!.GetValue<long>());
    }

    [Fact]
    public async Task ThePageAndItsScriptAreServedAndSayUploadsStayInMemory()
    {
        var html = await fx.Client.GetStringAsync("/");
        Assert.Contains("never written to disk", html);
        Assert.Contains("app.js", html);
        using var js = await fx.Client.GetAsync("/app.js");
        Assert.Equal("text/javascript", js.Content.Headers.ContentType!.MediaType);
        Assert.Contains("/api/perturb", await js.Content.ReadAsStringAsync());
        using var css = await fx.Client.GetAsync("/style.css");
        Assert.Equal(200, (int)css.StatusCode);
    }

    [Fact]
    public async Task ASampleComesBackDetectedAlignedEncodedAndReconstructed()
    {
        var f = await fx.Sample();
        Assert.Equal(12, f["id"]!.GetValue<string>().Length);
        var faces = f["faces"]!.AsArray();
        Assert.NotEmpty(faces);
        Assert.Equal(5, faces[0]!["landmarks"]!.AsArray().Count);
        var e = f["encoders"]![0]!;
        Assert.Equal((150, 150), (Png(e["crop"]!.GetValue<string>()).Width, Png(e["reconstruction"]!.GetValue<string>()).Height));
        Assert.Equal(128, e["template"]!.AsArray().Count);
        Assert.True(e["reconstruction_match"]!.GetValue<bool>(), $"reconstruction cosine {e["reconstruction_cosine"]}");
        // GET returns the same face.
        var again = await ServeFixture.Parse(await fx.Client.GetAsync($"/api/faces/{f["id"]}"));
        Assert.Equal(f["id"]!.GetValue<string>(), again["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task PerturbAtRestKeepsTheTemplateAndRotationMovesItAndTheReconstruction()
    {
        var id = (await fx.Sample())["id"]!.GetValue<string>();
        var rest = await fx.Post("/api/perturb", new { face = id });
        Assert.Equal(200, rest.Status);
        var r0 = rest.Body["results"]![0]!;
        Assert.Equal(1.0, r0["cosine"]!.GetValue<double>(), 5);
        Assert.True(r0["match"]!.GetValue<bool>());
        var turned = await fx.Post("/api/perturb", new { face = id, rotation = 40, shift_x = 5, scale = 1.1 });
        var r1 = turned.Body["results"]![0]!;
        double cos = r1["cosine"]!.GetValue<double>();
        Assert.InRange(cos, 0.3, 0.999);
        Assert.Equal(cos >= 0.9201, r1["match"]!.GetValue<bool>());
        Assert.True(MeanAbsDiff(Png(r0["image"]!.GetValue<string>()), Png(r1["image"]!.GetValue<string>())) > 5);
        Assert.True(MeanAbsDiff(Png(r0["reconstruction"]!.GetValue<string>()), Png(r1["reconstruction"]!.GetValue<string>())) > 0.5);
    }

    [Fact]
    public async Task OccludersNamedOrDraggedLowerTheCosineAndPaintTheCrop()
    {
        var id = (await fx.Sample())["id"]!.GetValue<string>();
        var eyes = await fx.Post("/api/perturb", new { face = id, occluder = new { name = "eyes", colour = "black" } });
        Assert.Equal(200, eyes.Status);
        Assert.True(eyes.Body["results"]![0]!["cosine"]!.GetValue<double>() < 0.99);
        var box = await fx.Post("/api/perturb", new { face = id, occluder = new { x = 10, y = 20, size = 30, colour = "#ff0000" } });
        Assert.Equal(200, box.Status);
        var img = Png(box.Body["results"]![0]!["image"]!.GetValue<string>());
        int i = img.Index(25, 35);
        Assert.Equal((255, 0, 0), (img.Data[i], img.Data[i + 1], img.Data[i + 2]));
    }

    [Fact]
    public async Task TheHeatMapFindsWhereCoveringHurts()
    {
        var id = (await fx.Sample())["id"]!.GetValue<string>();
        var r = await fx.Post("/api/heatmap", new { face = id, patch = 50, stride = 25 });
        Assert.Equal(200, r.Status);
        var h = r.Body["results"]![0]!;
        Assert.Equal(150, Png(h["image"]!.GetValue<string>()).Width);
        Assert.True(h["peak"]!["drop"]!.GetValue<double>() > 0);
    }

    [Fact]
    public async Task AttacksDodgeAndImpersonateAndShowTheirDifference()
    {
        var hugh = (await fx.Sample())["id"]!.GetValue<string>();
        var halle = await fx.Sample("Halle_Berry_0001.jpg");
        var dodge = await fx.Post("/api/attack", new { face = hugh, method = "fgsm", goal = "dodge", epsilon = 8, amplify = 20 });
        Assert.Equal(200, dodge.Status);
        var d = dodge.Body["results"]![0]!;
        Assert.True(d["result"]!["cosine"]!.GetValue<double>() < 0.99);
        var diff = Png(d["difference"]!.GetValue<string>());
        Assert.Contains(diff.Data, v => v != 128);
        Assert.Null(d["target_cosine"]);

        var imp = await fx.Post("/api/attack", new { face = hugh, method = "pgd", goal = "impersonate", target = halle["id"]!.GetValue<string>(), epsilon = 4, steps = 3 });
        Assert.Equal(200, imp.Status);
        var clean = (await fx.Post("/api/interpolate", new { a = hugh, b = halle["id"]!.GetValue<string>(), t = 0 })).Body["results"]![0]!["cosine_b"]!.GetValue<double>();
        Assert.True(imp.Body["results"]![0]!["target_cosine"]!.GetValue<double>() > clean, "impersonation did not pull towards the target");
        Assert.Equal(3, imp.Body["steps"]!.GetValue<int>());
    }

    [Fact]
    public async Task InterpolationRunsFromAToB()
    {
        var a = (await fx.Sample())["id"]!.GetValue<string>();
        var b = (await fx.Sample("Yao_Ming_0001.jpg"))["id"]!.GetValue<string>();
        var start = (await fx.Post("/api/interpolate", new { a, b, t = 0 })).Body["results"]![0]!;
        var end = (await fx.Post("/api/interpolate", new { a, b, t = 1 })).Body["results"]![0]!;
        Assert.Equal(1.0, start["cosine_a"]!.GetValue<double>(), 5);
        Assert.Equal(1.0, end["cosine_b"]!.GetValue<double>(), 5);
        Assert.True(start["match_a"]!.GetValue<bool>() && !start["match_b"]!.GetValue<bool>());
        Assert.NotEqual(start["reconstruction"]!.GetValue<string>(), end["reconstruction"]!.GetValue<string>());
    }

    [Fact]
    public async Task ATemplateDecodesAndOneOfTheWrongSizeIsRefused()
    {
        var f = await fx.Sample();
        var t = f["encoders"]![0]!["template"]!.AsArray().Select(v => v!.GetValue<float>()).ToArray();
        var ok = await fx.Post("/api/reconstruct", new { encoder = "dlib-resnet", template = t });
        Assert.Equal(200, ok.Status);
        Assert.Equal(f["encoders"]![0]!["reconstruction"]!.GetValue<string>(), ok.Body["reconstruction"]!.GetValue<string>());
        Refused(await fx.Post("/api/reconstruct", new { encoder = "dlib-resnet", template = t[..100] }), 400, "100", "128");
        Refused(await fx.Post("/api/reconstruct", new { encoder = "vgg16-face", template = t }), 404, "not loaded");
        Refused(await fx.Post("/api/reconstruct", new { encoder = "dlib-resnet" }), 400, "template");
    }

    async Task<(int Status, JsonNode Body)> Upload(byte[] bytes, string name, string type = "application/octet-stream")
    {
        using var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(type);
        using var r = await fx.Client.PostAsync("/api/faces?name=" + Uri.EscapeDataString(name), content);
        return ((int)r.StatusCode, await ServeFixture.Parse(r));
    }

    [Fact]
    public async Task UploadsAreJudgedByTheirBytesNotTheirNames()
    {
        var photo = File.ReadAllBytes(Path.Combine(TestPaths.RepoRoot, "samples", "Naomi_Watts_0001.jpg"));
        var ok = await Upload(photo, "holiday.txt");   // a JPEG, whatever it is called
        Assert.Equal(200, ok.Status);
        Assert.Equal("holiday.txt", ok.Body["name"]!.GetValue<string>());

        Refused(await Upload("not an image at all"u8.ToArray(), "face.jpg"), 415, "not a decodable image");
        Refused(await Upload(photo[..(photo.Length / 2)], "half.jpg"), 415, "truncated");
        var grey = new RgbImage(200, 200);
        Array.Fill(grey.Data, (byte)128);
        Refused(await Upload(ImageIO.Encode(grey), "grey.png"), 422, "no face found");
        Refused(await Upload(new byte[10 * 1024 * 1024 + 1], "big.jpg"), 413, "10 MB");
        Refused(await Upload(HugePngHeader(8000, 6000), "huge.png"), 413, "megapixel");
        Refused(await Upload(photo, "x.jpg", "multipart/form-data; boundary=x"), 415, "request body");
        Refused(await Upload([], "empty.jpg"), 415, "empty");
    }

    /// <summary>A small PNG that declares width×height: a valid header and the start of its pixel data.</summary>
    static byte[] HugePngHeader(int width, int height)
    {
        var png = new List<byte> { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A };
        void Chunk(string type, byte[] data)
        {
            var body = System.Text.Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
            png.AddRange(BigEndian(data.Length)); png.AddRange(body); png.AddRange(BigEndian((int)Crc32(body)));
        }
        Chunk("IHDR", [.. BigEndian(width), .. BigEndian(height), 8, 2, 0, 0, 0]);   // 8-bit RGB
        using var z = new MemoryStream();
        using (var zs = new System.IO.Compression.ZLibStream(z, System.IO.Compression.CompressionLevel.Optimal)) zs.Write(new byte[4096]);
        Chunk("IDAT", z.ToArray());
        Chunk("IEND", []);
        return png.ToArray();
    }

    static byte[] BigEndian(int v) => [(byte)(v >> 24), (byte)(v >> 16), (byte)(v >> 8), (byte)v];

    static uint Crc32(byte[] data)
    {
        uint c = 0xFFFFFFFF;
        foreach (var b in data)
        {
            c ^= b;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
        }
        return ~c;
    }

    [Fact]
    public async Task BadRequestsGetA4xxWithOneLineAndTheServerGoesOn()
    {
        var id = (await fx.Sample())["id"]!.GetValue<string>();
        Refused(await fx.Post("/api/perturb", "{\"face\": \"" + id + "\", \"rotation\": "), 400, "malformed JSON");
        Refused(await fx.Post("/api/perturb", "[1, 2]"), 400, "malformed JSON");
        Refused(await fx.Post("/api/perturb", ""), 400, "empty body");
        Refused(await fx.Post("/api/perturb", new { face = id, rotaton = 10 }), 400, "rotaton");
        Refused(await fx.Post("/api/perturb", new { face = id, rotation = "ten" }), 400, "malformed JSON");
        Refused(await fx.Post("/api/perturb", new { face = "0123456789ab" }), 404, "unknown face id");
        Refused(await fx.Post("/api/perturb", new { rotation = 3 }), 400, "no face id");
        Refused(await fx.Post("/api/perturb", new { face = id, rotation = 181 }), 400, "rotation", "-180..180");
        Refused(await fx.Post("/api/perturb", "{\"face\": \"" + id + "\", \"rotation\": \"NaN\"}"), 400, "rotation");
        Refused(await fx.Post("/api/perturb", new { face = id, shift_y = -200 }), 400, "shift_y");
        Refused(await fx.Post("/api/perturb", new { face = id, scale = 0 }), 400, "scale");
        Refused(await fx.Post("/api/perturb", new { face = id, occluder = new { name = "ears" } }), 400, "ears", "eyes");
        Refused(await fx.Post("/api/perturb", new { face = id, occluder = new { x = 10 } }), 400, "occluder");
        Refused(await fx.Post("/api/perturb", new { face = id, occluder = new { x = 10, y = 500, size = 20 } }), 400, "occluder y");
        Refused(await fx.Post("/api/perturb", new { face = id, occluder = new { name = "eyes", colour = "mauve" } }), 400, "colour");
        Refused(await fx.Post("/api/heatmap", new { face = id, patch = 1 }), 400, "patch");
        Refused(await fx.Post("/api/heatmap", new { face = id, stride = 0 }), 400, "stride");
        Refused(await fx.Post("/api/heatmap", new { face = id, patch = 4, stride = 2 }), 400, "positions", "at most 400");
        Refused(await fx.Post("/api/attack", new { face = id, epsilon = 100 }), 400, "epsilon");
        Refused(await fx.Post("/api/attack", new { face = id, method = "cw" }), 400, "method");
        Refused(await fx.Post("/api/attack", new { face = id, goal = "hide" }), 400, "goal");
        Refused(await fx.Post("/api/attack", new { face = id, goal = "impersonate" }), 400, "target");
        Refused(await fx.Post("/api/attack", new { face = id, goal = "impersonate", target = "nope" }), 404, "unknown face id");
        Refused(await fx.Post("/api/attack", new { face = id, method = "pgd", steps = 0 }), 400, "steps");
        Refused(await fx.Post("/api/interpolate", new { a = id, b = id, t = 1.5 }), 400, "t must");
        Refused(await fx.Post("/api/interpolate", new { a = id }), 400, "no face id");
        Refused(await fx.Post("/api/faces/sample", new { name = "../README.md" }), 404, "unknown sample");
        Refused(await fx.Post($"/api/faces/{id}/pick", new { index = 7 }), 400, "face index");
        // No sharp decoder here: asking for one is refused, as is a kind that does not exist.
        Refused(await fx.Post("/api/perturb", new { face = id, decoders = new Dictionary<string, string> { ["dlib-resnet"] = "sharp" } }), 409,
            "no sharp decoder", "dfd-dlib-resnet-lfw-sharp.safetensors");
        Refused(await fx.Post("/api/interpolate", new { a = id, b = id, decoders = new Dictionary<string, string> { ["dlib-resnet"] = "Sharp" } }), 400,
            "regression or sharp");
        using (var r = await fx.Client.GetAsync("/api/nothing-here")) Refused(((int)r.StatusCode, await ServeFixture.Parse(r)), 404, "no such endpoint");
        using (var r = await fx.Client.DeleteAsync("/api/faces/0123456789ab")) Refused(((int)r.StatusCode, await ServeFixture.Parse(r)), 404, "unknown face id");
        Refused(await fx.Post("/api/faces/sample", new string('x', 2 * 1024 * 1024)), 413, "larger");

        var after = await fx.Post("/api/perturb", new { face = id, rotation = 5 });
        Assert.Equal(200, after.Status);
    }

    [Fact]
    public async Task APhotoOfTwoPeopleOpensOnTheCentralFace()
    {
        var (photo, _, _) = Dfd.Tests.Cli.PickTests.TwoPeople();
        using var content = new ByteArrayContent(ImageIO.EncodePng(photo, 1));
        using var r = await fx.Client.PostAsync("/api/faces?name=two.png", content);
        var f = await ServeFixture.Parse(r);
        Assert.True((int)r.StatusCode == 200, f.ToJsonString());
        var faces = f["faces"]!.AsArray();
        Assert.Equal(2, faces.Count);
        int pick = f["pick"]!.GetValue<int>();
        // The picked box is the one nearer the middle, and it is not the detector's first (most confident) face.
        double Dist(JsonNode d) => Math.Abs(d["x"]!.GetValue<double>() + d["width"]!.GetValue<double>() / 2 - photo.Width / 2.0);
        Assert.True(Dist(faces[pick]!) < Dist(faces[1 - pick]!));
        Assert.Equal(1, pick);
    }

    [Fact]
    public async Task AFaceCanBeForgotten()
    {
        var id = (await fx.Sample())["id"]!.GetValue<string>();
        using (var r = await fx.Client.DeleteAsync($"/api/faces/{id}")) Assert.Equal(204, (int)r.StatusCode);
        Refused(await fx.Post("/api/perturb", new { face = id }), 404, "unknown face id");
    }

    [Fact]
    public async Task EightClientsAtOnceAllGetTheirAnswers()
    {
        var id = (await fx.Sample())["id"]!.GetValue<string>();
        var clients = Enumerable.Range(0, 8).Select(async c =>
        {
            var codes = new List<int>();
            for (int k = 0; k < 3; k++)
                codes.Add((await fx.Post("/api/perturb", new { face = id, rotation = c * 5 + k }, client: $"c{c}")).Status);
            return codes;
        });
        var all = (await Task.WhenAll(clients)).SelectMany(x => x).ToList();
        Assert.Equal(24, all.Count);
        Assert.All(all, s => Assert.Equal(200, s));
    }
}
