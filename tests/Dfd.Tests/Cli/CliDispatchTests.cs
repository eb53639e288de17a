using Dfd.Cli;
using Dfd.Core;
using Xunit;
using static Dfd.Tests.Cli.CliRunner;

namespace Dfd.Tests.Cli;

/// <summary>The command table, help, and the checks every command makes on its command line before doing any work.</summary>
public class CliDispatchTests
{
    [Theory]
    [InlineData]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    public void HelpListsTheCommandsAndSucceeds(params string[] args)
    {
        var r = Run(args);
        Assert.Equal(0, r.Code);
        Assert.Equal("", r.Err);
        Assert.Contains("usage: dfd <command>", r.Out);
        foreach (var c in new[] { "align", "encode", "train", "reconstruct", "evaluate", "analyze" })
            Assert.Matches($"(?m)^  {c} ", r.Out);
    }

    [Fact]
    public void UnknownCommandExitsWithTwoAndNamesIt()
    {
        var r = Run("encdoe", "--input", "x");
        AssertOneLineError(r, 2, "", "unknown command 'encdoe'", "encode");
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void CommandHelpShowsItsOptionsWithoutRunningIt()
    {
        var r = Run("reconstruct", "--help");
        Assert.Equal(0, r.Code);
        Assert.Equal("", r.Err);
        Assert.StartsWith("usage: dfd reconstruct", r.Out);
        Assert.Contains("--decoder", r.Out);
    }

    /// <summary>Every option a command reads (its source's a.Opt/Int/Double/Flag/Req calls) is in its --help.</summary>
    [Theory]
    [InlineData("demo", "DemoCommand.cs")]
    [InlineData("models", "ModelsCommand.cs")]
    [InlineData("align", "AlignCommand.cs")]
    [InlineData("encode", "EncodeCommand.cs")]
    [InlineData("verify", "VerifyCommand.cs")]
    [InlineData("split", "SplitCommand.cs")]
    [InlineData("train", "TrainCommand.cs")]
    [InlineData("cache", "CacheCommand.cs")]
    [InlineData("reconstruct", "ReconstructCommand.cs")]
    [InlineData("evaluate", "EvaluateCommand.cs")]
    [InlineData("analyze", "AnalyzeCommand.cs")]
    [InlineData("serve", "ServeCommand.cs")]
    [InlineData("convert", "ConvertCommand.cs")]
    public void FullHelpNamesEveryOptionTheCommandReads(string command, string file)
    {
        Assert.Contains(command, DfdCli.Commands.Keys);
        var r = Run(command, "--help");
        Assert.Equal(0, r.Code);
        Assert.StartsWith($"usage: dfd {command}", r.Out);
        var source = File.ReadAllText(Path.Combine(TestPaths.RepoRoot, "src", "Dfd.Cli", "Commands", file));
        var read = System.Text.RegularExpressions.Regex.Matches(source, @"\b(?:a\.(?:Opt|Int|Double|Flag|Req)\(|Pass\(a, )""([a-z][a-z0-9-]+)""")
            .Select(m => m.Groups[1].Value).Where(o => o != "help").Distinct().ToList();
        // Every command reads --json; fewer than that means the pattern no longer matches its code.
        Assert.True(read.Count >= (command is "train" or "analyze" ? 5 : 1), $"found only {read.Count} options in {file}: the pattern no longer matches its code");
        Assert.Contains("json", read);
        // Commands that open an encoder through Common read its options there: they must be in the help too.
        if (System.Text.RegularExpressions.Regex.IsMatch(source, @"Common\.Encoder\(a\b"))
            foreach (var o in new[] { "weights", "device", "input-size", "mean", "std", "channels", "template" }) Assert.Contains("--" + o, r.Out);
        else if (source.Contains("Common.Device(a)")) Assert.Contains("--device", r.Out);
        foreach (var o in read) Assert.Contains("--" + o, r.Out);
        if (command == "train")
            foreach (var term in Dfd.Training.LossSpec.Names) Assert.Contains(term, r.Out);
    }

    /// <summary>Every command has its full usage (more than the one line of the command list), so none is left out above.</summary>
    [Fact]
    public void EveryCommandHasAFullHelp()
    {
        foreach (var command in DfdCli.Commands.Keys)
        {
            var r = Run(command, "--help");
            Assert.Equal(0, r.Code);
            Assert.True(r.Out.Trim().Split('\n').Length >= 2, $"dfd {command} --help: one line only");
        }
    }

    [Fact]
    public void UnknownOptionIsAUsageError()
    {
        var r = Run("models", "--verbose");
        AssertOneLineError(r, 2, "models", "unknown option: --verbose");
    }

    [Theory]
    [InlineData("align", "input")]
    [InlineData("encode", "input")]
    [InlineData("verify", "lfw")]
    [InlineData("split", "lfw")]
    [InlineData("train", "encoder")]
    [InlineData("reconstruct", "decoder")]
    [InlineData("evaluate", "decoder")]
    public void MissingRequiredOptionIsNamed(string command, string option)
    {
        AssertOneLineError(Run(command), 2, command, $"missing required option --{option}");
    }

    [Fact]
    public void EachRequiredOptionIsCheckedNotOnlyTheFirst()
    {
        AssertOneLineError(Run("encode", "--input", "x.jpg"), 2, "encode", "missing required option --output");
        AssertOneLineError(Run("encode", "--input", "x.jpg", "--output", "t.npy"), 2, "encode", "missing required option --model");
        AssertOneLineError(Run("reconstruct", "--decoder", "d.safetensors", "--input", "t.npy"), 2, "reconstruct", "missing required option --output");
    }

    [Fact]
    public void TrainWithoutDataSaysWhichKindsItTakes()
    {
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--out", "d.safetensors"), 2, "train", "missing required option --data", "lfw:DIR");
    }

    [Fact]
    public void SharpOptionsAreChecked()
    {
        AssertOneLineError(Run("reconstruct", "--decoder", "d.safetensors", "--input", "t.npy", "--output", "o", "--seed", "abc"), 2, "reconstruct", "--seed: 'abc' is not a whole number");
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--data", "lfw:x", "--out", "d.safetensors", "--ema", "1.5"), 2, "train", "--ema is a decay in [0, 1)");
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--data", "lfw:x", "--out", "d.safetensors", "--noise-blocks", "9"), 2, "train", "--noise-blocks must be 0–5");
        AssertOneLineError(Run("train", "--encoder", "dlib-resnet", "--data", "lfw:x", "--out", "d.safetensors", "--r1", "-1"), 2, "train", "--r1 must be a number ≥ 0");
    }

    [Fact]
    public void ConvertNeedsItsSubcommand()
    {
        AssertOneLineError(Run("convert", "--manifest", "m.json", "--out", "o.safetensors"), 2, "convert", "usage: dfd convert faceapi");
    }

    [Fact]
    public void OptionWithoutValueIsAUsageError()
    {
        AssertOneLineError(Run("encode", "--model", "dlib-resnet", "--input"), 2, "encode", "option --input needs a value");
    }

    [Fact]
    public void UnknownEncoderIsNamedWithTheKnownOnes()
    {
        var r = Run("align", "--model", "facenet", "--input", "x.jpg", "--output", "out");
        AssertOneLineError(r, 1, "align", "unknown encoder 'facenet'", "dlib-resnet");
    }

    [Fact]
    public void EveryLibraryErrorTypeIsADfdException()
    {
        // The CLI prints a DfdException as one line; a library error type outside it would reach the user as a stack trace.
        var types = typeof(DfdException).Assembly.GetTypes().Where(t => typeof(Exception).IsAssignableFrom(t)).ToList();
        Assert.Contains(typeof(Dfd.Imaging.ImageLoadException), types);
        Assert.True(types.Count >= 6, $"found only {types.Count} exception types");
        Assert.All(types, t => Assert.True(typeof(DfdException).IsAssignableFrom(t), $"{t.FullName} does not derive from DfdException"));
        Assert.True(typeof(DfdException).IsAssignableFrom(typeof(UsageException)));
    }
}
