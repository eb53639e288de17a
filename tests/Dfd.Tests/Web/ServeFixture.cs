using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dfd.Decoder;
using Dfd.Web;
using Microsoft.AspNetCore.TestHost;
using Xunit;

namespace Dfd.Tests.Web;

/// <summary>One in-process server (TestServer, no socket) over dlib-resnet with its shipped decoder and the samples.</summary>
public sealed class ServeFixture : IAsyncLifetime
{
    public DfdServer Server { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;

    /// <param name="sharp">A sharp decoder file for dlib-resnet (e.g. <see cref="StandInSharp"/>), or none.</param>
    public static DfdServer Create(ServeOptions? options = null, bool testServer = true, string? sharp = null)
    {
        var model = FaceModel.Open("dlib-resnet");
        var sharpDecoder = sharp == null ? null : DecoderFile.Load(sharp, null, model.Spec);
        return DfdServer.Create(new Explorer([model], Path.Combine(TestPaths.RepoRoot, "samples"), sharp: [sharpDecoder]),
            options ?? new ServeOptions { Port = 0 }, testServer ? b => b.WebHost.UseTestServer() : null);
    }

    /// <summary>
    /// A stand-in for dlib-resnet's sharp decoder (not the shipped one), under the shipped name in <paramref name="dir"/>:
    /// an untrained, smaller decoder, so that every face it draws differs from the regression decoder's.
    /// </summary>
    public static string StandInSharp(string dir)
    {
        var path = Path.Combine(dir, "dfd-dlib-resnet-lfw-sharp.safetensors");
        using var d = new FaceDecoder(new(Widths: [32, 16, 16], StartWidth: 32, RefineDepth: 1));
        DecoderFile.Save(path, d, new Dictionary<string, string> { ["encoder"] = "dlib-resnet" });
        return path;
    }

    public async Task InitializeAsync()
    {
        Server = Create();
        await Server.StartAsync();
        Client = Server.App.GetTestClient();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }

    /// <summary>POSTs JSON (a string is sent as is) and returns status and parsed body.</summary>
    public async Task<(int Status, JsonNode Body)> Post(string path, object body, string? client = null)
    {
        using var req = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = body is string s ? new StringContent(s, System.Text.Encoding.UTF8, "application/json") : JsonContent.Create(body),
        };
        if (client != null) req.Headers.Add("X-Dfd-Client", client);
        using var r = await Client.SendAsync(req);
        return ((int)r.StatusCode, await Parse(r));
    }

    public static async Task<JsonNode> Parse(HttpResponseMessage r)
    {
        var text = await r.Content.ReadAsStringAsync();
        try { return JsonNode.Parse(text) ?? new JsonObject(); }
        catch (JsonException) { throw new Xunit.Sdk.XunitException($"HTTP {(int)r.StatusCode}: not JSON: {text[..Math.Min(200, text.Length)]}"); }
    }

    /// <summary>Loads a sample and returns its face record.</summary>
    public async Task<JsonNode> Sample(string name = "Hugh_Grant_0001.jpg")
    {
        var (status, body) = await Post("/api/faces/sample", new { name });
        Assert.True(status == 200, $"{status}: {body.ToJsonString()}");
        return body;
    }
}
