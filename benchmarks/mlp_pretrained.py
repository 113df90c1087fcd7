"""Pretrained MLP benchmark: train on Calgary text (book1 held out), code unseen English text.

Usage: python benchmarks/mlp_pretrained.py [--epochs N] [--threads T] [--repeat R] [--model PATH]

Trains the MLP on bib, book2, news, paper1-6, progc, progl, progp, trans (plus CRLF copies of
every other one: Canterbury's texts end lines with CRLF), quantises it, and for book1 and
seven Canterbury files reports float NLL, integer NLL, the real range-coded size (lanes,
round trip checked), order-0 entropy, gzip -9 / bz2 -9 / xz -9e, train time, encode/decode
KB/s (median of R runs) and peak RSS. Writes benchmarks/results/mlp_pretrained.{json,md},
the model (.dcm), its training log and learning curve; with --model, reuses a model file
instead of training (float NLL is then not available).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import bench
from deepcompress.modelfile import load_model, save_model
from deepcompress.models.mlp import MLPConfig, MLPModel, MLPNet
from deepcompress.train import Rows, TrainConfig, fit_mlp, mean_bits, plot_learning_curve, write_log

CORPUS = ROOT.parent / "shared" / "corpus"
RESULTS = ROOT / "benchmarks" / "results"
TRAIN_FILES = ["bib", "book2", "news", "paper1", "paper2", "paper3", "paper4", "paper5", "paper6",
               "progc", "progl", "progp", "trans"]
TEST_FILES = ["calgary/book1", "canterbury/alice29.txt", "canterbury/asyoulik.txt", "canterbury/lcet10.txt",
              "canterbury/plrabn12.txt", "canterbury/cp.html", "canterbury/fields.c", "canterbury/xargs.1"]
TARGETS = ["book1", "alice29.txt", "asyoulik.txt", "lcet10.txt", "plrabn12.txt"]   # the ratio targets
CONFIG = MLPConfig(alphabet_size=256, context_size=16, embed_dim=32, hidden=(512,),
                   follower_orders=(2, 3, 4, 6, 8, 12), follower_table_bits=20)


def as_symbols(data: bytes) -> np.ndarray:
    return np.frombuffer(data, np.uint8).astype(np.int64)


def with_crlf(symbols: np.ndarray) -> np.ndarray:
    return as_symbols(bytes(symbols.astype(np.uint8)).replace(b"\n", b"\r\n"))


def train_model(epochs: int, threads: int) -> tuple[MLPNet, MLPModel, dict]:
    streams = [as_symbols((CORPUS / "calgary" / name).read_bytes()) for name in TRAIN_FILES]
    streams += [with_crlf(symbols) for symbols in streams[::2]]
    config = TrainConfig(epochs=epochs, batch_size=1024, learning_rate=3e-3, seed=0, threads=threads)
    fitted = fit_mlp(streams, CONFIG, config, on_progress=lambda p: print(
        f"  epoch {p.epoch:.2f}: train {p.train_bits:.3f}, validation {p.validation_bits:.3f} bits/byte "
        f"({p.seconds:.0f} s)", file=sys.stderr, flush=True))
    log = {"train_seconds": fitted.result.seconds, "rows": int(sum(len(s) for s in streams)),
           "validation_bits_float": fitted.result.best_validation_bits,
           "validation_bits_integer": fitted.integer_validation_bits, "config": CONFIG.to_json()}
    write_log(fitted.result, config, RESULTS / "mlp_pretrained.train.json", log)
    plot_learning_curve(fitted.result, RESULTS / "mlp_pretrained.train.png")
    save_model(fitted.model, RESULTS / "mlp_pretrained.dcm", metadata={"training": log, "train_files": TRAIN_FILES})
    return fitted.network, fitted.model, log


def measure_file(path: Path, net: MLPNet | None, model: MLPModel, repeats: int) -> dict:
    """One test file through the real container (`bench.measure`: round trip checked, median
    speeds), plus the float network's NLL and the one-lane integer NLL."""
    row = bench.measure(path, model, repeats)
    symbols = as_symbols(path.read_bytes())
    n = len(symbols)
    float_bits = (mean_bits(net, Rows(net.inputs(symbols), symbols), "cpu") * n) if net is not None else math.nan
    return {
        "file": path.name, "bytes": n, "lanes": model.choose_lanes(n),
        "float_bpb": float_bits / n, "integer_bpb": row.nll_bits / n,
        "integer_one_lane_bpb": model.nll_bits(symbols, 1) / n,
        "coded_bpb": row.bits_per_byte, "payload_minus_nll_bits": row.overhead_bits,
        "header_bytes": row.header_bytes, "order0_bpb": row.order0_bits / n,
        "gzip_bpb": 8 * row.gzip_bytes / n, "bz2_bpb": 8 * row.bz2_bytes / n, "xz_bpb": 8 * row.xz_bytes / n,
        "encode_kb_s": 1000 * row.compress_mb_s, "decode_kb_s": 1000 * row.decompress_mb_s,
    }


