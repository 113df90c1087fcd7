"""The `deepcompress` command, with gzip/zstd conventions. The only module that prints or exits.

Errors are one line on stderr, `deepcompress: FILE: reason`; exit status 0 on success,
1 if any file failed, 2 for usage errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import click
import numpy as np

from deepcompress import __version__, api, coding, models, symbols
from deepcompress.errors import DeepCompressError
from deepcompress.symbols import Layout, record_size_of, record_streams

SUFFIX = ".dcz"
PROGRAM = "deepcompress"


class Failure(Exception):
    """One file could not be processed; the message is the reason."""


def _report(name: str, reason: str) -> None:
    click.echo(f"{PROGRAM}: {name}: {reason}", err=True)


def _display(path: str) -> str:
    return "(stdin)" if path == "-" else path


@contextlib.contextmanager
def _atomic_output(path: str, force: bool, like: str | None) -> Iterator[BinaryIO]:
    """Write to a temporary file beside `path`, renamed over it only once complete.

    A failure (or an interrupt) removes the temporary file, so no partial output ever
    appears and an existing file is never clobbered by one.
    """
    if os.path.lexists(path) and not force:
        raise Failure(f"{path} already exists; use -f to overwrite")
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as sink:
            yield sink
            sink.flush()
            os.fsync(sink.fileno())
        os.chmod(temporary, os.stat(like).st_mode & 0o7777 if like is not None else 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _refuse_terminal(stream: BinaryIO, what: str) -> None:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        if stream.isatty():
            raise Failure(f"refusing to {what} a terminal; use -o FILE or a pipe")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@dataclass(frozen=True)
class FileJob:
    """How compress/decompress treat their files: options plus the direction-specific parts.

    run: codes a whole source into a sink; output_name: FILE -> default output path;
    verify: re-checks a written output before --rm deletes its input.
    """

    run: Callable[[BinaryIO, BinaryIO], api.Stats]
    output_name: Callable[[str], str]
    verify: Callable[[str], None]
    binary_output: bool
    output: str | None
    to_stdout: bool
    force: bool
    remove: bool
    quiet: bool
    verbose: bool


def _process(job: FileJob, paths: tuple[str, ...]) -> int:
    """Run `job` on each path (none: stdin), reporting failures and going on. Returns the exit status."""
    paths = paths or ("-",)
    if job.output is not None and len(paths) > 1:
        raise click.UsageError("-o/--output takes a single input")
    status = 0
    for path in paths:
        try:
            stats = _process_one(job, path)
        except (Failure, DeepCompressError, OSError, ValueError) as error:
            _report(_display(path), _reason(error))
            status = 1
        else:
            if job.verbose and not job.quiet:
                _verbose_line(path, stats)
    return status


def _reason(error: Exception) -> str:
    return error.strerror if isinstance(error, OSError) and error.strerror else str(error)


def _verbose_line(path: str, stats: api.Stats) -> None:
    click.echo(
        f"{_display(path)}: {stats.original_bytes} -> {stats.compressed_bytes} bytes "
        f"({stats.bits_per_byte:.3f} bits/byte; NLL {stats.nll_bits_per_byte:.3f} bits/byte; "
        f"overhead {100 * stats.overhead:.3f}%)",
        err=True,
    )


def _process_one(job: FileJob, path: str) -> api.Stats:
    stdout = sys.stdout.buffer
    if path != "-" and os.path.isdir(path):
        raise Failure("is a directory")
    if path == "-" and job.output is not None:
        with _atomic_output(job.output, job.force, None) as sink:
            return job.run(sys.stdin.buffer, sink)
    if path == "-" or job.to_stdout:
        if job.binary_output:
            _refuse_terminal(stdout, "write compressed data to")
        with _open_input(path) as source:
            return job.run(source, stdout)
    target = job.output if job.output is not None else job.output_name(path)
    if _same_file(path, target):
        raise Failure("input and output are the same file")
    with open(path, "rb") as source, _atomic_output(target, job.force, like=path) as sink:
        stats = job.run(source, sink)
    if job.remove:
        job.verify(target)
        os.unlink(path)
    return stats


def _model_option(default: str | None) -> Callable:
    help_text = f"model: a built-in ({', '.join(models.BUILTIN_MODELS)}) or a model file"
    return click.option("-m", "--model", default=default, show_default=default is not None, help=help_text)


def _file_options(function: Callable) -> Callable:
    for decorator in reversed(
        [
            click.option("-o", "--output", type=click.Path(dir_okay=False), help="write to this file"),
            click.option("-c", "--stdout", "to_stdout", is_flag=True, help="write to standard output"),
            click.option("-k", "--keep", is_flag=True, help="keep input files (the default)"),
            click.option("--rm", "remove", is_flag=True, help="remove input files after a verified write"),
            click.option("-f", "--force", is_flag=True, help="overwrite existing output files"),
            click.option("-q", "--quiet", is_flag=True, help="print nothing but errors"),
            click.option("-v", "--verbose", is_flag=True, help="print sizes, bits/byte and NLL per file"),
            click.argument("files", nargs=-1, type=click.Path(allow_dash=True)),
        ]
    ):
        function = decorator(function)
    return function


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name=PROGRAM)
def main() -> None:
    """Lossless compression with learned, exactly reproducible probabilities."""


def _resolve_model_option(ctx: click.Context, model: str | None) -> api.ModelSpec | None:
    """Built-in names stay names (they are built per input's alphabet); files load once."""
    if model is None or model in models.BUILTIN_MODELS:
        return model
    try:
        return api.load_model(model)
    except (DeepCompressError, ValueError) as error:
        _report(model, str(error))
        ctx.exit(1)


def _input_layout(source: BinaryIO, data_kind: str, model: api.ModelSpec | None = None) -> tuple[BinaryIO, Layout | None]:
    """What to code: raw bytes, or an integer .npy array (auto: when the input is one).

    With a model file (a loaded model) an array's alphabet is the model's, 0..K-1, as in
    `api.compress_array`; values outside it are refused.
    """
    source, layout = _data_layout(source, data_kind)
    if layout is None or model is None or isinstance(model, str):
        return source, layout
    low, high = layout.offset, layout.offset + layout.alphabet_size - 1
    if math.prod(layout.shape) and (low < 0 or high >= model.alphabet_size):
        raise ValueError(f"array values [{low}, {high}] lie outside the model's alphabet [0, {model.alphabet_size})")
    return source, dataclasses.replace(layout, offset=0, alphabet_size=model.alphabet_size)


def _data_layout(source: BinaryIO, data_kind: str) -> tuple[BinaryIO, Layout | None]:
    if data_kind == "bytes":
        return source, None
    if data_kind == "npy" and not source.seekable():
        source = io.BytesIO(source.read())
    if source.seekable() and symbols.is_npy(source):
        start = source.tell()
        try:
            return source, symbols.read_npy_layout(source)
        except ValueError:
            if data_kind == "npy":
                raise
            source.seek(start)  # a non-integer array: auto mode codes it as bytes
    elif data_kind == "npy":
        raise ValueError("not a .npy file")
    return source, None


@main.command(name="compress")
@_model_option(None)
@click.option("--coder", type=click.Choice(coding.CODERS), default=api.DEFAULT_CODER, show_default=True)
@click.option(
    "--as", "data_kind", type=click.Choice(["auto", "bytes", "npy"]), default="auto", show_default=True,
    help="code bytes, or the elements of an integer .npy array (auto: arrays when the input is one)",
)
@_file_options
@click.pass_context
def compress_command(ctx, model, coder, data_kind, output, to_stdout, keep, remove, force, quiet, verbose, files) -> None:
    """Compress FILES (FILE -> FILE.dcz; none or - : stdin -> stdout).

    The default model is `adaptive` (histogram-adaptive for arrays of more than 256 values).
    """
    if keep and remove:
        raise click.UsageError("-k/--keep and --rm contradict each other")
    resolved = _resolve_model_option(ctx, model)

    def run(source: BinaryIO, sink: BinaryIO) -> api.Stats:
        source, layout = _input_layout(source, data_kind, resolved)
        default = api.default_model(layout.alphabet_size if layout is not None else 256)
        return api.compress_stream(source, sink, resolved or default, coder, layout=layout)

    def verify(target: str) -> None:
        with open(target, "rb") as compressed:
            api.decompress_stream(compressed, None, resolved if not isinstance(resolved, str) else None)

    job = FileJob(run, lambda path: path + SUFFIX, verify, True, output, to_stdout, force, remove, quiet, verbose)
    ctx.exit(_process(job, files))


def _decompressed_name(path: str) -> str:
    if not path.endswith(SUFFIX) or len(path) == len(SUFFIX):
        raise Failure(f"unknown suffix (expected {SUFFIX}); use -o or -c")
    return path[: -len(SUFFIX)]


@main.command(name="decompress")
@_model_option(None)
@_file_options
@click.pass_context
def decompress_command(ctx, model, output, to_stdout, keep, remove, force, quiet, verbose, files) -> None:
    """Decompress FILES (FILE.dcz -> FILE; none or - : stdin -> stdout)."""
    if keep and remove:
        raise click.UsageError("-k/--keep and --rm contradict each other")

    def run(source: BinaryIO, sink: BinaryIO) -> api.Stats:
        return api.decompress_stream(source, sink, model)

    def verify(target: str) -> None:
        """Nothing left to do: every checksum passed before the output was renamed into place."""

    job = FileJob(run, _decompressed_name, verify, False, output, to_stdout, force, remove, quiet, verbose)
    ctx.exit(_process(job, files))


main.add_command(compress_command, name="encode")
main.add_command(decompress_command, name="decode")


@main.command(name="test")
@_model_option(None)
@click.option("-q", "--quiet", is_flag=True, help="print nothing but errors")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def test_command(ctx, model, quiet, files) -> None:
    """Decode FILES and verify every checksum; write nothing."""
    status = 0
    for path in files:
        try:
            with _open_input(path) as source:
                stats = api.decompress_stream(source, None, model)
        except (DeepCompressError, OSError, ValueError) as error:
            _report(_display(path), _reason(error))
            status = 1
        else:
            if not quiet:
                click.echo(f"{_display(path)}: OK ({stats.original_bytes} bytes)")
    ctx.exit(status)


@contextlib.contextmanager
def _open_input(path: str) -> Iterator[BinaryIO]:
    if path == "-":
        yield sys.stdin.buffer
    else:
        with open(path, "rb") as source:
            yield source


@main.command(name="info")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def info_command(ctx, as_json, files) -> None:
    """Show header, sizes and stored NLL of .dcz FILES without decoding them."""
    status = 0
    for path in files:
        try:
            with _open_input(path) as source:
                info = api.read_info(source)
        except (DeepCompressError, OSError, ValueError) as error:
            _report(_display(path), _reason(error))
            status = 1
            continue
        record = _info_record(path, info)
        if as_json:
            click.echo(json.dumps(record))
        else:
            click.echo("\n".join(f"{key:>18}: {_printable(value)}" for key, value in record.items()))
    ctx.exit(status)


def _printable(value: object) -> str:
    """A header value for the terminal: strings from a (possibly forged) file are escaped."""
    text = str(value)
    return text if text.isprintable() else ascii(text)


def _info_record(path: str, info: api.StreamInfo) -> dict:
    stats = info.stats
    record = {
        "file": _display(path),
        "format_version": info.header.version,
        "members": len(info.members),  # sizes below are totals over members; header fields the first's
        "model": info.header.model,
        "config": info.header.config,
        "fingerprint": info.header.fingerprint,
        "coder": info.header.coder,
        "kind": info.header.kind,
        "original_bytes": stats.original_bytes,
        "compressed_bytes": stats.compressed_bytes,
        "n_symbols": stats.n_symbols,
        "n_blocks": info.n_blocks,
        "block_size": info.header.block_size,
        "lanes": list(info.lanes),
        "payload_bits": stats.payload_bits,
        "nll_bits": stats.nll_bits,
        "header_bytes": stats.header_bytes,
        "bits_per_byte": stats.bits_per_byte,
    }
    if info.hyperparameters is not None:
        record["hyperparameters"] = info.hyperparameters
    if info.layout.kind == "npy":
        layout = info.layout
        record |= {"dtype": layout.dtype, "shape": list(layout.shape), "fortran_order": layout.fortran_order,
                   "offset": layout.offset, "alphabet_size": layout.alphabet_size}
    return record


@main.command(name="nll")
@_model_option(None)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def nll_command(ctx, model, as_json, files) -> None:
    """The model's exact code length (negative log-likelihood) of FILES, in bits.

    Integer .npy arrays are measured per element (bits per dimension) and per record
    (a row of a 2-D array).
    """
    resolved = _resolve_model_option(ctx, model)
    status = 0
    for path in files:
        try:
            record = _nll_record(path, resolved)
        except (DeepCompressError, OSError, ValueError) as error:
            _report(_display(path), _reason(error))
            status = 1
            continue
        if as_json:
            click.echo(json.dumps(record))
        else:
            per_record = f", {record['bits_per_record']:.2f} bits/record" if "bits_per_record" in record else ""
            click.echo(
                f"{record['file']}: {record['n_symbols']} symbols, NLL {record['nll_bits']:.1f} bits "
                f"({record['bits_per_symbol']:.4f} bits/symbol{per_record})"
            )
    ctx.exit(status)


def _coded_data(data: bytes) -> bytes | np.ndarray:
    """What a measuring command codes: an integer .npy file's array, else the bytes."""
    if data.startswith(symbols.NPY_MAGIC):
        array = np.load(io.BytesIO(data), allow_pickle=False)
        if array.dtype.kind in "iu":
            return array
    return data


def _nll_record(path: str, model: api.ModelSpec | None) -> dict:
    """NLL of a file or stdin, block by block (bounded memory); per record for .npy arrays."""
    with _open_input(path) as source:
        source, layout = _input_layout(source, "auto", model)
        n_symbols, nll_bits = api.nll_stream(source, model, layout=layout)
    record = {
        "file": _display(path),
        "n_symbols": n_symbols,
        "nll_bits": nll_bits,
        "bits_per_symbol": nll_bits / n_symbols if n_symbols else 0.0,
    }
    if layout is not None:
        n_records = layout.shape[0] if layout.shape else 1
        record |= {"bits_per_dimension": record["bits_per_symbol"], "n_records": n_records,
                   "bits_per_record": nll_bits / n_records if n_records else 0.0}
    return record


@main.command(name="bench")
@click.option("-m", "--model", "model_names", multiple=True, default=(api.DEFAULT_MODEL,), show_default=True, help="model to measure (repeatable)")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True, help="timed runs per file (median reported)")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="also write the rows as JSON here")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False), help="also write the table here")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def bench_command(ctx, model_names, repeat, json_path, markdown_path, files) -> None:
    """Measure models on FILES: NLL, real size, overhead, speed, vs gzip/bzip2/xz."""
    from pathlib import Path

    from deepcompress import bench

    try:
        resolved = [api.load_model(name) for name in model_names]
    except (DeepCompressError, ValueError) as error:
        _report("bench", str(error))
        ctx.exit(1)
    rows, status = [], 0
    for model in resolved:
        for path in files:
            try:
                rows.append(bench.measure(Path(path), model, repeat))
            except (DeepCompressError, OSError, ValueError) as error:
                _report(path, _reason(error))
                status = 1
                continue
            click.echo(f"{path}: {model.name} {rows[-1].bits_per_byte:.3f} bits/byte", err=True)
    table = bench.markdown_table(rows)
    click.echo(table)
    try:
        if json_path:
            Path(json_path).write_text(json.dumps(bench.as_dicts(rows), indent=1) + "\n")
        if markdown_path:
            Path(markdown_path).write_text(table)
    except OSError as error:
        _report(json_path or markdown_path, _reason(error))
        status = 1
    ctx.exit(status)


