return Dfd.Cli.DfdCli.Run(args);
