using Dfd.Cli;
using Dfd.Cli.Commands;
using Dfd.Encoders;
using Dfd.Imaging;
using Dfd.IO;
using Spectre.Console;

var commands = new Dictionary<string, (string Help, Func<string[], int> Run)>(StringComparer.Ordinal)
{
    ["demo"] = ("run the main job on the bundled sample faces", DemoCommand.Run),
    ["models"] = ("list the encoders and their metadata", ModelsCommand.Run),
    ["align"] = ("detect and align faces: --input <file|dir> --output <dir> --model <encoder>", AlignCommand.Run),
    ["encode"] = ("templates of faces: --model <name> --input <file|dir> --output templates.npy", EncodeCommand.Run),
    ["verify"] = ("LFW View-2 verification: --model <name> --lfw <dir> --pairs <pairs.txt>", VerifyCommand.Run),
    ["split"] = ("write Dfd's identity-disjoint LFW split: --lfw <dir> --pairs <pairs.txt>", SplitCommand.Run),
    ["train"] = ("train a decoder: --encoder <name> --data <dataset>... --out decoder.safetensors", TrainCommand.Run),
    ["reconstruct"] = ("decode templates to faces: --decoder F --input <images|dir|templates.npy> --output <dir>", ReconstructCommand.Run),
    ["evaluate"] = ("type-I/II match rates, SSIM, PSNR of a decoder: --decoder F --data <test set> --report <dir> [--with-models m1,m2]", EvaluateCommand.Run),
    ["analyze"] = ("perturb faces, follow and decode the template: analyze <kind> --encoder E --input <dir> --report <dir> (kinds: " + AnalyzeCommand.Kinds + ")", AnalyzeCommand.Run),
    ["convert"] = ("convert published weights: convert faceapi --manifest <json> --out <safetensors>", ConvertCommand.Run),
};

if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine("dfd — Deep Face Decoder toolkit\n\nusage: dfd <command> [options]   (every command takes --json)\n");
    foreach (var (name, (help, _)) in commands) Console.WriteLine($"  {name,-10} {help}");
    return 0;
}
if (!commands.TryGetValue(args[0], out var cmd))
{
    Console.Error.WriteLine($"dfd: unknown command '{args[0]}' (try: {string.Join(", ", commands.Keys)})");
    return 2;
}
try
{
    return cmd.Run(args[1..]);
}
catch (UsageException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 2; }
catch (ImageLoadException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (ModelFileException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (EncoderNotAvailableException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (FileNotFoundException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (DirectoryNotFoundException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (Dfd.Decoder.DecoderFileException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (Dfd.Training.TrainingDivergedException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (InvalidDataException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
catch (IOException e) { Console.Error.WriteLine($"dfd {args[0]}: {e.Message}"); return 1; }
// libtorch's own errors (TorchSharp raises them as ExternalException): one line, not a native stack trace. Checkpoints
// are written atomically, so training resumes from the last one.
catch (System.Runtime.InteropServices.ExternalException e)
{
    Console.Error.WriteLine($"dfd {args[0]}: libtorch failed: {e.Message.Split('\n')[0].Trim()}" +
        (args[0] == "train" ? " (rerun with --resume to continue from the last checkpoint)" : ""));
    return 1;
}
