"""What every command shares: error lines, standard output, the per-operand loop, -m."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

import click

from deepcompress import api, fileio
from deepcompress.errors import DeepCompressError

PROGRAM = "deepcompress"
NAME_LIMIT, REASON_LIMIT = 200, 400  # characters of an error line's parts
ERRORS = (fileio.OperandError, DeepCompressError, OSError, ValueError, ImportError, MemoryError)


def escape(text: str, limit: int | None = None) -> str:
    """`text` with non-printable characters escaped, cut to `limit` characters."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def report(name: str, reason: str) -> None:
    """The one line of an error (or a skipped operand) on stderr: `deepcompress: NAME: reason`."""
    click.echo(f"{PROGRAM}: {escape(name, NAME_LIMIT)}: {escape(reason, REASON_LIMIT)}", err=True)


def say(text: str) -> None:
    """A line on standard output; a closed pipe ends the run quietly."""
    if sys.stdout is None:  # started with fd 1 closed: click would drop the text silently
        raise fileio.OperandError("standard output is closed", fileio.STDOUT)
    try:
        click.echo(text)
    except BrokenPipeError:
        raise fileio.StdoutClosed from None


def display(path: str) -> str:
    return "(stdin)" if path == "-" else path


def reason(error: BaseException) -> str:
    if isinstance(error, MemoryError):
        return f"out of memory ({error})" if str(error) else "out of memory"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def _at_fault(operand: str, error: BaseException) -> str:
    if isinstance(error, fileio.OperandError) and error.name is not None:
        return error.name
    if isinstance(error, OSError) and error.filename is not None:
        return os.fsdecode(error.filename)
    return display(operand)


def each(operands: Iterable[str], handle: Callable[[str], object]) -> int:
    """THE per-operand loop: `handle` each one, report a failure in one line and go on. Exit status."""
    status = 0
    for operand in operands:
        try:
            handle(operand)
        except ERRORS as error:
            report(_at_fault(operand, error), reason(error))
            status = 1
    return status


def model_option(function: Callable) -> Callable:
    names = ", ".join(api.builtin_model_names())
    return click.option("-m", "--model", help=f"model: a built-in ({names}) or a model file")(function)


def resolved_model(ctx: click.Context, model: str | None, resolve=api.resolve_model) -> api.ModelSpec | None:
    """-m as the commands use it (by default built-in names stay names, a model file is loaded once)."""
    try:
        return resolve(model)
    except ERRORS as error:
        report(model, reason(error))
        ctx.exit(1)
