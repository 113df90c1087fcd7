#!/usr/bin/env python3
"""Check that the CLI's memory stays bounded and its time linear as inputs grow.

For each model and each size, generates text-like data (a seeded word-level Markov chain,
vectorised with numpy), then runs the CLI under `/usr/bin/time -v` through files and
through stdin/stdout pipes: compress, decompress (verified byte for byte against the
input) and nll. Prints wall time, peak RSS and throughput per run, then per model and
path the ratios large/small of time and RSS. Generated files are removed as it goes.

Default plan (the robustness issue's): histogram models on 30 MB vs 300 MB; `adaptive`
(or `histogram-adaptive` where that model does not exist) on 2 MB vs 20 MB.

Usage: python scripts/scale_check.py [--models M,...] [--sizes-mb 30,300] [--workdir DIR]
Exit status 1 if a run failed, a round trip differed, or peak RSS exceeded --max-rss-mb.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from deepcompress import models

MB = 1_000_000
PIECE_BYTES = 16 * MB  # generated and written in pieces: the generator's memory stays flat


def markov_text(path: Path, n_bytes: int, seed: int = 0) -> None:
    """Write n_bytes of text-like data: words drawn from a Markov chain with 8 successors per word.

    Many chains run side by side (one numpy step advances all of them); each chain's words
    become one line, so the text has word statistics, line structure and no long repeats.
    """
    rng = np.random.default_rng(seed)
    vocabulary_size, successors, chains = 4096, 8, 4096
    letters = np.frombuffer(b"etaoinshrdlcumwfgypbvkjxqz", dtype=np.uint8)
    lengths = np.clip(rng.geometric(0.25, vocabulary_size), 1, 14)
    words = [letters[np.minimum(rng.geometric(0.15, n) - 1, 25)].tobytes() + b" " for n in lengths]
    spellings = np.frombuffer(b"".join(words), dtype=np.uint8)
    word_length = np.array([len(word) for word in words])
    word_start = np.concatenate([[0], np.cumsum(word_length)[:-1]])
    successor = rng.integers(0, vocabulary_size, size=(vocabulary_size, successors))
    weights = 1.0 / np.arange(1, successors + 1)  # Zipf over each word's successors
    state = rng.integers(0, vocabulary_size, size=chains)
    written = 0
    with open(path, "wb") as sink:
        while written < n_bytes:
            steps = []
            for _ in range(max(1, PIECE_BYTES // (chains * int(word_length.mean())))):
                state = successor[
                    state, rng.choice(successors, size=chains, p=weights / weights.sum())
                ]
                steps.append(state)
            sequence = np.stack(steps, axis=1).reshape(-1)  # chain by chain
            piece = _spell(sequence, spellings, word_start, word_length)
            line_ends = np.cumsum(word_length[sequence].reshape(chains, -1).sum(axis=1)) - 1
            piece[line_ends] = ord("\n")  # the space after each chain's last word
            piece = piece[: n_bytes - written].tobytes()
            sink.write(piece)
            written += len(piece)


def _spell(
    sequence: np.ndarray, spellings: np.ndarray, word_start: np.ndarray, word_length: np.ndarray
) -> np.ndarray:
    """The bytes of a word sequence: uint8[sum of its word lengths]."""
    lengths = word_length[sequence]
    first_output = np.cumsum(lengths) - lengths  # where each word starts in the output
    return spellings[
        np.repeat(word_start[sequence] - first_output, lengths) + np.arange(lengths.sum())
    ]


@dataclass(frozen=True)
class Run:
    model: str
    size_mb: int
    path: str  # "file" or "pipe"
    operation: str
    wall_s: float
    peak_rss_mb: float
    ok: bool

    @property
    def mb_per_s(self) -> float:
        return self.size_mb / self.wall_s if self.wall_s else 0.0


def _timed(command: str, workdir: Path) -> tuple[float, float, bool]:
    """Run a shell command whose deepcompress part is wrapped as `$TIME ...`; (wall s, peak RSS MB, ok)."""
    report = workdir / "time.txt"
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TIME_CMD": f"/usr/bin/time -v -o {report}",
    }
    completed = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        env=environment,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=False,
    )
    text = report.read_text()
    report.unlink()
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
    hours, minutes, seconds = (float(part) if part else 0.0 for part in wall.groups())
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    if completed.returncode != 0:
        print(f"  FAILED: {command}\n  {completed.stderr.strip()}", file=sys.stderr)
    return 3600 * hours + 60 * minutes + seconds, rss_kb / 1024, completed.returncode == 0


CLI = f"$TIME_CMD {sys.executable} -m deepcompress"


def startup_seconds(workdir: Path) -> float:
    """Wall time of starting the CLI and doing nothing: subtracted before comparing times."""
    return min(_timed(f"{CLI} --version > /dev/null", workdir)[0] for _ in range(3))


def measure(model: str, size_mb: int, workdir: Path) -> list[Run]:
    """Compress, decompress and nll one generated input through files and through pipes."""
    source = workdir / "input.txt"
    markov_text(source, size_mb * MB)
    cli = CLI
    commands = {
        ("file", "compress"): f"{cli} compress -f -m {model} input.txt",
        (
            "file",
            "decompress",
        ): f"{cli} decompress -f -o output.txt input.txt.dcz && cmp -s input.txt output.txt",
        ("file", "nll"): f"{cli} nll -m {model} input.txt > /dev/null",
        (
            "pipe",
            "compress",
        ): f"cat input.txt | {cli} compress -m {model} | cat > piped.dcz && cmp -s piped.dcz input.txt.dcz",
        (
            "pipe",
            "decompress",
        ): f"cat piped.dcz | {cli} decompress | cat > output.txt && cmp -s input.txt output.txt",
        ("pipe", "nll"): f"cat input.txt | {cli} nll -m {model} - > /dev/null",
    }
    runs = []
    for (path, operation), command in commands.items():
        wall_s, rss_mb, ok = _timed(command, workdir)
        runs.append(Run(model, size_mb, path, operation, wall_s, rss_mb, ok))
        print(
            f"  {model} {size_mb} MB {path} {operation}: {wall_s:.1f} s, {rss_mb:.0f} MB peak RSS{'' if ok else ', FAILED'}",
            flush=True,
        )
    for name in ("input.txt", "input.txt.dcz", "output.txt", "piped.dcz"):
        (workdir / name).unlink(missing_ok=True)
    return runs


def default_plan() -> list[tuple[str, list[int]]]:
    adaptive = "adaptive" if "adaptive" in models.BUILTIN_MODELS else "histogram-adaptive"
    return [("histogram", [30, 300]), ("histogram-adaptive", [30, 300]), (adaptive, [2, 20])]


def print_report(groups: list[list[Run]], startup_s: float, max_rss_mb: float) -> bool:
    """The table of runs and, per group (one model, several sizes), the largest/smallest ratios.

    True if every run passed. "net time x" subtracts the CLI's start-up time from both runs.
    """
    runs = [run for group in groups for run in group]
    print(
        f"\n{'model':<20} {'MB':>5} {'path':<5} {'operation':<10} {'wall s':>8} {'MB/s':>6} {'peak RSS MB':>12}"
    )
    for run in runs:
        print(
            f"{run.model:<20} {run.size_mb:>5} {run.path:<5} {run.operation:<10} {run.wall_s:>8.1f} {run.mb_per_s:>6.2f} {run.peak_rss_mb:>12.0f}"
        )
    print(f"\nCLI start-up: {startup_s:.2f} s")
    print(
        f"{'model':<20} {'path':<5} {'operation':<10} {'size x':>7} {'time x':>7} {'net time x':>10} {'RSS x':>6}"
    )
    for group in groups:
        by_key = {}
        for run in group:
            by_key.setdefault((run.model, run.path, run.operation), []).append(run)
        for (model, path, operation), same in by_key.items():
            small, large = min(same, key=lambda r: r.size_mb), max(same, key=lambda r: r.size_mb)
            if small is not large:
                net = (large.wall_s - startup_s) / max(small.wall_s - startup_s, 1e-3)
                print(
                    f"{model:<20} {path:<5} {operation:<10} {large.size_mb / small.size_mb:>7.1f} "
                    f"{large.wall_s / small.wall_s:>7.2f} {net:>10.2f} {large.peak_rss_mb / small.peak_rss_mb:>6.2f}"
                )
    worst = max(runs, key=lambda run: run.peak_rss_mb)
    passed = all(run.ok for run in runs) and worst.peak_rss_mb <= max_rss_mb
    print(
        f"\nlargest peak RSS: {worst.peak_rss_mb:.0f} MB ({worst.model} {worst.size_mb} MB {worst.path} {worst.operation}); limit {max_rss_mb:.0f} MB"
    )
    print(
        "all runs succeeded and round-tripped"
        if all(run.ok for run in runs)
        else "SOME RUNS FAILED"
    )
    return passed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="comma-separated models (default: the issue's plan)")
    parser.add_argument("--sizes-mb", default="30,300", help="input sizes in MB for --models")
    parser.add_argument("--max-rss-mb", type=float, default=1024.0, help="peak RSS allowed per run")
    parser.add_argument(
        "--workdir", type=Path, help="where generated files go (default: a temporary directory)"
    )
    args = parser.parse_args()
    if not shutil.which("/usr/bin/time"):
        parser.error("/usr/bin/time is missing (apt-get install -y time)")
    sizes = [int(size) for size in args.sizes_mb.split(",")]
    plan = [(model, sizes) for model in args.models.split(",")] if args.models else default_plan()
    workdir = Path(tempfile.mkdtemp(prefix="deepcompress-scale-", dir=args.workdir))
    try:
        startup_s = startup_seconds(workdir)
        groups = [
            [run for size in model_sizes for run in measure(model, size, workdir)]
            for model, model_sizes in plan
        ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if print_report(groups, startup_s, args.max_rss_mb) else 1


if __name__ == "__main__":
    sys.exit(main())
