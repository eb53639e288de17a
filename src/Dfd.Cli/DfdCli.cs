using System.Runtime.InteropServices;
using Dfd.Cli.Commands;
using Dfd.Core;
using Spectre.Console;

namespace Dfd.Cli;

/// <summary>The command table and the dispatch, with every error turned into one line on stderr and an exit code.</summary>
public static class DfdCli
{
    /// <summary>Each command: its line in the command list, its full usage for <c>dfd COMMAND --help</c> (every option it
    /// reads; a test holds them to its source), and what runs it.</summary>
    public static IReadOnlyDictionary<string, (string Help, string Usage, Func<string[], int> Run)> Commands { get; } =
        new Dictionary<string, (string Help, string Usage, Func<string[], int> Run)>(StringComparer.Ordinal)
        {
            ["demo"] = ("run the main job on the bundled sample faces", DemoCommand.Help, DemoCommand.Run),
            ["models"] = ("list the encoders and their metadata", ModelsCommand.Help, ModelsCommand.Run),
            ["align"] = ("detect and align faces: --input <file|dir> --output <dir> --model <encoder>", AlignCommand.Help, AlignCommand.Run),
            ["encode"] = ("templates of faces: --model <name> --input <file|dir> --output templates.npy", EncodeCommand.Help, EncodeCommand.Run),
            ["verify"] = ("LFW View-2 verification: --model <name> --lfw <dir> --pairs <pairs.txt>", VerifyCommand.Help, VerifyCommand.Run),
            ["split"] = ("write Dfd's identity-disjoint LFW split: --lfw <dir> --pairs <pairs.txt>", SplitCommand.Help, SplitCommand.Run),
            ["train"] = ("train a decoder: --encoder <name> --data <dataset>... --out decoder.safetensors", TrainCommand.Help, TrainCommand.Run),
            ["cache"] = ("the training set on disk: cache build --encoder <name> --data <dataset>... [--shard i/n] | cache merge DIR [FROM...] | cache info DIR", CacheCommand.Help, CacheCommand.Run),
            ["reconstruct"] = ("decode templates to faces: --decoder F[,F2,…] --input <images|dir|templates.npy> --output <dir> (several decoders of one encoder: rows of one grid)", ReconstructCommand.Help, ReconstructCommand.Run),
            ["evaluate"] = ("type-I/II match rates, SSIM, PSNR of a decoder: --decoder F --data <test set> --report <dir> [--with-models m1,m2]", EvaluateCommand.Help, EvaluateCommand.Run),
            ["lineup"] = ("a lineup test for a person: does the drawn face pick out the person? --decoder F --data <test set> --out <dir>; lineup score --key K --answers …", LineupCommand.Help, LineupCommand.Run),
            ["analyze"] = ("perturb faces, follow and decode the template: analyze <kind> --encoder E --input <dir> --report <dir> (kinds: " + AnalyzeCommand.Kinds + ")", AnalyzeCommand.Help, AnalyzeCommand.Run),
            ["serve"] = ("the explorer in the browser: serve [--encoder a,b] [--decoder d1,d2] [--port 5117] [--host 127.0.0.1] [--samples dir]", ServeCommand.Help, ServeCommand.Run),
            ["convert"] = ("convert published weights: convert faceapi --manifest <json> --out <safetensors>; convert relpaths FILE... (metadata paths made relative)", ConvertCommand.Help, ConvertCommand.Run),
        };

    public static int Run(string[] args) => Run(args, Console.Out, Console.Error);

    /// <summary>
    /// Runs one command line. Commands write to <see cref="Console"/> and <see cref="AnsiConsole"/>, so other writers
    /// are installed there for the call (process-wide: one call at a time).
    /// </summary>
    public static int Run(string[] args, TextWriter stdout, TextWriter stderr)
    {
        if (ReferenceEquals(stdout, Console.Out) && ReferenceEquals(stderr, Console.Error)) return Dispatch(args);
        var (oldOut, oldErr, oldAnsi) = (Console.Out, Console.Error, AnsiConsole.Console);
        Console.SetOut(stdout);
        Console.SetError(stderr);
        AnsiConsole.Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(stdout), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors, Interactive = InteractionSupport.No,
        });
        try { return Dispatch(args); }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
            AnsiConsole.Console = oldAnsi;
        }
    }

    static int Dispatch(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine("dfd — Deep Face Decoder toolkit\n\nusage: dfd <command> [options]   (every command takes --json)\n");
            foreach (var (name, (help, _, _)) in Commands) Console.WriteLine($"  {name,-10} {help}");
            return 0;
        }
        if (!Commands.TryGetValue(args[0], out var cmd))
        {
            Console.Error.WriteLine($"dfd: unknown command '{args[0]}' (try: {string.Join(", ", Commands.Keys)})");
            return 2;
        }
        if (args.Skip(1).Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(cmd.Usage);
            return 0;
        }
        try
        {
            return cmd.Run(args[1..]);
        }
        catch (UsageException e) { return Fail(args[0], e.Message, 2); }
        catch (DfdException e) { return Fail(args[0], e.Message, 1); }
        // The framework's file errors name the file; they are about the user's paths, not a bug, so no stack trace either.
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException) { return Fail(args[0], e.Message, 1); }
        // libtorch's own errors (TorchSharp raises them as ExternalException): one line, not a native stack trace. Checkpoints
        // are written atomically, so training resumes from the last one.
        catch (ExternalException e)
        {
            return Fail(args[0], $"libtorch failed: {e.Message.Split('\n')[0].Trim()}" +
                (args[0] == "train" ? " (rerun with --resume to continue from the last checkpoint)" : ""), 1);
        }
    }

    static int Fail(string command, string message, int code)
    {
        // One line, whatever the message: scripts read the last line of stderr, and a wrapped message reads as two errors.
        var line = string.Join(" ", message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Console.Error.WriteLine($"dfd {command}: {line}");
        return code;
    }
}
