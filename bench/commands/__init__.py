"""Each `rnnbench` command's work, a module per command (bench.cli parses the command line and calls them)."""
