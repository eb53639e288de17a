using Dfd.Encoders;
using Spectre.Console;

namespace Dfd.Cli.Commands;

static class ModelsCommand
{
    public static readonly string Help = string.Join("\n",
    [
        "usage: dfd models [--json]",
        "  every registry encoder: input size, template size, alignment, source, licence, weights found"
    ]);

    public static int Run(string[] argv)
    {
        var a = new Args(argv, new HashSet<string> { "json" });
        bool json = a.Flag("json");
        a.CheckUnused();
        var rows = Registry.All.Select(s =>
        {
            var w = Registry.WeightsPath(s.Name);
            return new
            {
                name = s.Name, description = s.Description, input = $"{s.InputWidth}x{s.InputHeight}",
                channels = s.Channels.ToString(), mean = s.Mean, std = s.Std, embedding_size = s.EmbeddingSize,
                template = s.Template.Points.Select(p => new[] { Math.Round(p.X, 3), Math.Round(p.Y, 3) }),
                published_lfw = s.PublishedLfw, source = s.Source, licence = s.Licence,
                weights = w, weights_present = w != null,
                how_to_supply = w == null ? Registry.HowToSupply(s.Name) : null,
            };
        }).ToList();
        if (json) { Console.WriteLine(Common.ToJson(rows)); return 0; }
        var t = new Table().AddColumns("name", "input", "dim", "normalisation", "LFW (published)", "weights", "licence");
        foreach (var r in rows)
            t.AddRow(r.name, $"{r.input} {r.channels}", r.embedding_size.ToString(),
                Markup.Escape($"(x-[{string.Join(",", r.mean)}])/[{string.Join(",", r.std)}]"), r.published_lfw,
                r.weights_present ? "[green]present[/]" : $"[yellow]missing[/]: {Markup.Escape(r.how_to_supply!)}", Markup.Escape(r.licence));
        AnsiConsole.Write(t);
        return 0;
    }
}
