"""Measure models on files: code lengths, real sizes, speed, against gzip/bzip2/xz.

Library code for `benchmarks/` and `deepcompress bench`; prints nothing.
"""

from __future__ import annotations

import bz2
import compileall
import gzip
import io
import lzma
import resource
import statistics
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from deepcompress import api
from deepcompress.errors import CorruptStreamError
from deepcompress.models.base import Model


def compile_bytecode() -> None:
    """Write the package's .pyc files, as `pip install` does, before timing whole processes: an
    editable install run with PYTHONDONTWRITEBYTECODE=1 (as on these machines) would otherwise
    compile every module from source in every process (~60 ms of a ~0.13 s start-up). Silent;
    where the files cannot be written, processes compile as any such install's do."""
    compileall.compile_dir(Path(__file__).resolve().parent, quiet=2)


@dataclass(frozen=True)
class Row:
    """One file under one model. Sizes in bytes, code lengths in bits, speeds in MB/s (10^6 B/s)."""

    file: str
    model: str
    original_bytes: int
    order0_bits: float
    nll_bits: float
    payload_bits: int
    header_bytes: int
    compressed_bytes: int
    bits_per_byte: float
    overhead_bits: float
    gzip_bytes: int
    bz2_bytes: int
    xz_bytes: int
    compress_mb_s: float
    decompress_mb_s: float
    peak_rss_mb: float


def order0_bits(data: bytes) -> float:
    """n * H0: the empirical order-0 entropy of `data` times its length, in bits."""
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / len(data))).sum()) if len(data) else 0.0


def baseline_sizes(data: bytes) -> dict[str, int]:
    """gzip -9, bzip2 -9 and xz -9e sizes from the standard library."""
    return {
        "gzip": len(gzip.compress(data, compresslevel=9, mtime=0)),
        "bz2": len(bz2.compress(data, compresslevel=9)),
        "xz": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)),
    }


def measure(path: Path, model: str | Model, repeats: int = 3) -> Row:
    """Compress and decompress `path` `repeats` times; check the round trip; median speeds."""
    data = path.read_bytes()
    compress_times, decompress_times = [], []
    for _ in range(repeats):
        sink = io.BytesIO()
        start = time.perf_counter()
        stats = api.compress_stream(io.BytesIO(data), sink, model)
        compress_times.append(time.perf_counter() - start)
        blob = sink.getvalue()
        start = time.perf_counter()
        restored = api.decompress(blob, model if isinstance(model, Model) else None)
        decompress_times.append(time.perf_counter() - start)
        if restored != data:
            raise CorruptStreamError(f"round trip under {stats.model} changed the data")
    baselines = baseline_sizes(data)
    megabytes = len(data) / 1e6
    return Row(
        file=path.name,
        model=_model_label(model),
        original_bytes=len(data),
        order0_bits=order0_bits(data),
        nll_bits=stats.nll_bits,
        payload_bits=stats.payload_bits,
        header_bytes=stats.header_bytes,
        compressed_bytes=stats.compressed_bytes,
        bits_per_byte=stats.bits_per_byte,
        overhead_bits=stats.payload_bits - stats.nll_bits,
        gzip_bytes=baselines["gzip"],
        bz2_bytes=baselines["bz2"],
        xz_bytes=baselines["xz"],
        compress_mb_s=megabytes / statistics.median(compress_times),
        decompress_mb_s=megabytes / statistics.median(decompress_times),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )


def _model_label(model: str | Model) -> str:
    """The CLI name of a built-in model, or model name + fingerprint prefix."""
    if isinstance(model, str):
        return model
    mode = model.config().get("mode")
    return f"{model.name}-{mode}" if mode in ("static", "adaptive") else f"{model.name}:{model.fingerprint()[:8]}"


def _bpb(size: float, original: int) -> str:
    return f"{8 * size / original:.3f}" if original else "-"


def markdown_table(rows: Iterable[Row]) -> str:
    """Rows as a markdown table with a total line per model (bits/byte over the summed sizes)."""
    rows = list(rows)
    header = (
        "| file | model | bytes | H0 bpb | NLL bpb | payload-NLL bits | header B | total B | bpb "
        "| gzip -9 | bzip2 -9 | xz -9e | comp MB/s | decomp MB/s |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [header]
    for row in rows:
        lines.append(
            f"| {row.file} | {row.model} | {row.original_bytes} | {_bpb(row.order0_bits / 8, row.original_bytes)} "
            f"| {_bpb(row.nll_bits / 8, row.original_bytes)} | {row.overhead_bits:.0f} | {row.header_bytes} "
            f"| {row.compressed_bytes} | {row.bits_per_byte:.3f} | {_bpb(row.gzip_bytes, row.original_bytes)} "
            f"| {_bpb(row.bz2_bytes, row.original_bytes)} | {_bpb(row.xz_bytes, row.original_bytes)} "
            f"| {row.compress_mb_s:.2f} | {row.decompress_mb_s:.2f} |"
        )
    for model in dict.fromkeys(row.model for row in rows):
        subset = [row for row in rows if row.model == model]
        total = sum(row.original_bytes for row in subset)
        lines.append(
            f"| **total** | {model} | {total} | {_bpb(sum(r.order0_bits for r in subset) / 8, total)} "
            f"| {_bpb(sum(r.nll_bits for r in subset) / 8, total)} | {sum(r.overhead_bits for r in subset):.0f} "
            f"| {sum(r.header_bytes for r in subset)} | {sum(r.compressed_bytes for r in subset)} "
            f"| {_bpb(sum(r.compressed_bytes for r in subset), total)} "
            f"| {_bpb(sum(r.gzip_bytes for r in subset), total)} | {_bpb(sum(r.bz2_bytes for r in subset), total)} "
            f"| {_bpb(sum(r.xz_bytes for r in subset), total)} | | |"
        )
    return "\n".join(lines) + "\n"


def as_dicts(rows: Iterable[Row]) -> list[dict]:
    return [asdict(row) for row in rows]
