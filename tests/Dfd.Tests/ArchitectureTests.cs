using System.Text;
using System.Text.RegularExpressions;
using Xunit;

namespace Dfd.Tests;

/// <summary>
/// Which Dfd namespaces a set of C# files uses, read from the source. A file in namespace N uses namespace M when it
/// has <c>using M;</c> (also <c>using static M.T;</c> and <c>using A = M.T;</c>), names <c>M.T</c> fully qualified, names
/// <c>X.T</c> where <c>X</c> is M's last part reached from N (<c>Encoders.StateDict</c> inside <c>Dfd.Decoder</c>), or
/// names a type of an enclosing namespace without any of these (inside <c>Dfd.Analysis</c>, the root's types are in
/// scope unasked). Comments and string literals do not count. Every file must use a file-scoped namespace, so a top-level
/// type is one declared outside any brace.
/// </summary>
public static partial class NamespaceUses
{
    /// <summary>For each namespace, the namespaces it uses and, per use, where ("File.cs: using Dfd.X").</summary>
    public static SortedDictionary<string, SortedDictionary<string, List<string>>> Of(IReadOnlyList<(string Name, string Text)> files)
    {
        var parsed = files.Select(f => (f.Name, Code: Code(f.Text))).Select(f => (f.Name, f.Code, Namespace: NamespaceOf(f.Name, f.Code))).ToList();
        var known = parsed.Select(f => f.Namespace).ToHashSet(StringComparer.Ordinal);
        var types = known.ToDictionary(n => n, _ => new HashSet<string>(StringComparer.Ordinal), StringComparer.Ordinal);
        foreach (var f in parsed) types[f.Namespace].UnionWith(TopLevelTypes(f.Code));

        var uses = new SortedDictionary<string, SortedDictionary<string, List<string>>>(StringComparer.Ordinal);
        foreach (var (name, code, ns) in parsed)
        {
            void Use(string? target, string how)
            {
                if (target == null || target == ns) return;
                if (!uses.TryGetValue(ns, out var to)) uses[ns] = to = new(StringComparer.Ordinal);
                if (!to.TryGetValue(target, out var where)) to[target] = where = [];
                where.Add($"{name}: {how}");
            }
            string? Known(string qualified)
            {
                for (var q = qualified; ; q = q[..q.LastIndexOf('.')])
                {
                    if (known.Contains(q)) return q;
                    if (!q.Contains('.')) return null;
                }
            }
            foreach (Match m in UsingDirective().Matches(code)) Use(Known(m.Groups[1].Value), m.Value.Trim());
            var body = UsingDirective().Replace(code, "");
            foreach (Match m in Qualified().Matches(body)) Use(Known(m.Groups[1].Value), m.Groups[1].Value);
            var enclosing = Enclosing(ns).ToList();
            foreach (Match m in Dotted().Matches(body))
                foreach (var e in enclosing)
                    if (e + "." + m.Groups[1].Value is var target && known.Contains(target) && types[target].Contains(m.Groups[2].Value))
                        Use(target, m.Value);
            foreach (var e in enclosing.Where(e => e != ns && known.Contains(e)))
                foreach (var t in types[e])
                    if (Regex.IsMatch(body, $@"(?<![\w.@]){Regex.Escape(t)}\b")) Use(e, $"{t} (in scope from {e})");
        }
        return uses;
    }

    /// <summary>Every pair of namespaces that use each other, with where each use is.</summary>
    public static List<string> MutualPairs(SortedDictionary<string, SortedDictionary<string, List<string>>> uses) =>
        (from a in uses
         from b in a.Value
         where string.CompareOrdinal(a.Key, b.Key) < 0 && uses.TryGetValue(b.Key, out var back) && back.ContainsKey(a.Key)
         select $"{a.Key} ⇄ {b.Key}: {a.Key} uses {b.Key} ({string.Join(" | ", b.Value.Take(3))}), " +
                $"{b.Key} uses {a.Key} ({string.Join(" | ", uses[b.Key][a.Key].Take(3))})").ToList();

    /// <summary>N itself, then each namespace enclosing it up to the first part: Dfd.A.B, Dfd.A, Dfd.</summary>
    static IEnumerable<string> Enclosing(string ns)
    {
        for (var q = ns; ; q = q[..q.LastIndexOf('.')])
        {
            yield return q;
            if (!q.Contains('.')) yield break;
        }
    }

    static string NamespaceOf(string name, string code)
    {
        var m = FileScopedNamespace().Match(code);
        if (!m.Success) throw new InvalidDataException($"{name}: no file-scoped namespace (namespace X;), which this check relies on");
        return m.Groups[1].Value;
    }

