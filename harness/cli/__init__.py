"""The `pactjury` command line: the only layer that knows argparse, exit codes and printing."""

from harness.cli.main import main, run

__all__ = ["main", "run"]
