using System.Globalization;
using Dfd.Decoder;
using PuppeteerSharp;
using Xunit;

namespace Dfd.Tests.Web;

/// <summary>
/// The page in a real browser: Debian's headless Chromium (the system's, nothing downloaded) on a real Kestrel socket
/// at 127.0.0.1. tests/run.sh installs chromium where it is missing and apt is at hand; without it the test skips.
/// </summary>
public class ServeBrowserTests
{
    const string Chromium = "/usr/bin/chromium";

    [SkippableFact]
    public async Task PickASampleTurnItAndTheReconstructionAndCosineFollow()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} not found (apt-get install chromium; tests/run.sh does so as root)");
        await using var server = ServeFixture.Create(testServer: false);
        await server.StartAsync();
        var url = server.Address;
        Assert.StartsWith("http://127.0.0.1:", url);

        await using var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = Chromium, Headless = true, Timeout = 30_000,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        await using var page = await browser.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 1100 });
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e.Message);
        await page.GoToAsync(url, WaitUntilNavigation.Networkidle0);

        await page.WaitForFunctionAsync("() => document.querySelectorAll('#sample option').length === 12", new WaitForFunctionOptions { Timeout = 20_000 });
        // Two faces, so that the interpolation panel has an A and a B; the second loaded is the one explored.
        foreach (var sample in new[] { "Halle_Berry_0001.jpg", "Hugh_Grant_0001.jpg" })
        {
            await page.SelectAsync("#sample", sample);
            await page.ClickAsync("#load-sample");
            await page.WaitForFunctionAsync($"() => document.querySelector('#face-name').textContent === '{sample}' && document.querySelector('#perturb-cos-0')?.textContent === '1.0000'",
                new WaitForFunctionOptions { Timeout = 30_000 });
        }
        var before = await page.EvaluateExpressionAsync<string>("document.querySelector('#perturb-recon-0').src");
        Assert.Equal("1.0000", await page.EvaluateExpressionAsync<string>("document.querySelector('#perturb-cos-0').textContent"));

        // Move the rotation slider as a user does: the value changes and an input event fires.
        await page.EvaluateExpressionAsync("(() => { const s = document.querySelector('#rotation'); s.value = 30; s.dispatchEvent(new Event('input')); })()");
        await page.WaitForFunctionAsync($"() => document.querySelector('#perturb-recon-0').src !== {System.Text.Json.JsonSerializer.Serialize(before)}",
            new WaitForFunctionOptions { Timeout = 30_000 });
        var shown = await page.EvaluateExpressionAsync<string>("document.querySelector('#perturb-cos-0').textContent");
        var faceId = await page.EvaluateExpressionAsync<string>("face.id");

        using var http = new HttpClient { BaseAddress = new Uri(url) };
        using var r = await http.PostAsync("/api/perturb", new StringContent($"{{\"face\": \"{faceId}\", \"rotation\": 30}}"));
        var api = (await ServeFixture.Parse(r))["results"]![0]!["cosine"]!.GetValue<double>();
        Assert.Equal(api.ToString("F4", CultureInfo.InvariantCulture), shown);
        Assert.True(api < 0.9999, $"a 30° turn left the template unchanged ({api})");
        Assert.Equal("30°", await page.EvaluateExpressionAsync<string>("document.querySelector('#rotation-v').textContent"));

        // For README: the page after the turn (the attack and interpolation panels below have loaded by now).
        await page.WaitForSelectorAsync("#attack-out figure", new WaitForSelectorOptions { Timeout = 30_000 });
        var shot = Path.Combine(TestPaths.RepoRoot, "out", "serve.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(shot, new ScreenshotOptions { FullPage = true });

        // A picture without a face, uploaded through the file input: the page says so in words.
        var grey = new Dfd.Imaging.RgbImage(120, 90);
        Array.Fill(grey.Data, (byte)128);
        var file = Path.Combine(Path.GetTempPath(), $"dfd-serve-test-{Guid.NewGuid():N}.png");
        Dfd.Imaging.ImageIO.Save(grey, file);
        try
        {
            var input = await page.QuerySelectorAsync("#upload");
            await input.UploadFileAsync(file);
            await page.WaitForFunctionAsync("() => document.querySelector('#status').className === 'error'", new WaitForFunctionOptions { Timeout = 30_000 });
            Assert.Contains("no face found", await page.EvaluateExpressionAsync<string>("document.querySelector('#status').textContent"));
        }
        finally { File.Delete(file); }
        Assert.Empty(errors);
    }

    static async Task<IBrowser> Launch() => await Puppeteer.LaunchAsync(new LaunchOptions
    {
        ExecutablePath = Chromium, Headless = true, Timeout = 30_000,
        Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });

    /// <summary>Loads a sample and waits until every encoder's perturb, attack and interpolation panels are drawn.</summary>
    static async Task LoadSample(IPage page, string sample, int encoders)
    {
        await page.SelectAsync("#sample", sample);
        await page.ClickAsync("#load-sample");
        await page.WaitForFunctionAsync($"() => document.querySelector('#face-name').textContent === '{sample}' && " +
            $"document.querySelector('#perturb-cos-{encoders - 1}')?.textContent === '1.0000' && " +
            $"document.querySelectorAll('#attack-out > .model').length === {encoders} && document.querySelectorAll('#interp-out > .model figure').length === {encoders}",
            new WaitForFunctionOptions { Timeout = 60_000 });
    }

    /// <summary>Each section's panels, one per model in the models' order, stand in one row: same top, left to right.</summary>
    static async Task AssertColumns(IPage page, IReadOnlyList<string> encoders)
    {
        foreach (var section in new[] { "#clean", "#explore-out", "#attack-out", "#interp-out" })
        {
            var boxes = await page.EvaluateExpressionAsync<double[][]>(
                $"[...document.querySelectorAll('{section} > .model')].map(d => {{ const b = d.getBoundingClientRect(); return [b.left, b.top, b.width]; }})");
            var names = await page.EvaluateExpressionAsync<string[]>($"[...document.querySelectorAll('{section} > .model')].map(d => d.dataset.encoder)");
            Assert.Equal(encoders, names);
            for (int k = 1; k < boxes.Length; k++)
            {
                Assert.True(Math.Abs(boxes[k][1] - boxes[0][1]) < 1, $"{section}: {names[k]}'s panel starts at y {boxes[k][1]}, {names[0]}'s at {boxes[0][1]}: not one row");
                Assert.True(boxes[k][0] >= boxes[k - 1][0] + boxes[k - 1][2], $"{section}: {names[k]}'s panel (x {boxes[k][0]}) is not right of {names[k - 1]}'s");
            }
        }
    }

    /// <summary>
    /// Two models, one with a sharp decoder beside its regression one (a stand-in), one without any: a column each in
    /// every section, and the column's choice of decoder redraws its reconstructions, each captioned with its decoder.
    /// </summary>
    [SkippableFact]
    public async Task ModelsStandInColumnsAndTheDecoderChoiceRedrawsTheirFaces()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} not found (apt-get install chromium; tests/run.sh does so as root)");
        var dir = Directory.CreateTempSubdirectory("dfd-browser-").FullName;
        try
        {
            var dlib = FaceModel.Open("dlib-resnet");
            var sharp = Dfd.Decoder.DecoderFile.Load(ServeFixture.StandInSharp(dir), null, dlib.Spec);
            var onnx = FaceModel.Open("onnx:" + Path.Combine(TestPaths.RepoRoot, "tests", "Dfd.Tests", "Fixtures", "onnx", "mobilefacenet-random.onnx"));
            await using var server = Dfd.Web.DfdServer.Create(new Dfd.Web.Explorer([dlib, onnx], Path.Combine(TestPaths.RepoRoot, "samples"), sharp: [sharp, null]),
                new Dfd.Web.ServeOptions { Port = 0 });
            await server.StartAsync();
            await using var browser = await Launch();
            await using var page = await browser.NewPageAsync();
            await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 1100 });
            var errors = new List<string>();
            page.PageError += (_, e) => errors.Add(e.Message);
            await page.GoToAsync(server.Address, WaitUntilNavigation.Networkidle0);
            await page.WaitForFunctionAsync("() => document.querySelectorAll('#sample option').length === 12", new WaitForFunctionOptions { Timeout = 20_000 });
            await LoadSample(page, "Hugh_Grant_0001.jpg", 2);
            string[] names = ["dlib-resnet", onnx.Spec.Name];
            await AssertColumns(page, names);

            // The column with two decoders offers both, the other says it has none; every face says who drew it.
            Assert.Equal(["regression", "sharp"], await page.EvaluateExpressionAsync<string[]>(
                "[...document.querySelectorAll('#clean select.decoder option')].map(o => o.value)"));
            Assert.Equal(1, await page.EvaluateExpressionAsync<int>("document.querySelectorAll('#clean select.decoder').length"));
            Assert.Contains("no decoder", await page.EvaluateExpressionAsync<string>("document.querySelectorAll('#clean > .model')[1].textContent"));
            string Drawn(string section) => $"[...document.querySelectorAll('{section} > .model')][0].querySelector('.drawn-by')?.textContent";
            foreach (var section in new[] { "#clean", "#explore-out", "#attack-out", "#interp-out" })
                Assert.Equal("regression decoder", await page.EvaluateExpressionAsync<string>(Drawn(section)));
            var before = await page.EvaluateExpressionAsync<string>("document.querySelector('#clean-recon-0').src");

            await page.EvaluateExpressionAsync("(() => { const s = document.querySelector('#clean select.decoder'); s.value = 'sharp'; s.dispatchEvent(new Event('change')); })()");
            await page.WaitForFunctionAsync("() => ['#clean', '#explore-out', '#attack-out', '#interp-out'].every(s => " +
                "document.querySelector(s + ' > .model .drawn-by')?.textContent === 'sharp decoder')", new WaitForFunctionOptions { Timeout = 60_000 });
            var after = await page.EvaluateExpressionAsync<string>("document.querySelector('#clean-recon-0').src");
            Assert.NotEqual(before, after);
            // What the page shows is the sharp decoder's face of this template.
            var template = await page.EvaluateExpressionAsync<float[]>("face.encoders[0].template");
            Assert.Equal(Dfd.Web.DfdServer.DataUrl(sharp.Decoder.Reconstruct(template)), after);
            Assert.Equal("sharp", await page.EvaluateExpressionAsync<string>("document.querySelector('#clean select.decoder').value"));
            await AssertColumns(page, names);
            Assert.Empty(errors);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    /// <summary>
    /// The three encoders with shipped decoders (two of them need ../shared): one row per section, so the page stays
    /// short (stacked, it was 4,167 px at this size). Writes out/serve-columns.png (docs/serve.png is taken from it).
    /// </summary>
    [SkippableFact]
    public async Task ThreeEncodersMakeThreeColumnsAndAShortPage()
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} not found (apt-get install chromium; tests/run.sh does so as root)");
        string[] names = ["dlib-resnet", "hse-faceres", "mobilefacenet-casia"];
        var models = new List<FaceModel>();
        try { foreach (var n in names) models.Add(FaceModel.Open(n)); }
        catch (Dfd.Encoders.EncoderNotAvailableException e)
        {
            foreach (var m in models) m.Dispose();
            throw new SkipException($"needs the three encoders' weights (../shared/models): {e.Message}");
        }
        await using var server = Dfd.Web.DfdServer.Create(new Dfd.Web.Explorer(models, Path.Combine(TestPaths.RepoRoot, "samples")), new Dfd.Web.ServeOptions { Port = 0 });
        await server.StartAsync();
        await using var browser = await Launch();
        await using var page = await browser.NewPageAsync();
        await page.SetViewportAsync(new ViewPortOptions { Width = 1280, Height = 1100 });
        await page.GoToAsync(server.Address, WaitUntilNavigation.Networkidle0);
        await page.WaitForFunctionAsync("() => document.querySelectorAll('#sample option').length === 12", new WaitForFunctionOptions { Timeout = 20_000 });
        foreach (var sample in new[] { "Halle_Berry_0001.jpg", "Hugh_Grant_0001.jpg" }) await LoadSample(page, sample, 3);
        await AssertColumns(page, names);
        var height = await page.EvaluateExpressionAsync<int>("document.documentElement.scrollHeight");
        var shot = Path.Combine(TestPaths.RepoRoot, "out", "serve-columns.png");
        Directory.CreateDirectory(Path.GetDirectoryName(shot)!);
        await page.ScreenshotAsync(shot, new ScreenshotOptions { FullPage = true });
        File.WriteAllText(Path.Combine(TestPaths.RepoRoot, "out", "serve-columns-height.txt"), $"{height}\n");
        Assert.True(height < 2800, $"the page with three encoders is {height} px tall at 1280×1100");
    }
}