    /// <summary>Names of the types declared outside any brace (nested types are not in scope by their bare name).</summary>
    static IEnumerable<string> TopLevelTypes(string code)
    {
        var depth = new int[code.Length + 1];
        for (int i = 0, d = 0; i < code.Length; i++)
        {
            depth[i] = d;
            if (code[i] == '{') d++;
            else if (code[i] == '}') d--;
        }
        foreach (Match m in TypeDeclaration().Matches(code))
            if (depth[m.Index] == 0) yield return m.Groups["name"].Value;
    }

    /// <summary>The text with comments and the contents of string and character literals blanked out; the code inside
    /// an interpolated string's holes is kept.</summary>
    public static string Code(string text)
    {
        var sb = new StringBuilder(text.Length);
        int i = 0;
        ScanCode(text, ref i, sb, inHole: false);
        return sb.ToString();
    }

    static void ScanCode(string s, ref int i, StringBuilder sb, bool inHole)
    {
        int depth = 0;
        while (i < s.Length)
        {
            char c = s[i];
            if (c == '/' && At(s, i + 1, '/')) { while (i < s.Length && s[i] != '\n') i++; continue; }
            if (c == '/' && At(s, i + 1, '*'))
            {
                int end = s.IndexOf("*/", i + 2, StringComparison.Ordinal);
                i = end < 0 ? s.Length : end + 2;
                sb.Append(' ');
                continue;
            }
            if (c == '\'')
            {
                int end = i + 1;
                while (end < s.Length && s[end] != '\'') end += s[end] == '\\' ? 2 : 1;
                i = end + 1;
                sb.Append("' '");
                continue;
            }
            if (c == '"' || ((c == '$' || c == '@') && StringStart(s, i)))
            {
                ScanString(s, ref i, sb);
                continue;
            }
            if (inHole && c == '{') depth++;
            if (inHole && c == '}' && depth-- == 0) return;
            sb.Append(c);
            i++;
        }
    }

    static bool StringStart(string s, int i)
    {
        int j = i;
        while (j < s.Length && (s[j] == '$' || s[j] == '@')) j++;
        return j > i && At(s, j, '"');
    }

    static void ScanString(string s, ref int i, StringBuilder sb)
    {
        bool verbatim = false, interpolated = false;
        for (; s[i] != '"'; i++)
        {
            if (s[i] == '@') verbatim = true;
            else interpolated = true;
        }
        sb.Append('"');
        if (s.AsSpan(i).StartsWith("\"\"\""))
        {
            // A raw string literal: its contents end at the next run of as many quotes.
            int q = 0;
            while (At(s, i, '"')) { i++; q++; }
            int end = s.IndexOf(new string('"', q), i, StringComparison.Ordinal);
            i = end < 0 ? s.Length : end + q;
            sb.Append('"');
            return;
        }
        i++;
        while (i < s.Length)
        {
            char c = s[i];
            if (verbatim && c == '"' && At(s, i + 1, '"')) { i += 2; continue; }
            if (!verbatim && c == '\\') { i += 2; continue; }
            if (c == '"') { i++; break; }
            if (interpolated && c == '{')
            {
                if (At(s, i + 1, '{')) { i += 2; continue; }
                i++;
                sb.Append(' ');
                ScanCode(s, ref i, sb, inHole: true);
                sb.Append(' ');
                i++;
                continue;
            }
            i++;
        }
        sb.Append('"');
    }

    static bool At(string s, int i, char c) => i < s.Length && s[i] == c;

    [GeneratedRegex(@"^\s*(?:global\s+)?using\s+(?:static\s+)?(?:\w+\s*=\s*)?(?:global::)?(Dfd(?:\.\w+)*)\s*;", RegexOptions.Multiline)]
    private static partial Regex UsingDirective();

    [GeneratedRegex(@"(?<![\w.])(?:global::)?(Dfd(?:\.\w+)+)")]
    private static partial Regex Qualified();

    [GeneratedRegex(@"(?<![\w.@])(\w+)\.(\w+)")]
    private static partial Regex Dotted();

