using System.Text.RegularExpressions;

namespace Dfd.IO;

/// <summary>
/// Paths as results record them, so a file copied to another machine says where things were without naming this
/// machine's folders. Reports (<see cref="Of"/>): relative to the working directory where the file lies under it (a
/// repository's models/, splits/) or in a folder beside it (../shared), else with the home folder written as ~, else
/// the file name. Files that ship (<see cref="Portable"/>, decoder metadata): the same without ~.
/// </summary>
public static partial class RecordPath
{
    public static string Of(string path) => Near(path) ?? Home(path) ?? Name(path);

    /// <summary>Relative to the working directory (under it or one folder up), else the file name: never a machine's folders.</summary>
    public static string Portable(string path) => Near(path) ?? Name(path);

    /// <summary>
    /// A recorded text (e.g. a decoder file's metadata, written on another run) with every absolute path in it
    /// written as <see cref="Of"/> writes it.
    /// </summary>
    public static string Scrub(string text) => AbsolutePath().Replace(text, m => Of(m.Value));

    /// <summary>A recorded text with every absolute path in it written as <see cref="Portable"/> writes it.</summary>
    public static string ScrubPortable(string text) => AbsolutePath().Replace(text, m => Portable(m.Value));

    /// <summary>Whether the text holds an absolute path (what <see cref="ScrubPortable"/> would change).</summary>
    public static bool HasAbsolutePath(string text) => AbsolutePath().IsMatch(text);

    static string? Near(string path)
    {
        var full = Path.GetFullPath(path);
        var cwd = Path.GetFullPath(Directory.GetCurrentDirectory());
        var rel = Path.GetRelativePath(cwd, full);
        if (Path.IsPathRooted(rel)) return null;
        if (!rel.StartsWith("..", StringComparison.Ordinal)) return rel;
        // One folder up (the checkout's sibling ../shared) stays relative; further up would spell out the machine's tree.
        var rest = rel[2..].TrimStart(Path.DirectorySeparatorChar);
        return rest.StartsWith("..", StringComparison.Ordinal) || rest.Length == 0 ? null : rel;
    }

    static string? Home(string path)
    {
        var full = Path.GetFullPath(path);
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return !string.IsNullOrEmpty(home) && home != "/" && full.StartsWith(home + Path.DirectorySeparatorChar, StringComparison.Ordinal)
            ? "~" + full[home.Length..] : null;
    }

    static string Name(string path) => Path.GetFileName(Path.TrimEndingDirectorySeparator(path)) is { Length: > 0 } n ? n : path;

    // A '/' that starts a path: not inside a word, a relative path (../x), ~/x or a URL (https://); it runs to a
    // quote, space, bracket or separator. Names with spaces are cut at the space, which only shortens what is kept.
    [GeneratedRegex(@"(?<![\w.~/\\-])/(?!/)[^\s""'(),;<>|\[\]{}]+")]
    private static partial Regex AbsolutePath();
}
