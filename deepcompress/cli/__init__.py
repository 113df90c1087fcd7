"""The `deepcompress` command, with gzip/zstd conventions. The only module that prints or exits.

Errors are one line on stderr, `deepcompress: NAME: reason` (NAME: the operand at fault,
escaped and bounded); exit status 0 on success, 1 if any operand failed, 2 for usage
errors, 128 + N when stopped by signal N (SIGINT, SIGTERM, SIGHUP: temporary files are
removed first). Only regular files are compressed to a named output or removed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import BinaryIO

import click

from deepcompress import __version__, api, fileio
from deepcompress.errors import DeepCompressError

SUFFIX = ".dcz"
PROGRAM = "deepcompress"
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
NAME_LIMIT, REASON_LIMIT = 200, 400  # characters of an error line's parts


class Stopped(BaseException):
    """Stop signal args[0] arrived: unwinds like KeyboardInterrupt, so temporary files are removed."""


ERRORS = (fileio.OperandError, DeepCompressError, OSError, ValueError, ImportError, MemoryError)


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


# --- messages -------------------------------------------------------------------------------------


def _escape(text: str, limit: int | None = None) -> str:
    """`text` with non-printable characters escaped, cut to `limit` characters."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def _report(name: str, reason: str) -> None:
    click.echo(f"{PROGRAM}: {_escape(name, NAME_LIMIT)}: {_escape(reason, REASON_LIMIT)}", err=True)


def _say(text: str) -> None:
    """A line on standard output; a closed pipe ends the run quietly."""
    if sys.stdout is None:  # started with fd 1 closed: click would drop the text silently
        raise fileio.OperandError("standard output is closed", fileio.STDOUT)
    try:
        click.echo(text)
    except BrokenPipeError:
        raise fileio.StdoutClosed from None


def _display(path: str) -> str:
    return "(stdin)" if path == "-" else path


def _reason(error: BaseException) -> str:
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
    return _display(operand)


def _each(operands: Iterable[str], handle: Callable[[str], object]) -> int:
    """THE per-operand loop: `handle` each one, report a failure in one line and go on. Exit status."""
    status = 0
    for operand in operands:
        try:
            handle(operand)
        except ERRORS as error:
            _report(_at_fault(operand, error), _reason(error))
            status = 1
    return status


# --- compress and decompress: one job per direction, run on each operand ----------------------------


@dataclass(frozen=True)
class FileJob:
    """What compress/decompress do to each operand. run: source -> sink; output_name: FILE -> its
    output; verify: re-checks an output before --rm; compressed_input: refuse a terminal as input;
    binary_output: what the output is, if it must not go to a terminal. (A zstd-style top-level
    `-d/-z/-t/-l` picks `_compress_job`, `_decompress_job`, `_test` or `_info` as the handler of
    `_each`; `-#` goes to `_compress_job` like `--coder`; `-r` expands the operands first.)"""

    run: Callable[[BinaryIO, BinaryIO], api.Stats]
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

    def __call__(self, path: str) -> None:
        stats = self._transform(path)
        if self.verbose and not self.quiet:
            click.echo(f"{_escape(_display(path))}: {stats.original_bytes} -> {stats.compressed_bytes} bytes "
                       f"({stats.bits_per_byte:.3f} bits/byte; NLL {stats.nll_bits_per_byte:.3f} bits/byte; "
                       f"overhead {100 * stats.overhead:.3f}%)", err=True)

    def _transform(self, path: str) -> api.Stats:
        to_stdout = self.to_stdout or (path == "-" and self.output is None)
        # Named outputs need a regular input (and --rm may remove it); -c reads anything, as gzip does.
        with fileio.open_operand(path, self.compressed_input, regular=not to_stdout, follow=self.force or to_stdout) as opened:
            if to_stdout:
                with fileio.output("-", self.force, self.binary_output) as sink:
                    return self.run(opened.source, sink)
            links = opened.entry.st_nlink - 1 if opened.entry is not None else 0
            if self.remove and links and not self.force:  # as gzip: removing one name would not free the data
                raise fileio.OperandError(f"has {links} other link{'s' if links > 1 else ''}; use -f to remove this one")
            target = self.output if self.output is not None else self.output_name(path)
            if path != "-" and fileio.same_file(path, target):
                raise fileio.OperandError("input and output are the same file")
            mode = os.fstat(opened.source.fileno()).st_mode & 0o777 if opened.entry is not None else None
            with fileio.output(target, self.force, self.binary_output, mode) as sink:
                stats = self.run(opened.source, sink)
            if self.remove and opened.entry is not None:
                self.verify(target)
                fileio.remove_operand(path, opened)
        return stats


