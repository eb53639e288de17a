namespace Dfd.IO;

/// <summary>
/// Paths as results record them: relative to the working directory where the file lies under it (a repository's
/// models/, splits/), else with the home folder written as ~, else as given. A report copied to another machine
/// then says where things were without naming this machine's folders.
/// </summary>
public static class RecordPath
{
    public static string Of(string path)
    {
        var full = Path.GetFullPath(path);
        var cwd = Path.GetFullPath(Directory.GetCurrentDirectory());
        var rel = Path.GetRelativePath(cwd, full);
        if (!rel.StartsWith("..", StringComparison.Ordinal) && !Path.IsPathRooted(rel)) return rel;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (!string.IsNullOrEmpty(home) && full.StartsWith(home + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            return "~" + full[home.Length..];
        return path;
    }

    /// <summary>
    /// A recorded text (e.g. a decoder file's metadata, written on another run) with the working directory's and the
    /// home folder's absolute prefixes written as in <see cref="Of"/>.
    /// </summary>
    public static string Scrub(string text)
    {
        var cwd = Path.GetFullPath(Directory.GetCurrentDirectory()).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        if (cwd.Length > 1) text = text.Replace(cwd, "", StringComparison.Ordinal);
        if (!string.IsNullOrEmpty(home) && home != "/") text = text.Replace(home + Path.DirectorySeparatorChar, "~" + Path.DirectorySeparatorChar, StringComparison.Ordinal);
        return text;
    }
}
