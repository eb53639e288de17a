using System.Text.Json.Nodes;
using Dfd.Decoder;
using Dfd.Imaging;
using Dfd.Web;
using Microsoft.AspNetCore.TestHost;
using Xunit;

namespace Dfd.Tests.Web;

/// <summary>A server whose dlib-resnet has a sharp decoder beside its regression one (a stand-in, not the shipped one).</summary>
public sealed class SharpServeFixture : IAsyncLifetime
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-sharp-").FullName;
    public DfdServer Server { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;
    public string SharpPath { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        SharpPath = ServeFixture.StandInSharp(dir);
        Server = ServeFixture.Create(sharp: SharpPath);
        await Server.StartAsync();
        Client = Server.App.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        Directory.Delete(dir, recursive: true);
    }
}

/// <summary>
/// Serve's per-encoder choice of decoder: every answer that holds a reconstruction says which decoder drew it, and
/// the choice switches the decoder that does.
/// </summary>
public class ServeDecoderChoiceTests(SharpServeFixture fx) : IClassFixture<SharpServeFixture>
{
    async Task<(int Status, JsonNode Body)> Post(string path, object body)
    {
        using var r = await fx.Client.PostAsync(path, System.Net.Http.Json.JsonContent.Create(body));
        return ((int)r.StatusCode, await ServeFixture.Parse(r));
    }

    static readonly Dictionary<string, string> Sharp = new() { ["dlib-resnet"] = "sharp" };
    static readonly Dictionary<string, string> Regression = new() { ["dlib-resnet"] = "regression" };

    /// <summary>What the decoder of that file draws from a template, as the server would send it.</summary>
    string Drawn(string file, JsonNode template)
    {
        using var d = DecoderFile.Load(file);
        return DfdServer.DataUrl(d.Decoder.Reconstruct(template.AsArray().Select(x => x!.GetValue<float>()).ToArray()));
    }

    string RegressionFile => fx.Server.Explorer.Models[0].DecoderPath!;

    [Fact]
    public async Task InfoOffersRegressionAndSharp()
    {
        var e = JsonNode.Parse(await fx.Client.GetStringAsync("/api/info"))!["encoders"]![0]!;
        Assert.Equal(["regression", "sharp"], e["decoders"]!.AsArray().Select(x => x!.GetValue<string>()));
        Assert.Equal("dfd-dlib-resnet-lfw-sharp.safetensors", e["sharp_decoder"]!.GetValue<string>());
        Assert.Equal("dfd-dlib-resnet-lfw.safetensors", e["decoder"]!.GetValue<string>());
    }

    [Fact]
    public async Task TheFaceIsDrawnByTheDecoderChosenAndSaysWhich()
    {
        var (s1, plain) = await Post("/api/faces/sample", new { name = "Hugh_Grant_0001.jpg" });
        var (s2, sharp) = await Post("/api/faces/sample", new { name = "Hugh_Grant_0001.jpg", decoders = Sharp });
        Assert.True(s1 == 200 && s2 == 200, $"{s1} {s2}: {sharp.ToJsonString()[..Math.Min(300, sharp.ToJsonString().Length)]}");
        JsonNode p = plain["encoders"]![0]!, q = sharp["encoders"]![0]!;
        Assert.Equal("regression", p["decoder"]!.GetValue<string>());
        Assert.Equal("sharp", q["decoder"]!.GetValue<string>());
        Assert.Equal(Drawn(RegressionFile, p["template"]!), p["reconstruction"]!.GetValue<string>());
        Assert.Equal(Drawn(fx.SharpPath, q["template"]!), q["reconstruction"]!.GetValue<string>());
        Assert.NotEqual(p["reconstruction"]!.GetValue<string>(), q["reconstruction"]!.GetValue<string>());

        // The same face fetched again, by query, with either decoder.
        var id = sharp["id"]!.GetValue<string>();
        var again = JsonNode.Parse(await fx.Client.GetStringAsync($"/api/faces/{id}?decoders=dlib-resnet:regression"))!["encoders"]![0]!;
        Assert.Equal("regression", again["decoder"]!.GetValue<string>());
        Assert.Equal(Drawn(RegressionFile, q["template"]!), again["reconstruction"]!.GetValue<string>());
        var picked = (await Post($"/api/faces/{id}/pick", new { index = 0, decoders = Sharp })).Body["encoders"]![0]!;
        Assert.Equal("sharp", picked["decoder"]!.GetValue<string>());
    }

