"""`python -m infra` is the `jobstream` command."""

from infra.cli import app

app(prog_name="jobstream")
