"""compress, decompress, test and info: one job per direction, run on each operand by `each`.

gzip's conventions for files: only regular files get a named output or are removed; the
output keeps the input's permission bits and times; FILE.dcz is not compressed again to a
derived name unless -f. Inputs are kept unless --rm (zstd's default, see the README).
"""

from __future__ import annotations

import functools
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import click

from deepcompress import api, fileio
from deepcompress.cli import progress
from deepcompress.cli.common import display, each, escape, model_option, report, resolved_model, say

SUFFIX = ".dcz"
Run = Callable[[BinaryIO, BinaryIO, "api.Progress | None"], api.Stats]


@dataclass(frozen=True)
class FileJob:
    """What compress/decompress do to each operand. run: (source, sink, progress) -> Stats;
    output_name: FILE -> its output; verify: re-checks an output before --rm; compressed_input:
    decompressing (refuse a terminal as input; FILE.dcz is not compressed to a derived name);
    binary_output: what the output is, if it must not go to a terminal; show_progress: True,
    False or None (a terminal and a large input)."""

    run: Run
    output_name: Callable[[str], str]
    verify: Callable[[str], None]
    compressed_input: bool
    binary_output: str | None
    output: str | None
    to_stdout: bool
    force: bool
    remove: bool
    quiet: bool
    verbose: bool
    show_progress: bool | None = None

    def __call__(self, path: str) -> None:
        to_stdout = self.to_stdout or (path == "-" and self.output is None)
        if not self.compressed_input and path.endswith(SUFFIX) and not (to_stdout or self.output or self.force):
            if not self.quiet:  # as gzip: only a derived name is refused (-c and -o compress it)
                report(path, f"already has the {SUFFIX} suffix; skipped (use -f to compress it again)")
            return
        stats = self._transform(path, to_stdout)
        if self.verbose and not self.quiet:
            click.echo(f"{escape(display(path))}: {stats.original_bytes} -> {stats.compressed_bytes} bytes "
                       f"({stats.bits_per_byte:.3f} bits/byte; NLL {stats.nll_bits_per_byte:.3f} bits/byte; "
                       f"overhead {100 * stats.overhead:.3f}%)", err=True)

    def _transform(self, path: str, to_stdout: bool) -> api.Stats:
        # Only a regular file is read unless -c -f asks for a device or FIFO (as gzip: `gzip -c <(cmd)` needs
        # -f); a named output or --rm always needs a regular input.
        regular = not (to_stdout and self.force)
        with fileio.open_operand(path, self.compressed_input, regular=regular, follow=self.force or to_stdout) as opened:
            if to_stdout:
                with fileio.output("-", self.force, self.binary_output) as sink:
                    return self._run(path, opened.source, sink)
            links = opened.entry.st_nlink - 1 if opened.entry is not None else 0
            if self.remove and links and not self.force:  # as gzip: removing one name would not free the data
                raise fileio.OperandError(f"has {links} other link{'s' if links > 1 else ''}; use -f to remove this one")
            target = self.output if self.output is not None else self.output_name(path)
            if path != "-" and fileio.same_file(path, target):
                raise fileio.OperandError("input and output are the same file")
            # as gzip: a file's output keeps its permission bits and its times
            source = os.fstat(opened.source.fileno()) if opened.entry is not None else None
            mode, times = (source.st_mode & 0o777, (source.st_atime_ns, source.st_mtime_ns)) if source else (None, None)
            with fileio.output(target, self.force, self.binary_output, mode, times) as sink:
                stats = self._run(path, opened.source, sink)
            if self.remove and opened.entry is not None:
                self.verify(target)
                fileio.remove_operand(path, opened)
        return stats

    def _run(self, path: str, source: BinaryIO, sink: BinaryIO) -> api.Stats:
        meter = progress.meter(False if self.quiet else self.show_progress, escape(display(path)), _size(source),
                               not self.compressed_input)
        try:
            return self.run(source, sink, meter)
        finally:
            if meter is not None:
                meter.close()


def _size(stream: BinaryIO) -> int | None:
    """The size of a regular file's stream (for the progress line); None for anything else."""
    try:
        entry = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return None
    return entry.st_size if stat.S_ISREG(entry.st_mode) else None


def file_operands(operands: tuple[str, ...], keep: bool, options: dict) -> tuple[str, ...]:
    """The operands of compress/decompress (none: stdin) once their common options are checked (-o - is -c)."""
    if keep and options["remove"]:
        raise click.UsageError("-k/--keep and --rm contradict each other")
    if options["output"] is not None and len(operands) > 1:
        raise click.UsageError("-o/--output takes a single input")
    if options["output"] == "-":
        options |= {"output": None, "to_stdout": True}
    return operands or ("-",)


def compress_job(model: api.ModelSpec | None, coder: str, data_kind: str, level: int | None = None, threads: int = 1,
                 **options) -> FileJob:
    def verify(target: str) -> None:
        with open(target, "rb") as compressed:
            api.decompress_stream(compressed, None, model if not isinstance(model, str) else None, threads=threads)

    def run(source: BinaryIO, sink: BinaryIO, meter: api.Progress | None) -> api.Stats:
        return api.compress_input(source, sink, model, coder, data_kind, level=level, progress=meter, threads=threads)

    return FileJob(run, lambda path: path + SUFFIX, verify, False, "compressed data", **options)


def decompress_job(model: api.ModelSpec | None, threads: int = 1, **options) -> FileJob:
    # verify: nothing left to do, every checksum passed before the output was renamed into place
    return FileJob(lambda source, sink, meter: api.decompress_stream(source, sink, model, progress=meter,
                                                                     threads=threads),
                   _decompressed_name, lambda target: None, True, None, **options)