# --- surprisal (issue 7) ---


@main.command(name="surprisal")
@_model_option(None)
@click.option(
    "--segment", "segment_length", type=click.IntRange(min=1), default=None,
    help="segment length in symbols  [default: 1024 for bytes, one record (row) for a 2-D .npy array]",
)
@click.option("--top", "top", type=click.IntRange(min=1), default=5, show_default=True, help="how many segments to list")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="write a PNG of bits/byte along the file (needs matplotlib)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per segment, one per line")
@click.option("--out", "bits_path", type=click.Path(dir_okay=False), help="save the per-byte bits here as float64 .npy")
@click.argument("file", type=click.Path(allow_dash=True))
@click.pass_context
def surprisal_command(ctx, model, segment_length, top, plot_path, as_json, bits_path, file) -> None:
    """List the segments of FILE on which the model spends the most bits.

    An integer .npy file is measured per element, and by default per record (row).
    """
    from deepcompress import surprisal

    try:
        if plot_path is not None:
            surprisal.check_plotting()  # before the work, not after it
        with _open_input(file) as source:
            data = source.read()
        coded = _coded_data(data)
        if len(coded) == 0:
            raise Failure("empty input")
        if segment_length is None:
            is_table = isinstance(coded, np.ndarray) and coded.ndim == 2 and not np.isfortran(coded)
            segment_length = coded.shape[1] if is_table else 1024
        bits = api.symbol_bits(coded, _resolve_model_option(ctx, model))
        segments = surprisal.top_segments(bits, segment_length, top)
        if bits_path is not None:
            with open(bits_path, "wb") as sink:  # np.save(path) would append ".npy"
                np.save(sink, bits)
        if plot_path is not None:
            unit = "element" if isinstance(coded, np.ndarray) else "byte"
            title = f"{os.path.basename(_display(file))}: bits per {unit} under {model or 'the default model'}"
            references = surprisal.baseline_bits_per_byte(data) if unit == "byte" else {}
            surprisal.plot_surprisal(bits, plot_path, segment_length, segments, references, title, unit=unit)
    except (Failure, DeepCompressError, ImportError, OSError, ValueError) as error:
        _report(_display(file), _reason(error))
        ctx.exit(1)
    if as_json:
        for segment in segments:
            click.echo(json.dumps(segment.as_dict()))
        return
    click.echo(f"{_display(file)}: {len(bits)} symbols, mean {bits.mean():.4f} bits/symbol under {model or 'the default model'}")
    click.echo(f"{'offset':>12} {'length':>8} {'bits':>12} {'bits/symbol':>12}")
    for segment in segments:
        click.echo(f"{segment.offset:>12} {segment.length:>8} {segment.bits:>12.1f} {segment.bits_per_symbol:>12.4f}")