def markdown(rows: list[dict], summary: dict) -> str:
    lines = [("| file | bytes | lanes | float | integer | file | payload − NLL (bits) | order-0 | gzip -9 | bz2 -9 "
             "| xz -9e | vs xz | vs order-0 | enc KB/s | dec KB/s |"),
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    for r in rows:
        lines.append(
            f"| {r['file']} | {r['bytes']} | {r['lanes']} | {r['float_bpb']:.3f} | {r['integer_bpb']:.3f} "
            f"| {r['coded_bpb']:.3f} | {r['payload_minus_nll_bits']:.0f} | {r['order0_bpb']:.3f} | {r['gzip_bpb']:.3f} "
            f"| {r['bz2_bpb']:.3f} | {r['xz_bpb']:.3f} | {'beats' if r['coded_bpb'] < r['xz_bpb'] else 'loses'} "
            f"| {100 * (1 - r['coded_bpb'] / r['order0_bpb']):.0f}% | {r['encode_kb_s']:.0f} | {r['decode_kb_s']:.0f} |")
    lines.append("")
    lines.append("bits/byte; float = float32 network, integer = exact integer tables (with the file's lanes, as coded), "
                 "file = the whole .dcz file (header included). " + json.dumps(summary))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for training and coding (2 threads stall when the cores are shared)")
    parser.add_argument("--repeat", type=int, default=3, help="timed coding runs per file (median)")
    parser.add_argument("--model", type=Path, help="evaluate this .dcm instead of training")
    options = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(options.threads)
    if options.model:
        net, (model, metadata) = None, load_model(options.model)
        log = metadata.get("training", {})
    else:
        net, model, log = train_model(options.epochs, options.threads)
    rows = []
    for name in TEST_FILES:
        rows.append(measure_file(CORPUS / name, net, model, options.repeat))
        print(f"{name}: {rows[-1]['coded_bpb']:.3f} bits/byte (xz {rows[-1]['xz_bpb']:.3f}), "
              f"decode {rows[-1]['decode_kb_s']:.0f} KB/s", file=sys.stderr, flush=True)
    summary = {
        "train_seconds": log.get("train_seconds"), "threads": options.threads,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "beats_xz": all(r["coded_bpb"] < r["xz_bpb"] for r in rows if r["file"] in TARGETS),
        "beats_order0_by_40pct": all(r["coded_bpb"] <= 0.6 * r["order0_bpb"] for r in rows if r["file"] in TARGETS),
        "payload_minus_nll_ok": all(r["payload_minus_nll_bits"] <= 1e-4 * r["integer_bpb"] * r["bytes"] + 128
                                    for r in rows),
        "model_fingerprint": model.fingerprint(), "config": model.config(),
    }
    (RESULTS / "mlp_pretrained.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    table = markdown(rows, summary)
    (RESULTS / "mlp_pretrained.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
