"""The `deepcompress` command, with gzip/zstd conventions. The only package that prints or exits.

`deepcompress [-z|-d|-t|-l] [OPTIONS] FILE...` is the gzip/zstd-style command (`toplevel`);
`deepcompress COMMAND ...` runs a subcommand (`files`: compress, decompress, test, info;
`model_commands`: nll, bench, surprisal, train, sample). A first argument that names no
command is a file (`deepcompress -- test` compresses a file called `test`).

Errors are one line on stderr, `deepcompress: NAME: reason` (NAME: the operand at fault,
escaped and bounded); exit status 0 on success, 1 if any operand failed, 2 for usage
errors, 128 + N when stopped by signal N (SIGINT, SIGTERM, SIGHUP: temporary files are
removed first). Only regular files are compressed to a named output or removed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

import click

from deepcompress import __version__, fileio
from deepcompress.cli import files, model_commands, toplevel
from deepcompress.cli.common import PROGRAM

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(BaseException):
    """Stop signal args[0] arrived: unwinds like KeyboardInterrupt, so temporary files are removed."""


def _stop(signum: int, frame: object) -> None:
    for each in STOP_SIGNALS:  # the cleanup runs once, not interrupted by a second signal
        signal.signal(each, signal.SIG_IGN)
    raise Stopped(signum)


def run(argv: list[str] | None = None) -> None:
    """The console entry point: `main` with stop signals and standard output handled."""
    for each in STOP_SIGNALS:
        if signal.getsignal(each) is not signal.SIG_IGN:  # keep what nohup and `&` ignore
            signal.signal(each, _stop)
    try:
        main(args=argv, prog_name=PROGRAM)
    except SystemExit as done:
        status = done.code
    except Stopped as stop:
        status = 128 + stop.args[0]
    except fileio.StdoutClosed:
        status = 128 + signal.SIGPIPE
    except MemoryError:  # outside any operand (while parsing, loading a model)
        click.echo(f"{PROGRAM}: out of memory", err=True)
        status = 1
    if sys.stdout is not None:
        try:
            sys.stdout.flush()
        except OSError as error:
            status = status or (128 + signal.SIGPIPE if isinstance(error, BrokenPipeError) else 1)
            # Point fd 1 at /dev/null so that the interpreter's own flush at exit stays quiet.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(status)


class _Group(click.Group):
    """The top-level group: a first argument that names no command goes to `toplevel`, and
    --help shows that command's options above the list of commands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("-h", "--help", "-V", "--version")):
            args = [_TOP, *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple:
        if args and args[0] == _TOP:  # a name no argv can hold (a NUL): never a user's file name
            return None, toplevel.files_command, args[1:]
        return super().resolve_command(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "[-z|-d|-t|-l] [OPTIONS] [FILES]...")
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="  or:  ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        version = [parameter for parameter in self.get_params(ctx) if parameter.name == "version"]
        records = [record for parameter in toplevel.files_command.get_params(ctx) + version
                   if isinstance(parameter, click.Option) and (record := parameter.get_help_record(ctx))]
        with formatter.section("Options"):
            formatter.write_dl(records)
        self.format_commands(ctx, formatter)


_TOP = "\0files"


class _TopContext(click.Context):
    """The context of the top-level command: its usage reads `deepcompress [OPTIONS]...`."""

    @property
    def command_path(self) -> str:
        return super().command_path.rstrip()


toplevel.files_command.context_class = _TopContext


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name=PROGRAM)
def main() -> None:
    """Lossless compression with learned, exactly reproducible probabilities.

    Without a command: compress FILES to FILE.dcz, keeping them (-d: decompress; see
    the options below). The commands give the same operations with their own options.
    """


for _name, _command in files.COMMANDS.items():
    main.add_command(_command, name=_name)
for _command in model_commands.COMMANDS:
    main.add_command(_command)
