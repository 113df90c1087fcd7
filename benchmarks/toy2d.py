"""The lecture's 2-D toy: p(x1, x2) = p(x1) * p(x2 | x1) on 64 x 64 levels.

Usage: python benchmarks/toy2d.py [--train N] [--test N] [--epochs N] [--threads T] [--docs]

A synthetic, picture-like discrete density (a smiley face: ring, eyes, mouth, over a faint
background) is turned into a pmf over 64 x 64 cells; its entropy is exact. Train and test
samples (x1, x2) are drawn from it; the record model with d = 2 (`record-mlp`: p(x1) from the
network's position-0 output, a learned histogram, and p(x2 | x1) an MLP) is fitted by maximum
likelihood. Reports test NLL (float and exact integer) against the true entropy and against
the empirical joint histogram (Laplace), and writes PNGs of the true and learned densities
and of samples from the model (ancestral sampling of the exact tables).

Writes benchmarks/results/toy2d.{md,json,png}; with --docs also docs/toy2d.png.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import api
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
LEVELS = 64
CONFIG = RecordConfig(alphabet_size=LEVELS, record_size=2, hidden=(256, 128), embed_dim=16)


def true_pmf() -> np.ndarray:
    """float64[64, 64] pmf, rows x1, columns x2: a smiley face drawn with smooth strokes."""
    y, x = np.mgrid[0:LEVELS, 0:LEVELS].astype(np.float64) + 0.5
    cy, cx = 32.0, 32.0
    radius = np.hypot(y - cy, x - cx)
    face = np.exp(-0.5 * ((radius - 24.0) / 2.0) ** 2)                                     # outline
    eyes = sum(np.exp(-0.5 * (((y - 24.0) / 3.0) ** 2 + ((x - ex) / 2.2) ** 2)) for ex in (23.0, 41.0))
    mouth_radius = np.hypot(y - 30.0, x - cx)
    mouth = np.exp(-0.5 * ((mouth_radius - 13.0) / 1.6) ** 2) * (y > 36.0) * np.clip((y - 36.0) / 3.0, 0, 1)
    background = 0.03 * np.exp(-0.5 * (radius / 20.0) ** 2) + 0.002
    density = face + 1.3 * eyes + 1.1 * mouth + background
    return density / density.sum()


def entropy_bits(pmf: np.ndarray) -> float:
    p = pmf[pmf > 0]
    return float(-(p * np.log2(p)).sum())


def draw(pmf: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples (x1, x2): int64[n, 2]."""
    cells = rng.choice(pmf.size, size=n, p=pmf.reshape(-1))
    return np.stack(np.divmod(cells, LEVELS), axis=1).astype(np.int64)


def model_pmf(model: RecordModel) -> np.ndarray:
    """The exact model's joint pmf p(x1) p(x2 | x1) from its integer tables: float64[64, 64]."""
    grid = np.zeros((LEVELS, 2), dtype=np.int64)
    grid[:, 0] = np.arange(LEVELS)
    first = model.frequencies(CONFIG.element_inputs(grid[:1], np.zeros(1, np.int64), np.zeros(1, np.int64)))[0]
    second = model.frequencies(CONFIG.element_inputs(grid, np.arange(LEVELS), np.ones(LEVELS, np.int64)))
    p1 = first / first.sum()
    return p1[:, None] * second / second.sum(axis=1, keepdims=True)


def histogram_image(samples: np.ndarray) -> np.ndarray:
    return np.bincount(samples[:, 0] * LEVELS + samples[:, 1], minlength=LEVELS * LEVELS).reshape(LEVELS, LEVELS)


