using System.Text.RegularExpressions;
using Dfd.Cli;
using Xunit;

namespace Dfd.Tests.Cli;

/// <summary>Runs the dfd command line in-process with its output captured, and checks the shape of its errors.</summary>
static class CliRunner
{
    // DfdCli.Run swaps the process's Console writers for the call; tests run one class at a time (Parallelism.cs), and
    // the lock keeps two calls from one class from interleaving should that ever change.
    static readonly object Gate = new();

    // Without a terminal, progress goes to stderr as "label: done/total" lines; they are not errors.
    static readonly Regex ProgressLine = new(@"^[a-z0-9 +()-]+: \d+/\d+$");

    public sealed record Result(int Code, string Out, string Err);

    public static Result Run(params string[] args)
    {
        lock (Gate)
        {
            var (o, e) = (new StringWriter(), new StringWriter());
            int code = DfdCli.Run(args, o, e);
            return new Result(code, o.ToString(), e.ToString());
        }
    }

    /// <summary>
    /// The run failed with <paramref name="code"/> and said so in one line on stderr, "dfd COMMAND: ...", holding every
    /// one of <paramref name="mentions"/> and no stack trace ("dfd: ..." for an empty <paramref name="command"/>).
    /// </summary>
    public static void AssertOneLineError(Result r, int code, string command, params string[] mentions)
    {
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !ProgressLine.IsMatch(l)).ToList();
        Assert.True(r.Code == code, $"exit code {r.Code}, expected {code}; stderr: {r.Err}; stdout: {r.Out}");
        Assert.True(lines.Count == 1, $"expected one error line, got {lines.Count}:\n{r.Err}");
        Assert.DoesNotContain("   at ", r.Err);
        Assert.DoesNotContain("Exception", r.Err);
        Assert.StartsWith(command == "" ? "dfd: " : $"dfd {command}: ", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }
}
