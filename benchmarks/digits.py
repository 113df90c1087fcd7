"""Digits benchmark: discrete data beyond bytes (issue 5).

Usage: python benchmarks/digits.py [--epochs N] [--threads T] [--seed S]

scikit-learn's digits (1,797 8x8 images, 17 grey levels 0..16), split at random (seeded)
into 1,497 training and 300 test images. Reports test bits per dimension (pixel) and per
record (image) for:

- independent per-dimension histograms (64 histograms, Laplace smoothing);
- the joint histogram over whole records (Laplace smoothing over all 17**64 possible
  images): every test image unseen in training gets only the smoothing mass;
- the record model (`record-mlp`, p(x_j | x_<j) by one network): float NLL, exact integer
  NLL, and the real coded size via `compress_array` with its model file (round trip checked);
- the order-0 histogram (trained), the default `adaptive` model (no training);
- gzip -9 and xz -9e of the raw test .npy, as uint8 and as the loaded dtype (float64).

Writes benchmarks/results/digits.{md,json} and the model file digits.dcm.
Needs scikit-learn: pip install 'deepcompress[digits]'.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import lzma
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import api
from deepcompress.modelfile import model_to_bytes, save_model
from deepcompress.models.histogram import HistogramModel
from deepcompress.models.records import RecordConfig, RecordModel
from deepcompress.train import (
    Rows,
    TrainConfig,
    integer_bits,
    mean_bits,
    split_rows,
    train_record_net,
)

RESULTS = ROOT / "benchmarks" / "results"
LEVELS = 17
N_TEST = 300
CONFIG = RecordConfig(alphabet_size=LEVELS, record_size=64, hidden=(256, 128), embed_dim=4)
DROPOUT = 0.2


def load(seed: int) -> tuple[np.ndarray, np.ndarray, np.dtype]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        print("digits benchmark skipped: scikit-learn is not installed (pip install 'deepcompress[digits]')")
        raise SystemExit(0) from None
    data = load_digits().data                                   # float64 (1797, 64), values 0..16
    images = data.astype(np.uint8)
    assert np.array_equal(images, data) and images.max() < LEVELS
    order = np.random.default_rng(seed).permutation(len(images))
    return images[order[N_TEST:]], images[order[:N_TEST]], data.dtype


def independent_bits(train: np.ndarray, test: np.ndarray) -> float:
    """64 per-dimension histograms with Laplace (+1) smoothing: total test bits."""
    total = 0.0
    for j in range(train.shape[1]):
        counts = np.bincount(train[:, j], minlength=LEVELS) + 1
        total -= float(np.log2(counts[test[:, j]] / counts.sum()).sum())
    return total


def joint_bits(train: np.ndarray, test: np.ndarray) -> tuple[float, int]:
    """Joint histogram over whole records, Laplace (+1) over all 17**64 records: (total bits, test images seen in training)."""
    seen: dict[bytes, int] = {}
    for row in train:
        seen[row.tobytes()] = seen.get(row.tobytes(), 0) + 1
    denominator = math.log2(len(train) + LEVELS ** train.shape[1])   # exact big-int sum, then log2
    counts = [seen.get(row.tobytes(), 0) for row in test]
    return sum(denominator - math.log2(count + 1) for count in counts), sum(count > 0 for count in counts)


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, test, loaded_dtype = load(args.seed)
    n_dims = test.size
    RESULTS.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []

    def add(name: str, bits: float, kind: str, note: str = "") -> None:
        rows.append({"method": name, "kind": kind, "bits": bits, "bits_per_dim": bits / n_dims,
                     "bits_per_record": bits / len(test), "note": note})
        print(f"{name:<44} {bits / n_dims:7.4f} bits/dim {bits / len(test):9.2f} bits/record", flush=True)

    add("independent histograms (64, Laplace)", independent_bits(train, test), "NLL")
    joint, n_seen = joint_bits(train, test)
    add("joint histogram over records (Laplace)", joint, "NLL",
        f"{n_seen} of {len(test)} test images occur in training; each unseen one costs log2(1497 + 17^64) bits")
    order0 = HistogramModel.fit(train.reshape(-1), LEVELS)
    add("order-0 histogram (trained)", float(-np.log2(order0.probs()[test.reshape(-1)]).sum()), "NLL")

    # the record model
    train_config = TrainConfig(epochs=args.epochs, batch_size=256, learning_rate=3e-3, validation_fraction=0.1,
                               evaluations_per_epoch=2, patience=6, seed=args.seed, threads=args.threads)
    start = time.perf_counter()
    net, result = train_record_net([train.reshape(-1).astype(np.int64)], CONFIG, train_config, dropout=DROPOUT)
    training_rows, _ = split_rows(net, [train.reshape(-1).astype(np.int64)], train_config.validation_fraction)
    model = RecordModel.from_net(net, training_rows.inputs)
    train_seconds = time.perf_counter() - start
    test_symbols = test.reshape(-1).astype(np.int64)
    test_rows = Rows(CONFIG.inputs(test_symbols), test_symbols)
    model_path = RESULTS / "digits.dcm"
    save_model(model, model_path, {"benchmark": "digits", "seed": args.seed})
    add("record-mlp, float NLL", mean_bits(net, test_rows, "cpu") * n_dims, "NLL")
    add("record-mlp, exact integer NLL", integer_bits(model.frequencies, test_rows) * n_dims, "NLL")
    start = time.perf_counter()
    blob = api.compress_array(test, model_path)
    encode_seconds = time.perf_counter() - start
    start = time.perf_counter()
    back = api.decompress_array(blob, model_path)
    decode_seconds = time.perf_counter() - start
    assert back.dtype == test.dtype and np.array_equal(back, test), "round trip failed"
    assert npy_bytes(back) == npy_bytes(test)
    stats = api.read_info(io.BytesIO(blob)).stats
    add("record-mlp, coder payload (range)", stats.payload_bits, "coded",
        f"payload - NLL = {stats.payload_bits - stats.nll_bits:.1f} bits")
    add("record-mlp, whole .dcz file", 8 * len(blob), "coded", f"{stats.header_bytes} bytes of header, records, trailer")

    adaptive = api.compress_array(test)          # default model for 17 values: adaptive
    add("adaptive (default, untrained), whole .dcz", 8 * len(adaptive), "coded")
    add("histogram (static, per block), whole .dcz", 8 * len(api.compress_array(test, "histogram")), "coded")
    for label, array in (("uint8", test), (str(loaded_dtype), test.astype(loaded_dtype))):
        raw = npy_bytes(array)
        add(f"gzip -9, raw .npy ({label}, {len(raw)} B)", 8 * len(gzip.compress(raw, 9, mtime=0)), "coded")
        add(f"xz -9e, raw .npy ({label}, {len(raw)} B)",
            8 * len(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME)), "coded")

    by_name = {row["method"]: row["bits_per_dim"] for row in rows}
    ar = by_name["record-mlp, exact integer NLL"]
    coded = by_name["record-mlp, whole .dcz file"]
    checks = {
        "beats independent histograms": ar / by_name["independent histograms (64, Laplace)"],
        "beats joint histogram": ar / by_name["joint histogram over records (Laplace)"],
        "whole .dcz beats xz -9e (uint8 .npy)": coded / by_name[f"xz -9e, raw .npy (uint8, {len(npy_bytes(test))} B)"],
    }
    overhead_ok = stats.payload_bits - stats.nll_bits <= 1e-4 * stats.nll_bits + 128
    summary = {
        "dataset": {"train_records": len(train), "test_records": len(test), "dims": test.shape[1],
                    "levels": LEVELS, "seed": args.seed},
        "model": {**CONFIG.to_json(), "dropout": DROPOUT, "fingerprint": model.fingerprint(),
                  "model_file_bytes": len(model_to_bytes(model)), "train_seconds": train_seconds,
                  "best_validation_bits": result.best_validation_bits, "evaluations": len(result.history)},
        "coding": {"payload_bits": stats.payload_bits, "nll_bits": stats.nll_bits,
                   "payload_minus_nll_bits": stats.payload_bits - stats.nll_bits, "dcz_bytes": len(blob),
                   "encode_seconds": encode_seconds, "decode_seconds": decode_seconds,
                   "overhead_within_0.01%+128_bits": bool(overhead_ok)},
        "ratios_ar_over_baseline": checks,
        "rows": rows,
    }
    (RESULTS / "digits.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"# Digits: {len(train)} training / {len(test)} test images, 64 dims, {LEVELS} levels (seed {args.seed})", "",
             "| method | kind | bits/dim | bits/record | note |", "|---|---|---:|---:|---|"]
    lines += [f"| {r['method']} | {r['kind']} | {r['bits_per_dim']:.4f} | {r['bits_per_record']:.2f} | {r['note']} |"
              for r in rows]
    lines += ["", (f"record-mlp: hidden {list(CONFIG.hidden)}, embed {CONFIG.embed_dim}, dropout {DROPOUT}; "
                   f"model file {summary['model']['model_file_bytes']} bytes; trained in {train_seconds:.0f} s; "
                   f"encode {encode_seconds:.2f} s, decode {decode_seconds:.2f} s."),
              (f"Coder payload - NLL = {stats.payload_bits - stats.nll_bits:.1f} bits "
               f"(limit {1e-4 * stats.nll_bits + 128:.1f}): {'OK' if overhead_ok else 'FAIL'}."),
              "", "| record-mlp / baseline | ratio |", "|---|---:|"]
    lines += [f"| {name} | {ratio:.3f} |" for name, ratio in checks.items()]
    (RESULTS / "digits.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-len(checks) - 2:]))
    print(f"wrote {RESULTS / 'digits.md'} and digits.json")
    if not overhead_ok or max(checks.values()) > 0.9:
        raise SystemExit("acceptance FAILED")


if __name__ == "__main__":
    main()
