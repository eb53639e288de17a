using System.Globalization;
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
}