    [Fact]
    public async Task PerturbAttackInterpolateAndReconstructFollowTheChoice()
    {
        var f = (await Post("/api/faces/sample", new { name = "Halle_Berry_0001.jpg" })).Body;
        var id = f["id"]!.GetValue<string>();
        var template = f["encoders"]![0]!["template"]!;
        foreach (var (kinds, kind, file) in new[] { (Regression, "regression", RegressionFile), (Sharp, "sharp", fx.SharpPath) })
        {
            var perturb = (await Post("/api/perturb", new { face = id, decoders = kinds })).Body["results"]![0]!;
            Assert.Equal(kind, perturb["decoder"]!.GetValue<string>());
            // At rest the perturbed crop is the crop: its reconstruction is that decoder's face of the template.
            Assert.Equal(Drawn(file, template), perturb["reconstruction"]!.GetValue<string>());
            var attack = (await Post("/api/attack", new { face = id, epsilon = 2, decoders = kinds })).Body["results"]![0]!;
            Assert.Equal(kind, attack["result"]!["decoder"]!.GetValue<string>());
            var interp = (await Post("/api/interpolate", new { a = id, b = id, t = 0.5, decoders = kinds })).Body["results"]![0]!;
            Assert.Equal(kind, interp["decoder"]!.GetValue<string>());
            var rec = await Post("/api/reconstruct", new { encoder = "dlib-resnet", template, decoder = kind });
            Assert.Equal(200, rec.Status);
            Assert.Equal(kind, rec.Body["decoder"]!.GetValue<string>());
            Assert.Equal(Drawn(file, template), rec.Body["reconstruction"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task AWrongChoiceIsRefusedInOneLineAndTheServerGoesOn()
    {
        var id = (await Post("/api/faces/sample", new { name = "Hugh_Grant_0001.jpg" })).Body["id"]!.GetValue<string>();
        static void Refused((int Status, JsonNode Body) r, int status, params string[] mentions)
        {
            Assert.True(r.Status == status, $"expected {status}, got {r.Status}: {r.Body.ToJsonString()}");
            var e = r.Body["error"]!.GetValue<string>();
            Assert.DoesNotContain('\n', e);
            foreach (var m in mentions) Assert.Contains(m, e);
        }
        Refused(await Post("/api/perturb", new { face = id, decoders = new Dictionary<string, string> { ["dlib-resnet"] = "gan" } }), 400,
            "regression or sharp", "'gan'");
        Refused(await Post("/api/perturb", new { face = id, decoders = new Dictionary<string, string> { ["vgg"] = "sharp" } }), 400, "'vgg'", "not loaded");
        Refused(await Post("/api/reconstruct", new { encoder = "dlib-resnet", template = new float[128], decoder = "blurry" }), 400, "regression or sharp");
        Refused(await Post("/api/faces/sample", new { name = "Hugh_Grant_0001.jpg", decoders = new { dlib_resnet = 3 } }), 400, "malformed JSON");
        using (var r = await fx.Client.GetAsync($"/api/faces/{id}?decoders=sharp"))
            Refused(((int)r.StatusCode, await ServeFixture.Parse(r)), 400, "encoder:kind");
        using (var r = await fx.Client.GetAsync($"/api/faces/{id}?decoders=dlib-resnet:crisp"))
            Refused(((int)r.StatusCode, await ServeFixture.Parse(r)), 400, "'crisp'");
        Assert.Equal(200, (await Post("/api/perturb", new { face = id, decoders = Sharp })).Status);
    }
}
