namespace Dfd.Cli.Commands;

static class DemoCommand
{
    public static int Run(string[] argv) => throw new UsageException("demo: not yet");
}
