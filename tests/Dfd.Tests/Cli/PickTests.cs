using System.Text.Json.Nodes;
using Dfd.Core;
using Dfd.Detection;
using Dfd.Imaging;
using Dfd.IO;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Cli;

/// <summary>
/// --pick central|confident|all of align, encode and reconstruct, on a photo of two people made here from two samples:
/// one in the middle, the other at the edge, laid out so that the detector is surer of the one at the edge (the
/// test checks that it is). Central, the default everywhere, takes the person in the middle.
/// </summary>
public sealed class PickTests : IDisposable
{
    readonly string dir = Directory.CreateTempSubdirectory("dfd-pick-").FullName;

    static string SamplePath(string name) => Path.Combine(TestPaths.RepoRoot, "samples", name);

    public void Dispose() => Directory.Delete(dir, recursive: true);

    string P(string name) => Path.Combine(dir, name);

    /// <summary>Two 250×250 LFW photos on a 750×250 grey canvas: one over the centre, one at an edge.</summary>
    static RgbImage Compose(RgbImage middle, RgbImage edge, bool edgeLeft)
    {
        var canvas = new RgbImage(750, 250);
        Array.Fill(canvas.Data, (byte)128);
        Paste(canvas, middle, 250);
        Paste(canvas, edge, edgeLeft ? 0 : 500);
        return canvas;
    }

    static void Paste(RgbImage dst, RgbImage src, int x0)
    {
        for (int y = 0; y < src.Height; y++)
            Array.Copy(src.Data, src.Index(0, y), dst.Data, dst.Index(x0, y), src.Width * 3);
    }

    /// <summary>
    /// The composite where the central face is not the most confident one, with the names of the people in the middle
    /// and at the edge. Which sample YuNet is surer of is the detector's business, so both orders are tried.
    /// </summary>
    internal static (RgbImage Photo, string Middle, string Edge) TwoPeople()
    {
        using var pipeline = FacePipeline.CreateDefault();
        string[] names = ["Hugh_Grant_0001.jpg", "Halle_Berry_0001.jpg"];
        var photos = names.Select(n => ImageIO.Load(SamplePath(n))).ToArray();
        foreach (var (m, e) in new[] { (0, 1), (1, 0) })
            foreach (var left in new[] { false, true })
            {
                var img = Compose(photos[m], photos[e], left);
                var faces = pipeline.Detect(img);
                Assert.True(faces.Count == 2, $"{faces.Count} faces found in the composite, expected 2");
                var central = FacePipeline.MostCentral(faces, img.Width, img.Height);
                Assert.InRange(central.X + central.Width / 2, 250, 500);   // the middle photo's face, not the edge one's
                if (!ReferenceEquals(central, faces[0])) return (img, names[m], names[e]);
            }
        throw new Xunit.Sdk.XunitException("in every layout the detector is surest of the middle face: no composite where central and confident differ");
    }

    string WriteTwoPeople(out string middle, out string edge)
    {
        var (img, m, e) = TwoPeople();
        (middle, edge) = (m, e);
        var path = P("two.png");
        ImageIO.Save(img, path);
        return path;
    }

    /// <summary>Templates of an encode run, with the sidecar.</summary>
    float[][] Encode(string input, string output, params string[] extra)
    {
        var r = Run(["encode", "--model", "dlib-resnet", "--input", input, "--output", output, .. extra]);
        Assert.True(r.Code == 0, r.Err);
        var (data, shape) = Npy.Read(output);
        return Enumerable.Range(0, (int)shape[0]).Select(i => data.AsSpan(i * (int)shape[1], (int)shape[1]).ToArray()).ToArray();
    }

    float[] Alone(string sample) => Encode(SamplePath(sample), P(Path.GetFileNameWithoutExtension(sample) + ".npy"))[0];

    // ---- the bar: each command takes --pick central

