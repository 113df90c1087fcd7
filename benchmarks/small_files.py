"""Many small files of one kind: trained priors against zstd's dictionaries, brotli and xz.

Usage: python benchmarks/small_files.py [--sets stdlib,copyright] [--budgets 112000,1000000]
           [--hybrid-budget 1000000] [--cli-sample 20] [--out STEM]

Sets (every machine with Python and Debian has them; the split is fixed): the paths are sorted,
every second file is held out (index 1, 3, 5, ...), the others train:
  stdlib     Python standard-library modules (`sysconfig.get_paths()["stdlib"]`, *.py, recursive,
             site-packages and dist-packages excluded) under 16 KiB
  copyright  /usr/share/doc/*/copyright under 16 KiB

For each set: the total bytes of the held-out files, each compressed on its own, for the default
level with no prior, a prior (`deepcompress train --model adaptive --size B`) per budget B, the
hybrid (`train --model hybrid --size H`: a prior mixed per bit with a byte MLP trained on the same
files; `--hybrid-budget`), `zstd -19 -D dict` with a dictionary trained on the same files
(`zstd --train --maxdict=B`), `zstd -19`, `brotli -q11` and `xz -9e`. Ours are measured in-process (the API), each output
decoded and compared; the totals also leave out our stream header (`Stats.header_bytes`), which
the container's next format shrinks. Per-file times (start-up included) are the medians over
`--cli-sample` held-out files run one process per file through each command line, as users run
it (with the kernels built ahead of time when `deepcompress build-kernels` has run: `meta.kernels`);
the first file's compress time is also given: it starts with this run's primed-state cache empty,
so with a primed prior it is the process that primes (`models.primed_cache`). Writes STEM.json, STEM.md and STEM.png (bar chart, needs matplotlib), by default under
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import glob
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import _jit, api, bench
from deepcompress.models import primed_cache, prior

LIMIT = 16 * 1024
OURS = [sys.executable, "-m", "deepcompress"]


def stdlib_paths() -> list[str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return [str(p) for p in root.rglob("*.py")
            if p.is_file() and p.stat().st_size < LIMIT and not {"site-packages", "dist-packages"} & set(p.parts)]


def copyright_paths() -> list[str]:
    return [p for p in glob.glob("/usr/share/doc/*/copyright") if os.path.isfile(p) and os.path.getsize(p) < LIMIT]


SETS = {"stdlib": stdlib_paths, "copyright": copyright_paths}


def split(paths: list[str]) -> tuple[list[str], list[str]]:
    """(training, held out): sorted paths, every second one held out."""
    paths = sorted(paths)
    return paths[0::2], paths[1::2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _run(command: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(command, input=stdin, capture_output=True, check=True, env=_env()).stdout


def ours_total(held: list[bytes], model: api.ModelSpec | None) -> dict:
    """Total and header bytes over the held-out files, each its own stream; every one decoded."""
    total = header = 0
    started = time.perf_counter()
    for data in held:
        sink = io.BytesIO()
        stats = api.compress_stream(io.BytesIO(data), sink, model)
        if api.decompress(sink.getvalue(), model) != data:
            raise RuntimeError("a held-out file did not round-trip")
        total += stats.compressed_bytes
        header += stats.header_bytes
    return {"bytes": total, "header_bytes": header, "in_process_s": time.perf_counter() - started}


def peer_total(command: list[str], decompress: list[str], paths: list[str]) -> dict:
    total = 0
    for path in paths:
        blob = _run([*command, path])
        if _run(decompress, blob) != Path(path).read_bytes():
            raise RuntimeError(f"{command[0]} did not restore {path}")
        total += len(blob)
    return {"bytes": total, "header_bytes": None}


def cli_times(compress: list[str], decompress: list[str], paths: list[str]) -> dict:
    """Median wall seconds per file of one process compressing, one decompressing (start-up
    included), and the first file's compress time, which starts with an empty primed-state cache
    (`models.primed_cache`: a primed prior is primed there, later processes restore it)."""
    if os.environ.get(primed_cache.ENVIRONMENT):  # this run's own cache (`main`): emptied
        shutil.rmtree(os.environ[primed_cache.ENVIRONMENT], ignore_errors=True)
    c, d = [], []
    for path in paths:
        start = time.perf_counter()
        blob = _run([*compress, path])
        c.append(time.perf_counter() - start)
        start = time.perf_counter()
        if _run(decompress, blob) != Path(path).read_bytes():
            raise RuntimeError(f"{compress} did not restore {path}")
        d.append(time.perf_counter() - start)
    return {"compress_s": statistics.median(c), "decompress_s": statistics.median(d), "first_compress_s": c[0]}


def measure_set(name: str, budgets: list[int], hybrid_budget: int, cli_sample: int, folder: Path) -> dict:
    train_paths, held_paths = split(SETS[name]())
    train = [Path(p).read_bytes() for p in train_paths]
    held = [Path(p).read_bytes() for p in held_paths]
    sample = held_paths[:: max(1, len(held_paths) // cli_sample)][:cli_sample]
    rows: dict[str, dict] = {}
    print(f"{name}: {len(train)} training files, {len(held)} held out ({sum(map(len, held))} bytes)", file=sys.stderr)
    rows["deepcompress default"] = ours_total(held, None)
    rows["deepcompress default"] |= cli_times([*OURS, "compress", "-c"], [*OURS, "decompress", "-c"], sample)
    for budget in budgets:
        model_path = folder / f"{name}-{budget}.dcm"
        start = time.perf_counter()
        _run([*OURS, "train", "--model", "adaptive", "--size", str(budget), "-q", "-f", "-o", str(model_path),
              *train_paths])
        train_s = time.perf_counter() - start
        model = api.load_model(model_path)
        label = f"deepcompress prior {budget // 1000} KB"
        rows[label] = ours_total(held, model) | {
            "model_file_bytes": model_path.stat().st_size, "train_s": train_s,
            "history_bytes": model.hyperparameters()["history_bytes"]}
        rows[label] |= cli_times([*OURS, "compress", "-c", "-m", str(model_path)],
                                 [*OURS, "decompress", "-c", "-m", str(model_path)], sample)
        dictionary = folder / f"{name}-{budget}.zdict"
        _run(["zstd", "-q", "-f", "--train", *train_paths, f"--maxdict={budget}", "-o", str(dictionary)])
        label = f"zstd -19 -D ({budget // 1000} KB dict)"
        rows[label] = peer_total(["zstd", "-19", "-q", "-c", "-D", str(dictionary)],
                                 ["zstd", "-d", "-q", "-c", "-D", str(dictionary)], held_paths)
        rows[label] |= cli_times(["zstd", "-19", "-q", "-c", "-D", str(dictionary)],
                                 ["zstd", "-d", "-q", "-c", "-D", str(dictionary)], sample)
        rows[label]["dictionary_bytes"] = dictionary.stat().st_size
    if hybrid_budget:
        model_path = folder / f"{name}-hybrid.dcm"
        start = time.perf_counter()
        _run([*OURS, "train", "--model", "hybrid", "--size", str(hybrid_budget), "-q", "-f", "-o", str(model_path),
              *train_paths])
        train_s = time.perf_counter() - start
        label = f"deepcompress hybrid {hybrid_budget // 1000} KB"
        rows[label] = ours_total(held, api.load_model(model_path)) | {
            "model_file_bytes": model_path.stat().st_size, "train_s": train_s}
        rows[label] |= cli_times([*OURS, "compress", "-c", "-m", str(model_path)],
                                 [*OURS, "decompress", "-c", "-m", str(model_path)], sample)
    for label, command, decompress in (
        ("zstd -19", ["zstd", "-19", "-q", "-c"], ["zstd", "-d", "-q", "-c"]),
        ("brotli -q11", ["brotli", "-q", "11", "-c"], ["brotli", "-d", "-c"]),
        ("xz -9e", ["xz", "-9e", "-c"], ["xz", "-d", "-c"]),
    ):
        rows[label] = peer_total(command, decompress, held_paths) | cli_times(command, decompress, sample)
    for label, row in rows.items():
        print(f"  {label}: {row['bytes']}", file=sys.stderr)
    return {"set": name, "held_out_files": len(held), "held_out_bytes": sum(map(len, held)),
            "training_files": len(train), "training_bytes": sum(map(len, train)), "cli_sample": len(sample),
            "rows": rows}


def markdown(results: list[dict]) -> str:
    lines = []
    for result in results:
        zstd_112 = next((row["bytes"] for label, row in result["rows"].items() if label.startswith("zstd -19 -D (112")),
                        None)
        title = (f"### {result['set']}: {result['held_out_files']} held-out files, {result['held_out_bytes']:,} bytes "
                 f"(trained on {result['training_files']} files, {result['training_bytes']:,} bytes)")
        columns = ("| compressor | total bytes | total minus our header | × zstd -D 112 KB "
                   "| per file: compress / decompress (ms) | first file's compress (ms) |")
        lines += [title, "", columns, "|---|---:|---:|---:|---:|---:|"]
        for label, row in result["rows"].items():
            minus = f"{row['bytes'] - row['header_bytes']:,}" if row["header_bytes"] is not None else "–"
            ratio = f"{row['bytes'] / zstd_112:.3f}" if zstd_112 else "–"
            lines.append(f"| {label} | {row['bytes']:,} | {minus} | {ratio} | "
                         f"{1000 * row['compress_s']:.0f} / {1000 * row['decompress_s']:.0f} | "
                         f"{1000 * row['first_compress_s']:.0f} |")
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axes = plt.subplots(1, len(results), figsize=(6.5 * len(results), 4.5), squeeze=False)
    for axis, result in zip(axes[0], results):
        labels = list(result["rows"])
        sizes = [result["rows"][label]["bytes"] / 1000 for label in labels]
        colors = ["tab:red" if label.startswith("deepcompress") else "tab:blue" for label in labels]
        axis.barh(labels, sizes, color=colors)
        for label, row in result["rows"].items():
            if row["header_bytes"]:
                axis.barh([label], [(row["bytes"] - row["header_bytes"]) / 1000], color="darkred")
        axis.invert_yaxis()
        axis.set_xlabel("total compressed kB (dark: without our stream header)")
        axis.set_title(f"{result['set']}: {result['held_out_files']} files, {result['held_out_bytes'] / 1e6:.2f} MB")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="stdlib,copyright")
    parser.add_argument("--budgets", default="112000,1000000")
    parser.add_argument("--hybrid-budget", type=int, default=1000000, help="the hybrid's size limit (0: no hybrid row)")
    parser.add_argument("--cli-sample", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "small_files")
    args = parser.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    bench.compile_bytecode()  # start-up as an installed package's
    with tempfile.TemporaryDirectory(prefix="small-files-") as folder:
        os.environ[primed_cache.ENVIRONMENT] = str(Path(folder) / "primed")  # this run's, for every process
        results = [measure_set(name, budgets, args.hybrid_budget, args.cli_sample, Path(folder)) for name in args.sets.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "limit_bytes": LIMIT,
            "prior_module": prior.__name__,
            "kernels": _jit.kernel_origin()}
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "sets": results}, indent=1) + "\n")
    table = markdown(results)
    args.out.with_suffix(".md").write_text(table)
    plotted = plot(results, args.out.with_suffix(".png"))
    print(table)
    if not plotted:
        print("matplotlib missing: no chart", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
