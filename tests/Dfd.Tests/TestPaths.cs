namespace Dfd.Tests;

/// <summary>Where the checkout and the shared data folder (a sibling of the checkout) are, for tests that read files.</summary>
public static class TestPaths
{
    /// <summary>The directory holding Dfd.slnx, found by walking up from the test binaries.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>../shared</c> next to the checkout, or null where this machine has none.</summary>
    public static string? SharedDir { get; } = FindShared();

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Dfd.slnx")))
                return dir.FullName;
        throw new InvalidOperationException($"no Dfd.slnx above {AppContext.BaseDirectory}");
    }

    private static string? FindShared()
    {
        var dir = Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));
        return Directory.Exists(dir) ? dir : null;
    }
}