def _file_operands(operands: tuple[str, ...], keep: bool, options: dict) -> tuple[str, ...]:
    """The operands of compress/decompress (none: stdin) once their common options are checked (-o - is -c)."""
    if keep and options["remove"]:
        raise click.UsageError("-k/--keep and --rm contradict each other")
    if options["output"] is not None and len(operands) > 1:
        raise click.UsageError("-o/--output takes a single input")
    if options["output"] == "-":
        options |= {"output": None, "to_stdout": True}
    return operands or ("-",)


def _compress_job(model: api.ModelSpec | None, coder: str, data_kind: str, **options) -> FileJob:
    def verify(target: str) -> None:
        with open(target, "rb") as compressed:
            api.decompress_stream(compressed, None, model if not isinstance(model, str) else None)

    return FileJob(lambda source, sink: api.compress_input(source, sink, model, coder, data_kind),
                   lambda path: path + SUFFIX, verify, False, "compressed data", **options)


def _decompress_job(model: api.ModelSpec | None, **options) -> FileJob:
    # verify: nothing left to do, every checksum passed before the output was renamed into place
    return FileJob(lambda source, sink: api.decompress_stream(source, sink, model), _decompressed_name,
                   lambda target: None, True, None, **options)


def _decompressed_name(path: str) -> str:
    if not path.endswith(SUFFIX) or len(os.path.basename(path)) == len(SUFFIX):
        raise fileio.OperandError(f"unknown suffix (expected {SUFFIX}); use -o or -c")
    return path[: -len(SUFFIX)]


def _test(path: str, model: api.ModelSpec | None, quiet: bool) -> None:
    with fileio.open_operand(path, compressed=True) as opened:
        stats = api.decompress_stream(opened.source, None, model)
    if not quiet:
        _say(f"{_escape(_display(path))}: OK ({stats.original_bytes} bytes)")


def _info(path: str, as_json: bool) -> None:
    with fileio.open_operand(path, compressed=True) as opened:
        record = {"file": _display(path), **api.info_record(api.read_info(opened.source))}
    # strings from a (possibly forged) file are escaped
    _say(json.dumps(record) if as_json else "\n".join(f"{k:>18}: {_escape(str(v))}" for k, v in record.items()))


def _model_option(function: Callable) -> Callable:
    names = ", ".join(api.builtin_model_names())
    return click.option("-m", "--model", help=f"model: a built-in ({names}) or a model file")(function)


def _file_options(function: Callable) -> Callable:
    for decorator in reversed([
        click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), help="write to this file (- : stdout)"),
        click.option("-c", "--stdout", "to_stdout", is_flag=True, help="write to standard output"),
        click.option("-k", "--keep", is_flag=True, help="keep input files (the default)"),
        click.option("--rm", "remove", is_flag=True, help="remove input files after a verified write"),
        click.option("-f", "--force", is_flag=True, help="overwrite existing output files; follow symbolic links"),
        click.option("-q", "--quiet", is_flag=True, help="print nothing but errors"),
        click.option("-v", "--verbose", is_flag=True, help="print sizes, bits/byte and NLL per file"),
        click.argument("operands", nargs=-1, type=click.Path(allow_dash=True), metavar="[FILES]..."),
    ]):
        function = decorator(function)
    return function


def _resolved_model(ctx: click.Context, model: str | None, resolve=api.resolve_model) -> api.ModelSpec | None:
    """-m as the commands use it (by default built-in names stay names, a model file is loaded once)."""
    try:
        return resolve(model)
    except ERRORS as error:
        _report(model, _reason(error))
        ctx.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name=PROGRAM)
def main() -> None:
    """Lossless compression with learned, exactly reproducible probabilities."""


@main.command(name="compress")
@_model_option
@click.option("--coder", type=click.Choice(api.CODERS), default=api.DEFAULT_CODER, show_default=True)
@click.option("--as", "data_kind", type=click.Choice(api.INPUT_KINDS), default="auto", show_default=True,
              help="code bytes, or the elements of an integer .npy array (auto: arrays when the input is one)")