def plot(true: np.ndarray, learned: np.ndarray, samples: np.ndarray, path: Path, title: str, dpi: int) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(1, 3, figsize=(9.6, 3.5))
    vmax = true.max()
    panels = [(true, "true pmf", vmax), (learned, "learned pmf (exact integer tables)", vmax),
              (histogram_image(samples), f"{len(samples):,} samples from the model", None)]
    for axis, (image, label, top) in zip(axes, panels):
        axis.imshow(image, cmap="magma", vmin=0, vmax=top, interpolation="nearest")
        axis.set_title(label, fontsize=9)
        axis.set_xlabel("x2", fontsize=8)
        axis.set_ylabel("x1", fontsize=8)
        axis.tick_params(labelsize=7)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--test", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--docs", action="store_true", help="also write docs/toy2d.png")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    pmf = true_pmf()
    entropy = entropy_bits(pmf)
    train, test = draw(pmf, args.train, rng), draw(pmf, args.test, rng)
    RESULTS.mkdir(parents=True, exist_ok=True)

    train_config = TrainConfig(epochs=args.epochs, batch_size=512, learning_rate=3e-3, validation_fraction=0.05,
                               evaluations_per_epoch=2, patience=4, seed=args.seed, threads=args.threads)
    start = time.perf_counter()
    stream = train.reshape(-1)
    net, result = train_record_net([stream], CONFIG, train_config)
    training_rows, _ = split_rows(net, [stream], train_config.validation_fraction)
    model = RecordModel.from_net(net, training_rows.inputs)
    seconds = time.perf_counter() - start
    test_rows = Rows(CONFIG.inputs(test.reshape(-1)), test.reshape(-1))
    float_bits = 2 * mean_bits(net, test_rows, "cpu")                     # per record (x1, x2)
    int_bits = 2 * integer_bits(model.frequencies, test_rows)
    counts = histogram_image(train) + 1
    histogram_bits = float(-np.log2(counts[test[:, 0], test[:, 1]] / counts.sum()).mean())
    learned = model_pmf(model)
    kl = float((pmf * np.log2(pmf / learned)).sum())
    blob = api.compress_array(test.astype(np.uint8), model)
    assert np.array_equal(api.decompress_array(blob, model), test.astype(np.uint8))
    stats = api.read_info(io.BytesIO(blob)).stats
    samples = model.sample(args.test, seed=args.seed + 1)

    gap = int_bits / entropy - 1
    summary = {"levels": LEVELS, "train": args.train, "test": args.test, "true_entropy_bits": entropy,
               "test_nll_float_bits": float_bits, "test_nll_integer_bits": int_bits,
               "relative_gap": gap, "kl_true_to_learned_bits": kl,
               "empirical_joint_histogram_bits": histogram_bits,
               "coded_payload_bits_per_record": stats.payload_bits / args.test,
               "model": CONFIG.to_json(), "train_seconds": seconds, "evaluations": len(result.history)}
    (RESULTS / "toy2d.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = [f"# 2-D toy: {LEVELS} x {LEVELS} levels, {args.train:,} train / {args.test:,} test samples", "",
             "| | bits per sample (x1, x2) |", "|---|---:|",
             f"| true entropy H(p) | {entropy:.4f} |",
             f"| record-mlp p(x1) p(x2 given x1), float, test NLL | {float_bits:.4f} |",
             f"| record-mlp, exact integer, test NLL | {int_bits:.4f} |",
             f"| record-mlp, coded payload (range coder) | {stats.payload_bits / args.test:.4f} |",
             f"| empirical joint histogram (Laplace), test NLL | {histogram_bits:.4f} |",
             f"| KL(true, learned) | {kl:.4f} |", "",
             (f"Integer test NLL is {100 * gap:+.2f}% of the entropy (acceptance: within 2%). "
              f"Trained in {seconds:.0f} s (hidden {list(CONFIG.hidden)}, embed {CONFIG.embed_dim}).")]
    (RESULTS / "toy2d.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    title = f"H = {entropy:.3f} bits; model test NLL {int_bits:.3f} bits ({100 * gap:+.2f}%)"
    if plot(pmf, learned, samples, RESULTS / "toy2d.png", title, dpi=100):
        if args.docs:
            plot(pmf, learned, samples, ROOT / "docs" / "toy2d.png", title, dpi=72)
    else:
        print("matplotlib not installed: no PNG written")
    if abs(gap) > 0.02:
        raise SystemExit("acceptance FAILED: test NLL not within 2% of the entropy")


if __name__ == "__main__":
    main()
