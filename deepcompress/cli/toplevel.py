"""`deepcompress [OPTIONS] FILE...`: the gzip/zstd-style command (no subcommand named).

-z/-d/-t/-l pick the job `each` runs on every operand (the last one given wins, as in
zstd); -r first expands directories into the files below them.
"""

from __future__ import annotations

import difflib
import functools
import os
from collections.abc import Callable

import click

from deepcompress import api, fileio
from deepcompress.cli.common import display, each, escape, model_option, report, resolved_model, say
from deepcompress.cli.files import (
    SUFFIX,
    check_level,
    compress_job,
    compress_options,
    decompress_job,
    file_operands,
    file_options,
    info_one,
    level_options,
    test_one,
    threads_option,
)


def _mode_options(function: Callable) -> Callable:
    for names, mode, text in reversed([
        (("-z", "--compress"), "compress", "compress (the default)"),
        (("-d", "--decompress", "--uncompress"), "decompress", "decompress"),
        (("-t", "--test"), "test", "decode and verify every checksum; write nothing"),
        (("-l", "--list"), "list", "list sizes and bits/byte of .dcz files (with -v: everything `info` shows)"),
    ]):
        default = {"default": True} if mode == "compress" else {}  # a default on each would override -z's
        function = click.option(*names, "mode", flag_value=mode, help=text, **default)(function)
    return function


def expand(operands: tuple[str, ...], mode: str) -> tuple[list[str], list[OSError]]:
    """-r: each directory operand replaced by the files below it, in sorted order (only .dcz
    files unless compressing; symbolic links to directories are not followed). The errors met."""
    expanded, errors = [], []
    for operand in operands:
        if operand == "-" or not os.path.isdir(operand):
            expanded.append(operand)
            continue
        for folder, subfolders, names in os.walk(operand, onerror=errors.append):
            subfolders.sort()
            expanded += [os.path.join(folder, name) for name in sorted(names) if mode == "compress" or name.endswith(SUFFIX)]
    return expanded, errors


def _check_not_a_mistyped_command(ctx: click.Context, operands: tuple[str, ...]) -> None:
    """A first operand that does not exist but is close to a command's name (`decompres`) is a
    usage error: the other operands were surely not meant to be compressed."""
    commands = ctx.parent.command.commands if ctx.parent is not None else {}
    if operands and not os.path.lexists(operands[0]):
        close = difflib.get_close_matches(operands[0], list(commands), n=1, cutoff=0.75)
        if close:
            raise click.UsageError(f"no such file or command {operands[0]!r}; did you mean the command {close[0]!r}?")


class Listing:
    """-l: one line per .dcz file as gzip -l prints it, then totals when there were several."""

    COLUMNS = f"{'compressed':>12} {'uncompressed':>12} {'bits/byte':>9}  {'model':<18} name"

    def __init__(self) -> None:
        self.rows: list[api.Stats] = []

    def __call__(self, path: str) -> None:
        with fileio.open_operand(path, compressed=True) as opened:
            stats = api.read_info(opened.source).stats
        if not self.rows:
            say(self.COLUMNS)
        self.rows.append(stats)
        say(self.line(stats.compressed_bytes, stats.original_bytes, stats.model, escape(display(path))))

    @staticmethod
    def line(compressed: int, original: int, model: str, name: str) -> str:
        bits = f"{8 * compressed / original:9.3f}" if original else f"{'-':>9}"
        return f"{compressed:>12} {original:>12} {bits}  {escape(model, 18):<18} {name}"

    def totals(self) -> None:
        if len(self.rows) > 1:
            say(self.line(sum(s.compressed_bytes for s in self.rows), sum(s.original_bytes for s in self.rows), "",
                          f"(totals of {len(self.rows)} files)"))


@click.command(name="deepcompress", context_settings={"help_option_names": ["-h", "--help"]})
@_mode_options
@level_options
@model_option
@compress_options
@threads_option
@click.option("-r", "--recursive", is_flag=True, help="operate on the files in directories, recursively")
@click.option("--progress/--no-progress", "show_progress", default=None,
              help="progress on stderr  [default: when stderr is a terminal and the input is large]")
@file_options
@click.pass_context
def files_command(ctx, mode, level, model, coder, data_kind, threads, recursive, show_progress, operands, keep,
                  **options) -> None:
    """Compress FILES (FILE -> FILE.dcz, kept), or with -d decompress them; none or - : stdin -> stdout."""
    if mode in ("test", "list") and (options["output"] or options["to_stdout"] or options["remove"]):
        raise click.UsageError(f"--{mode} writes no file: -o, -c and --rm do not apply")
    _check_not_a_mistyped_command(ctx, operands)
    operands = file_operands(operands, keep, options)
    if mode == "compress":
        check_level(model, level)
    status = 0
    if recursive:
        operands, errors = expand(operands, mode)
        for error in errors:
            report(os.fsdecode(error.filename), error.strerror or str(error))
        status = int(bool(errors))
        if options["output"] is not None and len(operands) > 1:
            raise click.UsageError("-o/--output takes a single input (this directory holds several)")
    resolved = resolved_model(ctx, model)
    if mode == "compress":
        handle = compress_job(resolved, coder, data_kind, level, threads, show_progress=show_progress, **options)
    elif mode == "decompress":
        handle = decompress_job(resolved, threads, show_progress=show_progress, **options)
    elif mode == "test":
        handle = functools.partial(test_one, model=resolved, quiet=options["quiet"], show_progress=show_progress,
                                   threads=threads)
    elif options["verbose"]:
        handle = functools.partial(info_one, as_json=False)
    else:
        handle = Listing()
    status = max(status, each(operands, handle))
    if isinstance(handle, Listing):
        handle.totals()
    ctx.exit(status)
