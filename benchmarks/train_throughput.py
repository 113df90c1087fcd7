"""Training throughput of the byte MLP: one process against N processes under torchrun (DDP).

Usage: python benchmarks/train_throughput.py [--processes 1,2] [--threads 1] [--epochs 1]
           [--bytes 300000] [--files NAME ...] [--corpus DIR] [--out STEM]

Trains `deepcompress train --model mlp` (its defaults, --epochs and --threads as given) on the
first --bytes of each Calgary file named (default book2 and news: two shards of equal size), once
per process count: 1 as a plain process, N > 1 as `torchrun --standalone --nproc_per_node=N -m
deepcompress -- train ...`. Reports samples (training rows, all processes) per second of the
training loop, as the training log records it, the wall time of the whole command (start-up
included) and the exact model's validation bits/byte. Writes STEM.json, STEM.md and STEM.png
(samples/s per process count; needs matplotlib), by default benchmarks/results/train_throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def run(processes: int, threads: int, epochs: int, files: list[Path], work: Path) -> dict:
    log, model = work / f"p{processes}.json", work / f"p{processes}.dcm"
    train = ["train", "-q", "--epochs", str(epochs), "--threads", str(threads), "--log", str(log), "-f",
             "-o", str(model), *map(str, files)]
    if processes == 1:
        command = [sys.executable, "-m", "deepcompress", *train]
    else:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        # `--` ends torchrun's options: it would take abbreviations such as --log for its own.
        command = [torchrun, "--standalone", f"--nproc_per_node={processes}", "-m", "deepcompress", "--", *train]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    record = json.loads(log.read_text())
    return {"processes": processes, "threads_per_process": threads, "samples_per_second": record["samples_per_second"],
            "train_seconds": record["seconds"], "wall_seconds": wall, "steps": record["history"][-1]["step"],
            "validation_bits_integer": record["integer_validation_bits"], "load_average": os.getloadavg()[0]}


def markdown(rows: list[dict], note: str) -> str:
    base = rows[0]["samples_per_second"]
    lines = ["| processes | threads each | samples/s | vs first row | training s | wall s | steps | validation bits/byte | load |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['processes']} | {r['threads_per_process']} | {r['samples_per_second']:,.0f} "
              f"| {r['samples_per_second'] / base:.2f}x | {r['train_seconds']:.1f} | {r['wall_seconds']:.1f} | {r['steps']} "
              f"| {r['validation_bits_integer']:.4f} | {r['load_average']:.1f} |" for r in rows]
    return "\n".join(lines) + f"\n\n{note}\n"


def plot(rows: list[dict], path: Path) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.bar([str(r["processes"]) for r in rows], [r["samples_per_second"] for r in rows])
    axes.set_xlabel("processes (torchrun, gloo)")
    axes.set_ylabel("training samples / s")
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", default="1,2", help="comma-separated process counts")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--bytes", type=int, default=300_000, help="bytes taken from the start of each file")
    parser.add_argument("--files", nargs="+", default=["book2", "news"], help="Calgary file names")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "train_throughput")
    options = parser.parse_args()
    if not (options.corpus / "calgary").is_dir():
        print(f"corpus not found at {options.corpus}", file=sys.stderr)
        return 1
    options.out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        files = []
        for name in options.files:
            files.append(work / name)
            files[-1].write_bytes((options.corpus / "calgary" / name).read_bytes()[: options.bytes])
        for processes in (int(p) for p in options.processes.split(",")):
            rows.append(run(processes, options.threads, options.epochs, files, work))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    note = (f"Files: the first {options.bytes:,} bytes of {', '.join(options.files)}; {options.epochs} epoch(s); "
            f"{os.cpu_count()} CPUs; load = 1-minute load average after the run.")
    options.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "note": note}, indent=2))
    table = markdown(rows, note)
    options.out.with_suffix(".md").write_text(table)
    plot(rows, options.out.with_suffix(".png"))
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