@_file_options
@click.pass_context
def compress_command(ctx, model, coder, data_kind, operands, keep, **options) -> None:
    """Compress FILES (FILE -> FILE.dcz; none or - : stdin -> stdout).

    The default model is `adaptive` (histogram-adaptive for arrays of more than 256 values).
    """
    operands = _file_operands(operands, keep, options)
    ctx.exit(_each(operands, _compress_job(_resolved_model(ctx, model), coder, data_kind, **options)))


@main.command(name="decompress")
@_model_option
@_file_options
@click.pass_context
def decompress_command(ctx, model, operands, keep, **options) -> None:
    """Decompress FILES (FILE.dcz -> FILE; none or - : stdin -> stdout)."""
    operands = _file_operands(operands, keep, options)
    ctx.exit(_each(operands, _decompress_job(_resolved_model(ctx, model), **options)))


main.add_command(compress_command, name="encode")
main.add_command(decompress_command, name="decode")


# --- commands that read operands and print --------------------------------------------------------


@main.command(name="test")
@_model_option
@click.option("-q", "--quiet", is_flag=True, help="print nothing but errors")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def test_command(ctx, model, quiet, files) -> None:
    """Decode FILES and verify every checksum; write nothing."""
    ctx.exit(_each(files, functools.partial(_test, model=_resolved_model(ctx, model), quiet=quiet)))


@main.command(name="info")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def info_command(ctx, as_json, files) -> None:
    """Show header, sizes and stored NLL of .dcz FILES without decoding them."""
    ctx.exit(_each(files, functools.partial(_info, as_json=as_json)))


@main.command(name="nll")
@_model_option
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def nll_command(ctx, model, as_json, files) -> None:
    """The model's exact code length (negative log-likelihood) of FILES, in bits.

    Integer .npy arrays are measured per element (bits per dimension) and per record
    (a row of a 2-D array).
    """
    resolved = _resolved_model(ctx, model)

    def nll(path: str) -> None:
        with fileio.open_operand(path, compressed=False) as opened:
            record = {"file": _display(path), **api.nll_record(opened.source, resolved)}
        if as_json:
            return _say(json.dumps(record))
        per_record = f", {record['bits_per_record']:.2f} bits/record" if "bits_per_record" in record else ""
        _say(f"{_escape(record['file'])}: {record['n_symbols']} symbols, NLL {record['nll_bits']:.1f} bits "
             f"({record['bits_per_symbol']:.4f} bits/symbol{per_record})")

    ctx.exit(_each(files, nll))


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

    resolved = [_resolved_model(ctx, name, api.load_model) for name in model_names]
    rows = []

    def measure(model: api.ModelSpec, path: str) -> None:
        rows.append(bench.measure(Path(path), model, repeat))
        click.echo(f"{_escape(path)}: {rows[-1].model} {rows[-1].bits_per_byte:.3f} bits/byte", err=True)

    status = max((_each(files, lambda path, model=model: measure(model, path)) for model in resolved), default=0)
    table = bench.markdown_table(rows)
    _say(table)

    def save(path: str) -> None:
        with fileio.output(path, True, None) as sink:
            sink.write((json.dumps(bench.as_dicts(rows), indent=1) + "\n" if path == json_path else table).encode())

    ctx.exit(max(status, _each([path for path in (json_path, markdown_path) if path], save)))