# --- training and sampling ---


def _read_training_data(paths: tuple[str, ...]) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Each DATA file read once: (its bytes as int64 symbols, and its integer arrays when
    every file is an integer .npy file, else None)."""
    streams, arrays = [], []
    for path in paths:
        with _open_input(path) as source:
            data = source.read()
        streams.append(np.frombuffer(data, dtype=np.uint8).astype(np.int64))
        coded = _coded_data(data)
        arrays.append(coded if isinstance(coded, np.ndarray) else None)
    return streams, (arrays if all(array is not None for array in arrays) else None)


def _check_matplotlib() -> None:
    """Fail before the work, not after it, when a plot is asked for and cannot be drawn."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise Failure("--plot needs matplotlib: pip install 'deepcompress[plot]'") from None


def _array_alphabet(arrays: list[np.ndarray], alphabet: int | None) -> int:
    """K of a model of `arrays`: values 0..K-1 (default: the largest value + 1)."""
    low = min((int(a.min()) for a in arrays if a.size), default=0)
    high = max((int(a.max()) for a in arrays if a.size), default=0)
    if low < 0:
        raise Failure(f"training arrays hold negative values (down to {low}); array models code values 0..K-1")
    if alphabet is not None and high >= alphabet:
        raise Failure(f"training arrays hold values up to {high}, outside --alphabet {alphabet}")
    return alphabet if alphabet is not None else high + 1


