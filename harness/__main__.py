"""`python -m harness`: the pactjury command."""

from harness.cli.main import run

run()
