"""One module per `mono-depth` sub-command; each defines HELP, add_arguments(parser) and run(args) -> int."""
