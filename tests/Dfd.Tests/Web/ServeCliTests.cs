using System.Diagnostics;
using System.Text.Json.Nodes;
using Dfd.Web;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Web;

public class ServeCliTests
{
    [Fact]
    public void WrongOptionsEndInOneLine()
    {
        AssertOneLineError(Run("serve", "--port", "70000"), 2, "serve", "--port");
        AssertOneLineError(Run("serve", "--port", "http"), 2, "serve", "--port");
        AssertOneLineError(Run("serve", "--host", "example.com"), 2, "serve", "--host");
        AssertOneLineError(Run("serve", "--encoder", "dlib-resnet", "--decoder", "a.safetensors,b.safetensors"), 2, "serve", "--decoder");
        AssertOneLineError(Run("serve", "--encoder", "dlib-resnet", "--sharp", "a.safetensors,b.safetensors"), 2, "serve", "--sharp");
        AssertOneLineError(Run("serve", "--encoder", "dlib-resnet", "--sharp", "/no/such/sharp.safetensors"), 1, "serve", "/no/such/sharp.safetensors");
        AssertOneLineError(Run("serve", "--encoder", "dlib-resnet,dlib-resnet"), 2, "serve", "twice");
        AssertOneLineError(Run("serve", "--samples", "/no/such/folder"), 2, "serve", "--samples");
        AssertOneLineError(Run("serve", "--colour", "red"), 2, "serve", "unknown option");
        AssertOneLineError(Run("serve", "--encoder", "no-such-encoder"), 1, "serve", "no-such-encoder");
    }

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("localhost", true)]
    [InlineData("::1", true)]
    [InlineData("0.0.0.0", false)]
    [InlineData("192.168.1.5", false)]
    public void OnlyLoopbackAddressesCountAsLocal(string host, bool loopback) =>
        Assert.Equal(loopback, new ServeOptions { Host = host }.IsLoopback);

    [Fact]
    public void UrlsBracketIPv6() => Assert.Equal("http://[::1]:80", new ServeOptions { Host = "::1", Port = 80 }.Url);

    /// <summary>The real command in its own process: it prints its address as JSON and answers there.</summary>
    [Fact]
    public async Task ServePrintsItsAddressAsJsonAndAnswersThere()
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "Dfd.Cli.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = TestPaths.RepoRoot };
        foreach (var a in new[] { dll, "serve", "--port", "0", "--json" }) psi.ArgumentList.Add(a);
        // A sharp decoder under its shipped name in $DFD_MODELS (a stand-in, so that this checks the lookup) is found and offered.
        var models = Directory.CreateTempSubdirectory("dfd-models-").FullName;
        ServeFixture.StandInSharp(models);
        psi.Environment["DFD_MODELS"] = models;
        using var p = Process.Start(psi)!;
        try
        {
            var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(line != null, "serve printed nothing");
            var j = JsonNode.Parse(line)!;
            var url = j["url"]!.GetValue<string>();
            Assert.StartsWith("http://127.0.0.1:", url);
            Assert.Equal("dlib-resnet", j["encoders"]![0]!.GetValue<string>());
            using var http = new HttpClient { BaseAddress = new Uri(url) };
            var info = JsonNode.Parse(await http.GetStringAsync("/api/info"))!;
            Assert.Equal(12, info["samples"]!.AsArray().Count);
            Assert.Equal("dfd-dlib-resnet-lfw-sharp.safetensors", j["sharp_decoders"]![0]!.GetValue<string>());
            Assert.Equal(["regression", "sharp"], info["encoders"]![0]!["decoders"]!.AsArray().Select(d => d!.GetValue<string>()));
        }
        finally
        {
            if (!p.HasExited) p.Kill(entireProcessTree: true);
            Assert.True(p.WaitForExit(30_000), "serve did not end when killed");
            Directory.Delete(models, recursive: true);
        }
    }
}