def _parse_widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(width) for width in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None
    if not widths or not all(1 <= width <= 518 for width in widths):
        raise click.BadParameter(f"hidden widths must lie in [1, 518] (the exactness bound), got {text!r}")
    return widths


# per-model defaults of the train options left unset: mlp (bytes), record-mlp (integer arrays)
_TRAIN_DEFAULTS = {"mlp": {"hidden": "512", "embed_dim": 32, "epochs": 2, "batch_size": 1024},
                   "histogram": {"hidden": "512", "embed_dim": 32, "epochs": 1, "batch_size": 1024},
                   "record-mlp": {"hidden": "256,128", "embed_dim": 4, "epochs": 20, "batch_size": 256}}


def _parse_orders(text: str) -> tuple[int, ...]:
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        return tuple(int(order) for order in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers or 'none', got {text!r}") from None


@main.command(name="train")
@click.option("--model", "kind", type=click.Choice(["mlp", "histogram", "record-mlp"]), default="mlp", show_default=True,
              help="mlp: bytes; record-mlp: integer .npy arrays of records (rows); histogram: either")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="model file to write (.dcm)")
@click.option("--context", "context_size", type=click.IntRange(0, 64), default=16, show_default=True, help="previous symbols the MLP sees")
@click.option("--hidden", help="hidden widths, comma-separated (exactness bound: 518)  [default: 512; record-mlp: 256,128]")
@click.option("--embed", "embed_dim", type=click.IntRange(1, 256), help="embedding width per input  [default: 32; record-mlp: 4]")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True, help="record-mlp: training dropout")
@click.option("--alphabet", type=click.IntRange(1, 1 << 16), help="arrays: model values 0..K-1  [default: largest training value + 1]")
@click.option("--followers", default="2,3,4,6,8,12", show_default=True, help="context orders of the adaptive follower inputs, or 'none'")
@click.option("--epochs", type=click.IntRange(1), help="[default: 2; record-mlp: 20]")
@click.option("--batch-size", type=click.IntRange(1), help="[default: 1024; record-mlp: 256]")
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=3e-3, show_default=True)
@click.option("--validation", "validation_fraction", type=click.FloatRange(0, 0.5), default=0.05, show_default=True, help="held-out tail of each file")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="torch CPU threads")
@click.option("--device", default="cpu", show_default=True, help="torch device for training, e.g. cuda (coding stays exact on CPU)")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="write the training log as JSON here")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="write the learning curve PNG here (needs matplotlib)")
@click.option("-f", "--force", is_flag=True, help="overwrite an existing model file")
@click.option("-q", "--quiet", is_flag=True, help="print nothing but errors")
@click.argument("data", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def train_command(ctx, kind, output, context_size, hidden, embed_dim, dropout, alphabet, followers, epochs, batch_size,
                  learning_rate, validation_fraction, seed, threads, device, log_path, plot_path, force, quiet, data) -> None:
    """Fit a model to DATA files by maximum likelihood and save it as a model file.

    Integer .npy arrays: `--model record-mlp` models each row (record) of an (N, d) array
    autoregressively over its d dimensions; `--model histogram` fits an order-0 histogram
    over values 0..K-1.
    """
    from deepcompress import modelfile, train

    defaults = _TRAIN_DEFAULTS[kind]
    hidden = _parse_widths(hidden if hidden is not None else defaults["hidden"])
    embed_dim = embed_dim if embed_dim is not None else defaults["embed_dim"]
    epochs = epochs if epochs is not None else defaults["epochs"]
    batch_size = batch_size if batch_size is not None else defaults["batch_size"]

    config = train.TrainConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                               validation_fraction=validation_fraction, seed=seed, threads=threads, device=device)

    def report(progress: train.Progress) -> None:
        if not quiet:
            click.echo(f"epoch {progress.epoch:5.2f}: train {progress.train_bits:.4f}, validation "
                       f"{progress.validation_bits:.4f} bits/symbol ({progress.seconds:.0f} s)", err=True)

    try:
        if plot_path:
            _check_matplotlib()
        streams, arrays = _read_training_data(data)  # the byte MLP uses the streams, even of .npy files
        if kind == "record-mlp":
            fitted = _fit_record_mlp(arrays, hidden, embed_dim, dropout, alphabet, config, report)
        elif kind == "histogram" and arrays is not None:
            fitted = train.fit_histogram(record_streams(arrays), _array_alphabet(arrays, alphabet), config)
        elif kind == "histogram":
            fitted = train.fit_histogram(streams, 256, config)
        else:
            from deepcompress.models.mlp import MLPConfig

            mlp_config = MLPConfig(alphabet_size=256, context_size=context_size, embed_dim=embed_dim,
                                   hidden=hidden, follower_orders=_parse_orders(followers))
            fitted = train.fit_mlp(streams, mlp_config, config, report)
        metadata = {"training": {**fitted.result.to_json(), "integer_validation_bits": fitted.integer_validation_bits,
                                 "files": [os.path.basename(path) for path in data]}}
        with _atomic_output(output, force, None) as sink:
            sink.write(modelfile.model_to_bytes(fitted.model, metadata))
        if log_path:
            train.write_log(fitted.result, config, log_path, metadata["training"])
        if plot_path:
            train.plot_learning_curve(fitted.result, plot_path)
    except (Failure, DeepCompressError, OSError, ValueError) as error:
        _report(output, _reason(error))
        ctx.exit(1)
    if not quiet:
        click.echo(
            f"{output}: {fitted.model.name} model {fitted.model.fingerprint()[:16]}; validation "
            f"{fitted.result.best_validation_bits:.4f} bits/symbol (float), "
            f"{fitted.integer_validation_bits:.4f} (exact integer)",
            err=True,
        )