    [Fact]
    public void AlignEncodeAndReconstructAcceptPickCentral()
    {
        var sample = SamplePath("Hugh_Grant_0001.jpg");
        var decoder = Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
        var align = Run("align", "--model", "dlib-resnet", "--input", sample, "--output", P("aligned"), "--pick", "central", "--json");
        Assert.True(align.Code == 0, align.Err);
        Assert.Equal("central", JsonNode.Parse(align.Out)!["pick"]!.GetValue<string>());
        Assert.True(File.Exists(P("aligned/Hugh_Grant_0001.png")));
        Assert.Single(Encode(sample, P("t.npy"), "--pick", "central"));
        var rec = Run("reconstruct", "--decoder", decoder, "--input", sample, "--output", P("rec"), "--pick", "central");
        Assert.True(rec.Code == 0, rec.Err);
        Assert.True(File.Exists(P("rec/Hugh_Grant_0001.png")));
    }

    [Theory]
    [InlineData("align")]
    [InlineData("encode")]
    [InlineData("reconstruct")]
    public void AnUnknownPickIsOneLineNamingTheChoices(string command)
    {
        var sample = SamplePath("Hugh_Grant_0001.jpg");
        string[] args = command switch
        {
            "align" => ["align", "--model", "dlib-resnet", "--output", P("out")],
            "encode" => ["encode", "--model", "dlib-resnet", "--output", P("t.npy")],
            _ => ["reconstruct", "--decoder", Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors"), "--output", P("out")],
        };
        AssertOneLineError(Run([.. args, "--input", sample, "--pick", "middle"]), 2, command, "--pick expects central, confident or all, got 'middle'");
        Assert.False(Directory.Exists(P("out")) || File.Exists(P("t.npy")), "written before the command line was checked");
    }

    [Fact]
    public void PickDoesNotApplyWhereNothingIsDetected()
    {
        AssertOneLineError(Run("encode", "--model", "dlib-resnet", "--aligned", "--input", SamplePath("Hugh_Grant_0001.jpg"), "--output", P("t.npy"),
            "--pick", "all"), 2, "encode", "--pick", "--aligned");
        Npy.Write(P("rows.npy"), new float[128], [1, 128]);
        AssertOneLineError(Run("reconstruct", "--decoder", Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors"),
            "--input", P("rows.npy"), "--output", P("out"), "--pick", "central"), 2, "reconstruct", "--pick", "templates");
    }

    // ---- two people: central and confident are different faces

    [Fact]
    public void EncodeTakesTheMiddlePersonByDefaultAndTheSurerOneWhenAsked()
    {
        var two = WriteTwoPeople(out var middle, out var edge);
        float[] m = Alone(middle), e = Alone(edge);
        var byDefault = Encode(two, P("default.npy"))[0];
        var central = Encode(two, P("central.npy"), "--pick", "central")[0];
        var confident = Encode(two, P("confident.npy"), "--pick", "confident")[0];
        Assert.Equal(byDefault, central);
        // Each pick is its person: closer to that person's photo alone than to the other's, and a match.
        Assert.True(Cosine.Of(central, m) > Cosine.Of(central, e), $"central: {Cosine.Of(central, m):F3} to {middle}, {Cosine.Of(central, e):F3} to {edge}");
        Assert.True(Cosine.Of(confident, e) > Cosine.Of(confident, m), $"confident: {Cosine.Of(confident, e):F3} to {edge}, {Cosine.Of(confident, m):F3} to {middle}");
        Assert.True(Cosine.Of(central, m) > 0.9 && Cosine.Of(confident, e) > 0.9, $"{Cosine.Of(central, m):F3}, {Cosine.Of(confident, e):F3}");

        // all: a row per face, most confident first, and the sidecar says which face each row is.
        var all = Encode(two, P("all.npy"), "--pick", "all");
        Assert.Equal(2, all.Length);
        // Encoded as a batch of two, not one: the same templates to float rounding.
        Assert.True(Cosine.Of(confident, all[0]) > 0.9999 && Cosine.Of(central, all[1]) > 0.9999);
        var sidecar = JsonNode.Parse(File.ReadAllText(P("all.json")))!;
        Assert.Equal([0, 1], sidecar["face"]!.AsArray().Select(x => x!.GetValue<int>()));
        Assert.Equal("all", sidecar["pick"]!.GetValue<string>());
    }

    [Fact]
    public void AlignAndReconstructFollowThePick()
    {
        var two = WriteTwoPeople(out _, out _);
        var decoder = Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors");
        foreach (var pick in new[] { "central", "confident", "all" })
        {
            var r = Run("align", "--model", "dlib-resnet", "--input", two, "--output", P("align-" + pick), "--pick", pick);
            Assert.True(r.Code == 0, r.Err);
            var q = Run("reconstruct", "--decoder", decoder, "--input", two, "--output", P("rec-" + pick), "--pick", pick);
            Assert.True(q.Code == 0, q.Err);
        }
        byte[] Bytes(string f) => File.ReadAllBytes(P(f));
        Assert.NotEqual(Bytes("align-central/two.png"), Bytes("align-confident/two.png"));
        // all writes both faces, numbered as the detector ranks them (0 = most confident).
        Assert.Equal(Bytes("align-confident/two.png"), Bytes("align-all/two_face0.png"));
        Assert.Equal(Bytes("align-central/two.png"), Bytes("align-all/two_face1.png"));
        Assert.False(File.Exists(P("align-all/two.png")));
        // reconstruct aligns the same faces, and decodes them into different faces.
        Assert.Equal(Bytes("align-central/two.png"), Bytes("rec-central/two.aligned.png"));
        Assert.Equal(Bytes("align-confident/two.png"), Bytes("rec-confident/two.aligned.png"));
        Assert.NotEqual(Bytes("rec-central/two.png"), Bytes("rec-confident/two.png"));
        Assert.Equal(Bytes("rec-central/two.aligned.png"), Bytes("rec-all/two_face1.aligned.png"));
        Assert.Equal(Bytes("rec-confident/two.aligned.png"), Bytes("rec-all/two_face0.aligned.png"));
        // Encoded as a batch of two, not one: the same faces to float rounding.
        AssertClose("rec-central/two.png", "rec-all/two_face1.png");
        AssertClose("rec-confident/two.png", "rec-all/two_face0.png");
    }

    void AssertClose(string a, string b)
    {
        byte[] x = ImageIO.Load(P(a)).Data, y = ImageIO.Load(P(b)).Data;
        Assert.Equal(x.Length, y.Length);
        int worst = x.Zip(y, (u, v) => Math.Abs(u - v)).Max();
        Assert.True(worst <= 2, $"{a} and {b} differ by up to {worst} grey levels");
    }

    [Fact]
    public void ReconstructNamesTheFacesOfEncodePickAll()
    {
        var two = WriteTwoPeople(out _, out _);
        Encode(two, P("all.npy"), "--pick", "all");
        var r = Run("reconstruct", "--decoder", Path.Combine(TestPaths.RepoRoot, "models", "dfd-dlib-resnet-lfw.safetensors"),
            "--input", P("all.npy"), "--output", P("rec"));
        Assert.True(r.Code == 0, r.Err);
        Assert.True(File.Exists(P("rec/two_face0.png")) && File.Exists(P("rec/two_face1.png")), "rows of one photo overwrote each other");
    }

    [Fact]
    public void FaceModelAlignTakesTheMiddlePerson()
    {
        var (img, middle, edge) = TwoPeople();
        using var model = FaceModel.Open("dlib-resnet");
        var t = model.Encode(model.Align(img));
        float[] m = model.Encode(model.Align(ImageIO.Load(SamplePath(middle)))), e = model.Encode(model.Align(ImageIO.Load(SamplePath(edge))));
        Assert.True(model.Compare(t, m) > model.Compare(t, e), $"{model.Compare(t, m):F3} to {middle}, {model.Compare(t, e):F3} to {edge}");
        Assert.True(model.Matches(t, m));
    }
}
