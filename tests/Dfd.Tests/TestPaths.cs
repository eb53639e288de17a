namespace Dfd.Tests;

/// <summary>Where the checkout and the shared data folder (a sibling of the checkout) are, for tests that read files.</summary>
public static class TestPaths
{
    /// <summary>The directory holding Dfd.slnx, found by walking up from the test binaries.</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary><c>../shared</c> next to the checkout, or null where this machine has none.</summary>
    public static string? SharedDir { get; } = FindShared();

    /// <summary>The twelve bundled sample photos (six test people of split lfw-dfd-v1, two each) copied into LFW's
    /// layout (PERSON/PERSON_NNNN.jpg) under <paramref name="dir"/>/lfw; returns that folder.</summary>
    public static string SamplesAsLfw(string dir)
    {
        var lfw = Path.Combine(dir, "lfw");
        foreach (var f in Directory.GetFiles(Path.Combine(RepoRoot, "samples"), "*.jpg"))
        {
            var name = Path.GetFileNameWithoutExtension(f);
            var person = name[..name.LastIndexOf('_')];
            Directory.CreateDirectory(Path.Combine(lfw, person));
            File.Copy(f, Path.Combine(lfw, person, Path.GetFileName(f)));
        }
        return lfw;
    }

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
