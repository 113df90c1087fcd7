"""The commands about models: nll, bench, surprisal, train, sample."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import click

from deepcompress import api, fileio
from deepcompress.cli.common import (
    ERRORS,
    display,
    each,
    escape,
    model_option,
    reason,
    report,
    resolved_model,
    say,
)


@click.command(name="nll")
@model_option
@click.option("--json", "as_json", is_flag=True, help="one JSON object per file, one per line")
@click.argument("files", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def nll_command(ctx, model, as_json, files) -> None:
    """The model's exact code length (negative log-likelihood) of FILES, in bits.

    Integer .npy arrays are measured per element (bits per dimension) and per record
    (a row of a 2-D array).
    """
    resolved = resolved_model(ctx, model)

    def nll(path: str) -> None:
        with fileio.open_operand(path, compressed=False) as opened:
            record = {"file": display(path), **api.nll_record(opened.source, resolved)}
        if as_json:
            return say(json.dumps(record))
        per_record = f", {record['bits_per_record']:.2f} bits/record" if "bits_per_record" in record else ""
        say(f"{escape(record['file'])}: {record['n_symbols']} symbols, NLL {record['nll_bits']:.1f} bits "
             f"({record['bits_per_symbol']:.4f} bits/symbol{per_record})")

    ctx.exit(each(files, nll))


@click.command(name="bench")
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

    resolved = [resolved_model(ctx, name, api.load_model) for name in model_names]
    rows = []

    def measure(model: api.ModelSpec, path: str) -> None:
        rows.append(bench.measure(Path(path), model, repeat))
        click.echo(f"{escape(path)}: {rows[-1].model} {rows[-1].bits_per_byte:.3f} bits/byte", err=True)

    status = max((each(files, lambda path, model=model: measure(model, path)) for model in resolved), default=0)
    table = bench.markdown_table(rows)
    say(table)

    def save(path: str) -> None:
        with fileio.output(path, True, None) as sink:
            sink.write((json.dumps(bench.as_dicts(rows), indent=1) + "\n" if path == json_path else table).encode())

    ctx.exit(max(status, each([path for path in (json_path, markdown_path) if path], save)))


@click.command(name="surprisal")
@model_option
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
        coded = data if array is None else array.reshape(-1) if array.ndim == 0 else array  # a scalar: 1 element
        if len(coded) == 0:
            raise fileio.OperandError("empty input")
        length = segment_length or surprisal.default_segment_length(coded)
        bits = api.symbol_bits(coded, resolved_model(ctx, model))
        segments = surprisal.top_segments(bits, length, top)
        if bits_path is not None:
            with fileio.output(bits_path, True, "per-symbol bits") as sink:
                surprisal.write_bits(bits, sink)
        if plot_path is not None:
            unit = "byte" if array is None else "element"
            title = f"{os.path.basename(display(path))}: bits per {unit} under {under}"
            references = surprisal.baseline_bits_per_byte(data) if array is None else {}
            surprisal.plot_surprisal(bits, plot_path, length, segments, references, title, unit=unit)
        if as_json:
            return say("\n".join(json.dumps(segment.as_dict()) for segment in segments))
        say(f"{escape(display(path))}: {len(bits)} symbols, mean {bits.mean():.4f} bits/symbol under {under}")
        say(f"{'offset':>12} {'length':>8} {'bits':>12} {'bits/symbol':>12}")
        for segment in segments:
            say(f"{segment.offset:>12} {segment.length:>8} {segment.bits:>12.1f} {segment.bits_per_symbol:>12.4f}")

    ctx.exit(each((file,), measure))


# --- training and sampling ------------------------------------------------------------------------


def _integers(ctx: click.Context, parameter: click.Parameter, text: str | None) -> tuple[int, ...] | None:
    """Comma-separated integers ('none' or '': none at all)."""
    if text is None or text.strip().lower() in ("", "none"):
        return None if text is None else ()
    try:
        return tuple(int(item) for item in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None


@click.command(name="train")
@click.option("--model", "kind", type=click.Choice(["mlp", "histogram", "record-mlp", "adaptive", "hybrid"]), default="mlp",
              show_default=True, help="mlp: bytes; record-mlp: integer .npy arrays of records (rows); histogram: either; "
              "adaptive: a prior (trained start state) of the default engine, for many small files; "
              "hybrid: a prior and a byte mlp mixed")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, allow_dash=True), help="model file to write (.dcm)")
@click.option("--context", "context_size", type=click.IntRange(0, 64), help="previous symbols the MLP sees  [default: 16; hybrid: 8]")
@click.option("--hidden", callback=_integers, help="hidden widths, comma-separated (exactness bound: 518)  [default: 512; record-mlp: 256,128; hybrid: 64]")
@click.option("--embed", "embed_dim", type=click.IntRange(1, 256), help="embedding width per input  [default: 32; record-mlp: 4; hybrid: 16]")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), help="training dropout  [default: mlp 0.1; record-mlp 0.2]")
@click.option("--alphabet", type=click.IntRange(1, 1 << 16), help="arrays: model values 0..K-1  [default: largest training value + 1]")
@click.option("--followers", default="2,3,4,6,8,12", show_default=True, callback=_integers, help="context orders of the adaptive follower inputs, or 'none'  [hybrid: none]")
@click.option("--crlf/--no-crlf", default=True, show_default=True,
              help="mlp: every second piece of LF-only text trains with CRLF line ends, so Windows text is no surprise")
@click.option("--epochs", type=click.IntRange(1), help="[default: 2; record-mlp: 20]")
@click.option("--batch-size", type=click.IntRange(1), help="[default: 1024; record-mlp: 256]")
@click.option("--lr", "learning_rate", type=click.FloatRange(min=0, min_open=True), default=3e-3, show_default=True)
@click.option("--validation", "validation_fraction", type=click.FloatRange(0, 0.5), default=0.05, show_default=True, help="held-out tail of each file")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True, help="torch CPU threads")
@click.option("--device", default="cpu", show_default=True, help="torch device for training, e.g. cuda (coding stays exact on CPU)")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help="write the training log as JSON here")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="write the learning curve PNG here (needs matplotlib)")
@click.option("--level", type=click.IntRange(1, 9), default=5, show_default=True, help="adaptive, hybrid: the level whose engine the prior starts")
@click.option("--size", "size_budget", type=click.IntRange(min=4096),
              help="adaptive, hybrid: the model file's size limit in bytes  [default: 112000; hybrid: 1000000]")
@click.option("--prime", "prime_bytes", type=click.IntRange(min=0),
              help="adaptive, hybrid (default level): bytes of the history's end the engine runs over when the prior "
                   "loads, so that its longer contexts start warm; costs ~2.5 s per MiB once (then kept in "
                   "~/.cache/deepcompress/primed; DEEPCOMPRESS_PRIMED_CACHE=off: once per process); 0: none  "
                   "[default: 524288]")
@click.option("-f", "--force", is_flag=True, help="overwrite an existing model file")
@click.option("-q", "--quiet", is_flag=True, help="print nothing but errors")
@click.argument("data", nargs=-1, required=True, type=click.Path(allow_dash=True))
@click.pass_context
def train_command(ctx, kind, output, context_size, hidden, embed_dim, dropout, alphabet, followers, crlf, epochs, batch_size,
                  learning_rate, validation_fraction, seed, threads, device, log_path, plot_path, level, size_budget,
                  prime_bytes, force, quiet, data) -> None:
    """Fit a model to DATA files by maximum likelihood and save it as a model file.

    Integer .npy arrays: `--model record-mlp` models each row (record) of an (N, d) array
    autoregressively over its d dimensions; `--model histogram` fits an order-0 histogram
    over values 0..K-1. `--model adaptive` runs the default engine over the DATA files and keeps
    its learned state (and the training text that recurs most) within `--size` bytes: every file
    compressed with `-m` that model file starts from that state.

    `--model mlp` reads its DATA files as a stream (a corpus need not fit in memory).
    Launched by `torchrun --nproc_per_node=N -m deepcompress train ...`, the N processes
    train together (DistributedDataParallel; gloo on the CPU, NCCL on CUDA), each on its
    share of the data, with --batch-size as the global batch; the first writes the model.
    """
    if kind == "adaptive":
        ctx.exit(_train_prior(output, level, size_budget or 112_000, prime_bytes, force, quiet, data))
    from deepcompress import distributed, train

    if kind == "hybrid":
        network = train.HYBRID_NETWORK
        if ctx.get_parameter_source("followers") == click.core.ParameterSource.DEFAULT:
            followers = ()
        options = train.ModelOptions("mlp", context_size or network["context_size"], hidden or network["hidden"],
                                     embed_dim or network["embed_dim"], dropout, alphabet, followers, crlf)
    else:
        options = train.ModelOptions(kind, 16 if context_size is None else context_size, hidden, embed_dim, dropout,
                                     alphabet, followers, crlf)
    if distributed.launched():
        if "-" in data:
            raise click.BadParameter("processes launched together cannot share standard input; name files",
                                     param_hint="DATA")
        device = distributed.start(device)
        quiet = quiet or distributed.rank() > 0
    config = train.config_for(options.kind, epochs, batch_size, learning_rate=learning_rate, seed=seed, threads=threads,
                              validation_fraction=validation_fraction, device=device)

    def report(progress: train.Progress) -> None:
        if not quiet:
            click.echo(f"epoch {progress.epoch:5.2f}: train {progress.train_bits:.4f}, validation "
                       f"{progress.validation_bits:.4f} bits/symbol ({progress.seconds:.0f} s)", err=True)

    def read(path: str) -> tuple:
        with fileio.open_operand(path, compressed=False) as opened:
            return api.load_input(opened.source)

    def source(path: str) -> train.ByteSource:
        """A regular file is read piece by piece while training; anything else (a pipe) once, into memory."""
        with fileio.open_operand(path, compressed=False) as opened:
            if path != "-" and stat.S_ISREG(os.fstat(opened.source.fileno()).st_mode):
                return train.ByteSource.of_path(path)
            return train.ByteSource.of_bytes(opened.source.read(), path)

    def fit(path: str) -> None:
        if plot_path:
            train.check_plotting()
        if kind == "mlp":
            fitted = train.fit_sources([source(each) for each in data], options, config, report)
        elif kind == "hybrid":
            fitted = train.fit_hybrid([read(each)[0] for each in data], options, config, level,
                                      size_budget or 1_000_000, report, prime_bytes=prime_bytes)
        else:
            fitted = train.fit_files([read(each) for each in data], options, config, report)
        if distributed.rank() > 0:
            return
        metadata = train.training_metadata(fitted, [os.path.basename(each) for each in data])
        blob = api.model_file_bytes(fitted.model, metadata)
        if kind == "hybrid" and len(blob) > (size_budget or 1_000_000):
            raise ValueError(f"the hybrid takes {len(blob)} bytes, over the budget of {size_budget or 1_000_000}")
        with fileio.output(path, force, "a model file") as sink:
            sink.write(blob)
        if log_path:
            train.write_log(fitted.result, config, log_path, metadata["training"])
        if plot_path:
            train.plot_learning_curve(fitted.result, plot_path)
        if not quiet:
            click.echo(f"{escape(path)}: {fitted.model.name} model {fitted.model.fingerprint()[:16]}; validation "
                       f"{fitted.result.best_validation_bits:.4f} bits/symbol (float), "
                       f"{fitted.integer_validation_bits:.4f} (exact integer)", err=True)

    status = each((output,), fit)
    distributed.stop()
    ctx.exit(status)


def _train_prior(output: str, level: int, size_budget: int, prime_bytes: int | None, force: bool, quiet: bool,
                 data: tuple[str, ...]) -> int:
    """`train --model adaptive`: a prior within `size_budget` bytes (no torch is imported)."""
    from deepcompress.models import prior

    def fit(path: str) -> None:
        files = []
        for each_path in data:
            with fileio.open_operand(each_path, compressed=False) as opened:
                files.append(opened.source.read())
        model = prior.train_prior(files, level, size_budget, prime_bytes=prime_bytes)
        metadata = {"training": {"files": len(files), "bytes": sum(map(len, files)), "level": level,
                                 "size_budget": size_budget}}
        blob = api.model_file_bytes(model, metadata)
        if len(blob) > size_budget:  # MODEL_FILE_SLACK is meant to make this impossible
            raise ValueError(f"the prior takes {len(blob)} bytes, over the budget of {size_budget}")
        with fileio.output(path, force, "a model file") as sink:
            sink.write(blob)
        if not quiet:
            settings = model.hyperparameters()
            click.echo(f"{escape(path)}: adaptive-prior model {model.fingerprint()[:16]}, {len(blob)} bytes "
                       f"({settings['history_bytes']} bytes of history, {settings['prime_bytes']} primed), "
                       f"from {len(files)} files", err=True)

    return each((output,), fit)


@click.command(name="sample")
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

    ctx.exit(each((model,), draw))


@click.command(name="build-kernels")
@click.option("--dir", "directory", type=click.Path(file_okay=False), default=None,
              help="where to write the build  [default: $DEEPCOMPRESS_KERNEL_DIR or ~/.cache/deepcompress/kernels]")
@click.option("-q", "--quiet", is_flag=True, help="print nothing on success")
@click.pass_context
def build_kernels_command(ctx, directory, quiet) -> None:
    """Compile the kernels ahead of time (once per install; needs a C compiler).

    Later runs then code without starting numba's compiler: a small file in ~0.2 s instead
    of ~0.8 s, ~100 MB less memory. The output is the same either way.
    """
    from deepcompress import aot

    try:
        built = aot.build(None if directory is None else Path(directory))
    except ERRORS as error:
        report("build-kernels", reason(error))
        ctx.exit(1)
    if not quiet:
        click.echo(f"{escape(str(built))}: kernels built", err=True)


COMMANDS = (nll_command, bench_command, surprisal_command, train_command, sample_command, build_kernels_command)
