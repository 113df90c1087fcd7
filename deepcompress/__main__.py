"""`python -m deepcompress` runs the command-line tool."""

from deepcompress.cli import run

run()