@main.command(name="surprisal")
@_model_option
@click.option("--segment", "segment_length", type=click.IntRange(min=1), default=None,
              help="segment length in symbols  [default: 1024 for bytes, one record (row) for a 2-D .npy array]")
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

    under = model or "the default model"

    def measure(path: str) -> None:
        if plot_path is not None:
            surprisal.check_plotting()  # before the work, not after it
        with fileio.open_operand(path, compressed=False) as opened:
            data, array = api.load_input(opened.source)
        coded = data if array is None else array
        if len(coded) == 0:
            raise fileio.OperandError("empty input")
        length = segment_length or surprisal.default_segment_length(coded)
        bits = api.symbol_bits(coded, _resolved_model(ctx, model))
        segments = surprisal.top_segments(bits, length, top)
        if bits_path is not None:
            with fileio.output(bits_path, True, "per-symbol bits") as sink:
                surprisal.write_bits(bits, sink)
        if plot_path is not None:
            unit = "byte" if array is None else "element"
            title = f"{os.path.basename(_display(path))}: bits per {unit} under {under}"
            references = surprisal.baseline_bits_per_byte(data) if array is None else {}
            surprisal.plot_surprisal(bits, plot_path, length, segments, references, title, unit=unit)
        if as_json:
            return _say("\n".join(json.dumps(segment.as_dict()) for segment in segments))
        _say(f"{_escape(_display(path))}: {len(bits)} symbols, mean {bits.mean():.4f} bits/symbol under {under}")
        _say(f"{'offset':>12} {'length':>8} {'bits':>12} {'bits/symbol':>12}")
        for segment in segments:
            _say(f"{segment.offset:>12} {segment.length:>8} {segment.bits:>12.1f} {segment.bits_per_symbol:>12.4f}")

    ctx.exit(_each((file,), measure))


# --- training and sampling ------------------------------------------------------------------------


def _integers(ctx: click.Context, parameter: click.Parameter, text: str | None) -> tuple[int, ...] | None:
    """Comma-separated integers ('none' or '': none at all)."""
    if text is None or text.strip().lower() in ("", "none"):
        return None if text is None else ()
    try:
        return tuple(int(item) for item in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None


@main.command(name="train")
@click.option("--model", "kind", type=click.Choice(["mlp", "histogram", "record-mlp"]), default="mlp", show_default=True,
              help="mlp: bytes; record-mlp: integer .npy arrays of records (rows); histogram: either")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True), help="model file to write (.dcm)")
@click.option("--context", "context_size", type=click.IntRange(0, 64), default=16, show_default=True, help="previous symbols the MLP sees")
@click.option("--hidden", callback=_integers, help="hidden widths, comma-separated (exactness bound: 518)  [default: 512; record-mlp: 256,128]")
@click.option("--embed", "embed_dim", type=click.IntRange(1, 256), help="embedding width per input  [default: 32; record-mlp: 4]")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True, help="record-mlp: training dropout")
@click.option("--alphabet", type=click.IntRange(1, 1 << 16), help="arrays: model values 0..K-1  [default: largest training value + 1]")
@click.option("--followers", default="2,3,4,6,8,12", show_default=True, callback=_integers, help="context orders of the adaptive follower inputs, or 'none'")
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
    from deepcompress import train

    options = train.ModelOptions(kind, context_size, hidden, embed_dim, dropout, alphabet, followers)
    config = train.config_for(kind, epochs, batch_size, learning_rate=learning_rate, seed=seed, threads=threads,
                              validation_fraction=validation_fraction, device=device)

    def report(progress: train.Progress) -> None:
        if not quiet:
            click.echo(f"epoch {progress.epoch:5.2f}: train {progress.train_bits:.4f}, validation "
                       f"{progress.validation_bits:.4f} bits/symbol ({progress.seconds:.0f} s)", err=True)

    def read(path: str) -> tuple:
        with fileio.open_operand(path, compressed=False) as opened:
            return api.load_input(opened.source)

    def fit(path: str) -> None:
        if plot_path:
            train.check_plotting()
        fitted = train.fit_files([read(each) for each in data], options, config, report)
        metadata = train.training_metadata(fitted, [os.path.basename(each) for each in data])
        with fileio.output(path, force, "a model file") as sink:
            sink.write(api.model_file_bytes(fitted.model, metadata))
        if log_path:
            train.write_log(fitted.result, config, log_path, metadata["training"])
        if plot_path:
            train.plot_learning_curve(fitted.result, plot_path)
        if not quiet:
            click.echo(f"{_escape(path)}: {fitted.model.name} model {fitted.model.fingerprint()[:16]}; validation "
                       f"{fitted.result.best_validation_bits:.4f} bits/symbol (float), "
                       f"{fitted.integer_validation_bits:.4f} (exact integer)", err=True)

    ctx.exit(_each((output,), fit))


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

    def draw(spec: str) -> None:
        data = api.sample_data(spec, n_symbols, seed)
        with fileio.output(output, force, "samples") as sink:
            sink.write(data)

    ctx.exit(_each((model,), draw))
