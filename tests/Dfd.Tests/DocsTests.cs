using System.Text;
using System.Text.RegularExpressions;
using Xunit;

namespace Dfd.Tests;

/// <summary>
/// The README stays short and starts with the two commands; docs/README.md indexes every page; every relative link
/// in the README, docs/ and the model cards resolves (anchors too); nothing under models/ or docs/ names a machine's
/// folders.
/// </summary>
public partial class DocsTests
{
    static readonly string Root = TestPaths.RepoRoot;
    static string Readme => Path.Combine(Root, "README.md");
    static string DocsDir => Path.Combine(Root, "docs");

    static IEnumerable<string> Pages() =>
        new[] { Readme }.Concat(Directory.GetFiles(DocsDir, "*.md")).Concat(Directory.GetFiles(Path.Combine(Root, "models"), "*.md"));

    [Fact]
    public void ReadmeIsAtMost16000Bytes()
    {
        long size = new FileInfo(Readme).Length;
        Assert.True(size <= 16_000, $"README.md is {size:N0} bytes; the rest belongs in docs/");
    }

    [Fact]
    public void ReadmeStartsWithTheTwoCommands()
    {
        var lines = File.ReadAllLines(Readme);
        int open = Array.FindIndex(lines, l => l.StartsWith("```"));
        Assert.True(open >= 0, "README.md has no code block");
        // Near the top: before any section heading, after at most the title and a sentence or two.
        Assert.True(open < 12 && !lines[..open].Any(l => l.StartsWith("## ")), $"the first code block starts at line {open + 1}, after a section");
        int close = Array.FindIndex(lines, open + 1, l => l.StartsWith("```"));
        var block = lines[(open + 1)..close].Select(l => l.Split('#')[0].Trim()).Where(l => l.Length > 0).ToList();
        Assert.Equal(["./dfd demo", "bash tests/run.sh"], block);
    }

    [Fact]
    public void DocsIndexLinksEveryPage()
    {
        var index = Path.Combine(DocsDir, "README.md");
        var linked = Links(index).Select(l => Target(index, l).File).ToHashSet();
        var pages = Directory.GetFiles(DocsDir, "*.md").Where(p => Path.GetFileName(p) != "README.md").ToList();
        Assert.True(pages.Count >= 10, $"only {pages.Count} pages in docs/");
        var missing = pages.Where(p => !linked.Contains(Path.GetFullPath(p))).Select(Path.GetFileName).ToList();
        Assert.True(missing.Count == 0, $"docs/README.md does not link: {string.Join(", ", missing)}");
        // The README links the index.
        Assert.Contains(Links(Readme), l => Target(Readme, l).File == Path.GetFullPath(index));
    }

    [Fact]
    public void EveryRelativeLinkResolves()
    {
        var broken = new List<string>();
        int count = 0;
        foreach (var page in Pages())
            foreach (var link in Links(page))
            {
                count++;
                var (file, anchor) = Target(page, link);
                if (!File.Exists(file) && !Directory.Exists(file)) broken.Add($"{Rel(page)}: {link} (no such file)");
                else if (anchor != null && file.EndsWith(".md", StringComparison.Ordinal) && !Anchors(file).Contains(anchor))
                    broken.Add($"{Rel(page)}: {link} (no heading '{anchor}' in {Rel(file)})");
            }
        Assert.True(count > 50, $"only {count} relative links found: is the link pattern still right?");
        Assert.True(broken.Count == 0, "broken links:\n" + string.Join("\n", broken));
    }

    [Fact]
    public void NothingUnderModelsOrDocsNamesAMachinesFolders()
    {
        // Byte search, so binary files (safetensors metadata, PNG text chunks, ONNX) count too.
        var needles = new[] { "/root/", "/home/", "/tmp/", "/work/" }.Select(Encoding.ASCII.GetBytes).ToList();
        var found = new List<string>();
        int files = 0;
        foreach (var dir in new[] { "models", "docs" })
            foreach (var f in Directory.EnumerateFiles(Path.Combine(Root, dir), "*", SearchOption.AllDirectories))
            {
                files++;
                var bytes = File.ReadAllBytes(f);
                foreach (var n in needles)
                    if (bytes.AsSpan().IndexOf(n) is int at and >= 0)
                        found.Add($"{Rel(f)}: '{Encoding.ASCII.GetString(n)}' at byte {at}");
            }
        Assert.True(files > 20, $"only {files} files under models/ and docs/");
        Assert.True(found.Count == 0, string.Join("\n", found));
    }

    [Fact]
    public void TheCheckersSeeWhatTheyCheck()
    {
        // A link in code is not a link; one in text is, with its anchor; headings make GitHub's anchors.
        var dir = Directory.CreateTempSubdirectory("dfd-docs-").FullName;
        try
        {
            var page = Path.Combine(dir, "a.md");
            File.WriteAllText(page, "# Top: the `x` part\n\n[b](b.md#two-words) `[c](c.md)`\n\n```\n[d](d.md)\n```\n[web](https://example.org) [self](#top-the-x-part)\n");
            File.WriteAllText(Path.Combine(dir, "b.md"), "## Two words\n");
            Assert.Equal(["b.md#two-words", "#top-the-x-part"], Links(page));
            Assert.Contains("two-words", Anchors(Path.Combine(dir, "b.md")));
            Assert.Contains("top-the-x-part", Anchors(page));
            Assert.Equal((Path.Combine(dir, "b.md"), "two-words"), Target(page, "b.md#two-words"));
        }
        finally { Directory.Delete(dir, true); }
    }

    static string Rel(string path) => Path.GetRelativePath(Root, path);

    /// <summary>Relative link targets of a markdown page: [text](target) outside code, not URLs or mail.</summary>
    static List<string> Links(string page)
    {
        var text = FencedCode().Replace(File.ReadAllText(page), "");
        text = InlineCode().Replace(text, "");
        return LinkTarget().Matches(text).Select(m => m.Groups[1].Value)
            .Where(t => !UrlScheme().IsMatch(t)).ToList();
    }

    static (string File, string? Anchor) Target(string page, string link)
    {
        int hash = link.IndexOf('#');
        var path = hash < 0 ? link : link[..hash];
        var anchor = hash < 0 ? null : link[(hash + 1)..];
        var file = path.Length == 0 ? page : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(page)!, Uri.UnescapeDataString(path)));
        return (file, anchor);
    }

    /// <summary>GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.</summary>
    static HashSet<string> Anchors(string file)
    {
        var text = FencedCode().Replace(File.ReadAllText(file), "");
        return Heading().Matches(text)
            .Select(m => Punctuation().Replace(m.Groups[1].Value.Trim().ToLowerInvariant(), "").Replace(' ', '-')).ToHashSet();
    }

    [GeneratedRegex(@"^```.*?^```", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex FencedCode();
    [GeneratedRegex(@"`[^`\n]*`")]
    private static partial Regex InlineCode();
    [GeneratedRegex(@"\]\(([^)\s]+)\)")]
    private static partial Regex LinkTarget();
    [GeneratedRegex(@"^[a-z][a-z0-9+.-]*:", RegexOptions.IgnoreCase)]
    private static partial Regex UrlScheme();
    [GeneratedRegex(@"^#{1,6} +(.+)$", RegexOptions.Multiline)]
    private static partial Regex Heading();
    [GeneratedRegex(@"[^\w\- ]")]
    private static partial Regex Punctuation();
}
