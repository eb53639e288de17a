using Dfd.IO;
using Xunit;

namespace Dfd.Tests.IO;

public class RecordPathTests
{
    [Fact]
    public void PathsUnderTheWorkingDirectoryOrHomeLoseTheirMachinePrefix()
    {
        var cwd = Directory.GetCurrentDirectory();
        Assert.Equal(Path.Combine("models", "d.safetensors"), RecordPath.Of(Path.Combine(cwd, "models", "d.safetensors")));
        Assert.Equal(Path.Combine("models", "d.safetensors"), RecordPath.Of(Path.Combine("models", "d.safetensors")));
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!cwd.StartsWith(home + "/") && home.Length > 1)
            Assert.Equal("~/.cache/dfd/x", RecordPath.Of(Path.Combine(home, ".cache", "dfd", "x")));
        // Elsewhere: as given.
        Assert.Equal("/nonexistent-root-dir/x", RecordPath.Of("/nonexistent-root-dir/x"));
        var text = $"{{\"Init\":\"{Path.Combine(cwd, "runs", "a.safetensors")}\"}}";
        Assert.Equal("{\"Init\":\"runs/a.safetensors\"}", RecordPath.Scrub(text));
    }
}