def _fit_record_mlp(arrays, hidden, embed_dim, dropout, alphabet, config, report):
    from deepcompress.models.records import RecordConfig
    from deepcompress.train import fit_record_mlp

    if arrays is None:
        raise Failure("--model record-mlp trains on integer .npy arrays only")
    sizes = {record_size_of(array) for array in arrays}
    if len(sizes) != 1:
        raise Failure(f"training arrays have different record sizes {sorted(sizes)} (elements per row)")
    record_config = RecordConfig(max(_array_alphabet(arrays, alphabet), 2), sizes.pop(), hidden, embed_dim)
    return fit_record_mlp(record_streams(arrays), record_config, config, report, dropout)


@main.command(name="sample")
@click.option("-m", "--model", required=True, help="a trained model file (.dcm)")
@click.option("-n", "n_symbols", type=click.IntRange(0), required=True, help="how many symbols (record-mlp: records) to generate")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-", help="file to write (default: stdout)")
@click.option("-f", "--force", is_flag=True, help="overwrite an existing file")
@click.pass_context
def sample_command(ctx, model, n_symbols, seed, output, force) -> None:
    """Draw N symbols from a model by ancestral sampling (inverse CDF of its exact tables).

    A record model draws N records and writes them as an (N, d) .npy array.
    """
    try:
        resolved = api.load_model(model)
        if resolved.record_size is not None:
            buffer = io.BytesIO()
            np.save(buffer, resolved.sample(n_symbols, seed).astype(np.min_scalar_type(resolved.alphabet_size - 1)))
            data = buffer.getvalue()
        elif resolved.alphabet_size > 256:
            raise Failure("only byte and record models can be sampled to a file")
        else:
            data = np.asarray(resolved.sample(n_symbols, seed)).astype(np.uint8).tobytes()
        if output == "-":
            sys.stdout.buffer.write(data)
        else:
            with _atomic_output(output, force, None) as sink:
                sink.write(data)
    except (Failure, DeepCompressError, OSError, ValueError) as error:
        _report(model, _reason(error))
        ctx.exit(1)
