"""`python -m harness.cli`: the pactjury command."""

from harness.cli.main import run

run()