    [GeneratedRegex(@"^\s*namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex FileScopedNamespace();

    [GeneratedRegex(@"\b(?:(?:class|struct|interface|enum|record)\s+(?:(?:class|struct)\s+)?(?<name>\w+)" +
        @"|delegate\s+[\w<>\[\],.?\s]+?\s(?<name>\w+)\s*[<(])")]
    private static partial Regex TypeDeclaration();
}

/// <summary>The library's namespaces form layers: none uses one that uses it back (issue 26).</summary>
public class ArchitectureTests
{
    static List<(string Name, string Text)> Library()
    {
        var root = Path.Combine(TestPaths.RepoRoot, "src", "Dfd");
        return Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories)
            .Where(p => !Path.GetRelativePath(root, p).Split(Path.DirectorySeparatorChar).Any(d => d is "bin" or "obj"))
            .Order(StringComparer.Ordinal)
            .Select(p => (Path.GetRelativePath(root, p), File.ReadAllText(p))).ToList();
    }

    [Fact]
    public void NoNamespaceUnderSrcDfdUsesOneThatUsesItBack()
    {
        var uses = NamespaceUses.Of(Library());
        // The check reads the real tree: the root's FaceModel uses the decoder, and the library has its parts.
        Assert.Contains("Dfd.Decoder", uses["Dfd"].Keys);
        Assert.True(uses.Count >= 10, $"only {uses.Count} namespaces use another: {string.Join(", ", uses.Keys)}");
        var pairs = NamespaceUses.MutualPairs(uses);
        Assert.True(pairs.Count == 0, "namespaces that use each other:\n" + string.Join("\n", pairs));
    }

    static List<string> Pairs(params string[] files) =>
        NamespaceUses.MutualPairs(NamespaceUses.Of(files.Select((t, i) => ($"F{i}.cs", t)).ToList()));

    [Fact]
    public void UsingsBothWaysAreAPair()
    {
        var pairs = Pairs("using Dfd.B;\nnamespace Dfd.A;\npublic class X { }", "using Dfd.A;\nnamespace Dfd.B;\npublic class Y { }");
        Assert.StartsWith("Dfd.A ⇄ Dfd.B: Dfd.A uses Dfd.B (F0.cs: using Dfd.B;)", Assert.Single(pairs));
    }

    [Fact]
    public void StaticAndAliasUsingsCount()
    {
        Assert.Single(Pairs("using static Dfd.B.Y;\nnamespace Dfd.A;\npublic class X { }",
            "using Z = Dfd.A.X;\nnamespace Dfd.B;\npublic static class Y { }"));
    }

    [Fact]
    public void FullyQualifiedNamesCount()
    {
        var pairs = Pairs("namespace Dfd.A;\npublic class X { global::Dfd.B.Y? y; }",
            "namespace Dfd.B;\npublic class Y { void F() => Dfd.A.X.G(); }");
        Assert.Contains("Dfd.A uses Dfd.B (F0.cs: Dfd.B.Y)", Assert.Single(pairs));
    }

    [Fact]
    public void PartlyQualifiedNamesCount()
    {
        // As FaceDecoder once did: Encoders.StateDict inside Dfd.Decoder, with no using of Dfd.Encoders.
        var pairs = Pairs("using Dfd.IO;\nnamespace Dfd.Decoder;\npublic class D { void F() => Encoders.StateDict.Assign(this); }",
            "using Dfd.Decoder;\nnamespace Dfd.Encoders;\npublic static class StateDict { }",
            "namespace Dfd.IO;\npublic class Io { }");
        Assert.Contains("F0.cs: Encoders.StateDict", Assert.Single(pairs));
    }

    [Fact]
    public void TypesOfAnEnclosingNamespaceCountWithoutAUsing()
    {
        var pairs = Pairs("using Dfd.Encoders;\nnamespace Dfd;\npublic class FaceModel { IEncoder? e; }",
            "namespace Dfd;\npublic class DfdException(string m) : System.Exception(m) { public class Nested { } }",
            "namespace Dfd.Encoders;\npublic interface IEncoder { DfdException Fail(); }");
        Assert.Contains("Dfd.Encoders uses Dfd (F2.cs: DfdException (in scope from Dfd))", Assert.Single(pairs));
        // A nested type is not in scope by its bare name, and a member access is not a type.
        Assert.Empty(Pairs("using Dfd.Encoders;\nnamespace Dfd;\npublic class R { public class Nested { } }",
            "namespace Dfd.Encoders;\npublic class E { Nested? n; void F(object o) => o.R(); }"));
    }

    [Fact]
    public void CommentsAndStringsDoNotCount()
    {
        Assert.Empty(Pairs("using Dfd.A;\nnamespace Dfd.B;\npublic class Y { }",
            "namespace Dfd.A;\n// using Dfd.B;\n/// <see cref=\"Dfd.B.Y\"/>\n" +
            "public class X { string s = \"Dfd.B.Y\", t = @\"Dfd.B.Y \"\" Dfd.B.Y\"; char c = '\"'; /* Dfd.B.Y */ }"));
        // The code in an interpolated string's holes is code.
        Assert.Single(Pairs("using Dfd.A;\nnamespace Dfd.B;\npublic class Y { }",
            "namespace Dfd.A;\npublic class X { string s = $\"{(true ? \"Dfd.B.no\" : \"\")} {Dfd.B.Y.Name}\"; }"));
    }

    [Fact]
    public void OneWayUseIsFine() =>
        Assert.Empty(Pairs("using Dfd.B;\nnamespace Dfd.A;\npublic class X { }", "namespace Dfd.B;\npublic class Y { }"));
}