def _decompressed_name(path: str) -> str:
    if not path.endswith(SUFFIX) or len(os.path.basename(path)) == len(SUFFIX):
        raise fileio.OperandError(f"unknown suffix (expected {SUFFIX}); use -o or -c")
    return path[: -len(SUFFIX)]


def test_one(path: str, model: api.ModelSpec | None, quiet: bool, show_progress: bool | None = False,
             threads: int = 1) -> None:
    with fileio.open_operand(path, compressed=True) as opened:
        meter = progress.meter(False if quiet else show_progress, escape(display(path)), _size(opened.source), False)
        try:
            stats = api.decompress_stream(opened.source, None, model, progress=meter, threads=threads)
        finally:
            if meter is not None:
                meter.close()
    if not quiet:
        say(f"{escape(display(path))}: OK ({stats.original_bytes} bytes)")


def info_one(path: str, as_json: bool) -> None:
    with fileio.open_operand(path, compressed=True) as opened:
        record = {"file": display(path), **api.info_record(api.read_info(opened.source))}
    # strings from a (possibly forged) file are escaped
    say(json.dumps(record) if as_json else "\n".join(f"{k:>18}: {escape(str(v))}" for k, v in record.items()))


def file_options(function: Callable) -> Callable:
    for decorator in reversed([
        click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="write to this file (- : stdout)"),
        click.option("-c", "--stdout", "to_stdout", is_flag=True, help="write to standard output"),
        click.option("-k", "--keep", is_flag=True, help="keep input files (the default)"),
        click.option("--rm", "remove", is_flag=True, help="remove input files after a verified write"),
        click.option("-f", "--force", is_flag=True, help="overwrite existing output files; follow symbolic links; compress .dcz files"),
        click.option("-q", "--quiet", is_flag=True, help="print nothing but errors"),
        click.option("-v", "--verbose", is_flag=True, help="print sizes, bits/byte and NLL per file"),
        click.argument("operands", nargs=-1, type=click.Path(allow_dash=True), metavar="[FILES]..."),
    ]):
        function = decorator(function)
    return function


def _thread_count(ctx: click.Context, param: click.Parameter, value: int) -> int:
    return value or os.cpu_count() or 1


def threads_option(function: Callable) -> Callable:
    """-T N / --threads N (0: one per CPU, as zstd -T0)."""
    return click.option("-T", "--threads", type=click.IntRange(0), default=1, show_default=True, metavar="N",
                        callback=_thread_count,
                        help="segments (4 MiB members) coded or decoded at a time, 0: one per CPU; "
                             "the output does not depend on it")(function)


def level_options(function: Callable) -> Callable:
    """-1 ... -9, --fast (-1), --best (-9) and --level N: the adaptive model's level (`api.level_spec`)."""
    for level in range(9, 0, -1):
        function = click.option(f"-{level}", "level", flag_value=level, type=int, hidden=True)(function)
    function = click.option("--fast", "level", flag_value=1, type=int, hidden=True)(function)
    function = click.option("--best", "level", flag_value=9, type=int, hidden=True)(function)
    return click.option("--level", "level", type=click.IntRange(1, 9), metavar="N",
                        help="compression level: -1 (fastest) ... -9 (strongest), --fast, --best or --level N  "
                             "[default: the adaptive model's default]")(function)


def check_level(model: str | None, level: int | None) -> None:
    """A usage error for a level given with a model it does not apply to."""
    if level is not None:
        try:
            api.level_spec(model, level)
        except ValueError as error:
            raise click.UsageError(str(error)) from None


def compress_options(function: Callable) -> Callable:
    function = click.option("--as", "data_kind", type=click.Choice(api.INPUT_KINDS), default="auto", show_default=True,
                            help="code bytes, or the elements of an integer .npy array (auto: arrays when the input is one)")(function)
    return click.option("--coder", type=click.Choice(api.CODERS), default=api.DEFAULT_CODER, show_default=True)(function)


@click.command(name="compress")
@level_options
@model_option
@compress_options
@threads_option
@file_options
@click.pass_context
def compress_command(ctx, level, model, coder, data_kind, threads, operands, keep, **options) -> None:
    """Compress FILES (FILE -> FILE.dcz; none or - : stdin -> stdout).

    The default model is `adaptive` (histogram-adaptive for arrays of more than 256 values).
    """
    check_level(model, level)
    operands = file_operands(operands, keep, options)
    ctx.exit(each(operands, compress_job(resolved_model(ctx, model), coder, data_kind, level, threads, **options)))


@click.command(name="decompress")
@model_option
@threads_option
@file_options
@click.pass_context
def decompress_command(ctx, model, operands, keep, **options) -> None:
    """Decompress FILES (FILE.dcz -> FILE; none or - : stdin -> stdout)."""
    operands = file_operands(operands, keep, options)
    ctx.exit(each(operands, decompress_job(resolved_model(ctx, model), **options)))


@click.command(name="test")
@model_option
@click.option("-q", "--quiet", is_flag=True, help="print nothing but errors")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def test_command(ctx, model, quiet, files) -> None:
    """Decode FILES and verify every checksum; write nothing."""
    ctx.exit(each(files, functools.partial(test_one, model=resolved_model(ctx, model), quiet=quiet)))


@click.command(name="info")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def info_command(ctx, as_json, files) -> None:
    """Show header, sizes and stored NLL of .dcz FILES without decoding them."""
    ctx.exit(each(files, functools.partial(info_one, as_json=as_json)))


COMMANDS = {"compress": compress_command, "decompress": decompress_command, "encode": compress_command,
            "decode": decompress_command, "test": test_command, "info": info_command}
