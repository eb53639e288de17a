using Dfd.Core;

namespace Dfd.Cli;

/// <summary>The command line itself is wrong (exit code 2); other <see cref="DfdException"/>s are about the input (exit code 1).</summary>
public sealed class UsageException(string message) : DfdException(message);

/// <summary>--name value / --flag options and positional words; every option read is checked off so typos are caught.</summary>
public sealed class Args
{
    readonly Dictionary<string, string?> options = new(StringComparer.Ordinal);
    readonly HashSet<string> used = new(StringComparer.Ordinal);
    readonly HashSet<string> noValue = new(StringComparer.Ordinal);
    public List<string> Positional { get; } = [];

    public Args(IEnumerable<string> argv, IReadOnlySet<string> flags)
    {
        var list = argv.ToList();
        for (int i = 0; i < list.Count; i++)
        {
            var a = list[i];
            if (a.StartsWith("--") && a.Length > 2)
            {
                var name = a[2..];
                string? value = null;
                int eq = name.IndexOf('=');
                if (eq >= 0) { value = name[(eq + 1)..]; name = name[..eq]; }
                else if (!flags.Contains(name))
                {
                    // Last word and no value: a misspelt flag reads as unknown (CheckUnused), a real option as missing its value (Opt).
                    if (i + 1 >= list.Count) { noValue.Add(name); continue; }
                    value = list[++i];
                }
                options[name] = value;
            }
            else Positional.Add(a);
        }
    }

    public bool Flag(string name) { used.Add(name); return options.ContainsKey(name); }

    public string? Opt(string name)
    {
        used.Add(name);
        if (noValue.Contains(name)) throw new UsageException($"option --{name} needs a value");
        return options.TryGetValue(name, out var v) ? v : null;
    }

    public string Req(string name) => Opt(name) ?? throw new UsageException($"missing required option --{name}");

    public int Int(string name, int def)
    {
        var v = Opt(name);
        if (v == null) return def;
        return int.TryParse(v, out var r) ? r : throw new UsageException($"--{name} expects an integer, got '{v}'");
    }

    public double Double(string name, double def)
    {
        var v = Opt(name);
        if (v == null) return def;
        return double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var r)
            ? r : throw new UsageException($"--{name} expects a number, got '{v}'");
    }

    /// <summary>Call after reading every option: an option nobody asked for is a typo, and silently ignoring it misleads.</summary>
    public void CheckUnused()
    {
        var unknown = options.Keys.Concat(noValue).Where(k => !used.Contains(k)).ToList();
        if (unknown.Count > 0) throw new UsageException($"unknown option{(unknown.Count > 1 ? "s" : "")}: {string.Join(", ", unknown.Select(u => "--" + u))}");
    }
}
