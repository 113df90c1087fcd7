"""The ratio/speed frontier: our levels beside zpaq, xz, zstd, brotli, bzip2 and gzip, in one run.

Usage: python benchmarks/frontier.py [--ours LABEL=ARGS ...] [--peers NAME,...]
           [--sets calgary14,canterbury11] [--files NAME ...] [--repeat N] [--corpus DIR] [--out STEM]

Every tool runs as a whole process through its command line, single-threaded, on each file on
its own (start-up included), timed from here (wall seconds) with peak RSS from `/usr/bin/time`;
every output is decompressed and compared byte for byte. Speeds are the median over `--repeat`
runs, per file, and MB/s over a set are total bytes / total seconds. A peer that is not installed
is skipped with a note (`apt-get install zpaq brotli` provides the two Debian lacks by default).
Whether our kernels were built ahead of time (`deepcompress build-kernels`, the set-up's) or run on
numba's JIT is noted; DEEPCOMPRESS_KERNELS=jit measures the JIT. The package's .pyc files are
written first (`bench.compile_bytecode`), so our start-up is an installed package's.

Ours default to the CLI's default, plus `--level 1`, `--level 2`, `--level 3` and `--level 9` (one level
of each other preset) when the CLI has levels; add others with `--ours "label=-m histogram-adaptive"`. Writes STEM.json, STEM.md and STEM.png
(compress speed, log axis, against bits/byte; needs matplotlib), by default under
benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import bench

DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
SETS = {
    "calgary14": (
        "calgary",
        [
            "bib",
            "book1",
            "book2",
            "geo",
            "news",
            "obj1",
            "obj2",
            "paper1",
            "paper2",
            "pic",
            "progc",
            "progl",
            "progp",
            "trans",
        ],
    ),
    "canterbury11": (
        "canterbury",
        [
            "alice29.txt",
            "asyoulik.txt",
            "cp.html",
            "fields.c",
            "grammar.lsp",
            "kennedy.xls",
            "lcet10.txt",
            "plrabn12.txt",
            "ptt5",
            "sum",
            "xargs.1",
        ],
    ),
}
OURS = [sys.executable, "-m", "deepcompress"]


@dataclass(frozen=True)
class Tool:
    """How to run one compressor: {src}, {dst} and {dir} are filled in per file.

    compress writes the compressed form to {dst}; decompress restores it to {dst}.restored.
    """

    label: str
    program: str
    compress: str
    decompress: str


def peer_tools() -> list[Tool]:
    """The peers users would otherwise pick, each single-threaded at its strongest common setting."""
    tools = [
        Tool("gzip -9", "gzip", "gzip -9 -n -c {src} > {dst}", "gzip -d -c {dst} > {dst}.restored"),
        Tool(
            "bzip2 -9", "bzip2", "bzip2 -9 -c {src} > {dst}", "bzip2 -d -c {dst} > {dst}.restored"
        ),
        Tool("xz -9e", "xz", "xz -9e -T1 -c {src} > {dst}", "xz -d -T1 -c {dst} > {dst}.restored"),
        Tool(
            "zstd -19",
            "zstd",
            "zstd -q -19 -T1 -c {src} > {dst}",
            "zstd -q -d -c {dst} > {dst}.restored",
        ),
        Tool(
            "brotli -q11",
            "brotli",
            "brotli -q 11 -w 24 -c {src} > {dst}",
            "brotli -d -c {dst} > {dst}.restored",
        ),
    ]
    for level in (3, 4, 5):
        # zpaq archives store the path: run it from the file's folder on its bare name, extract beside it.
        tools.append(
            Tool(
                f"zpaq -m{level}",
                "zpaq",
                f"cd {{srcdir}} && zpaq a {{dst}} {{name}} -m{level} -t1 >/dev/null",
                "cd {dir} && zpaq x {dst} -to {dir}/x -t1 >/dev/null && mv {dir}/x/{name} {dst}.restored",
            )
        )
    return tools


def our_tools(specs: list[str] | None) -> list[Tool]:
    """Our command line as users call it (the top-level command, `-d` to decompress); each spec is
    LABEL=ARGS, ARGS given to both directions (e.g. `--level 1`, `-m histogram-adaptive`)."""
    ours = " ".join(shlex.quote(part) for part in OURS)
    if specs is None:
        specs = ["deepcompress default="]
        helptext = subprocess.run([*OURS, "--help"], check=False, capture_output=True, text=True, env=_env()).stdout
        if "--level" in helptext:
            specs = ["deepcompress -1=--level 1", "deepcompress -2=--level 2", "deepcompress -3=--level 3",
                     *specs, "deepcompress -9=--level 9"]
    tools = []
    for spec in specs:
        label, _, arguments = spec.partition("=")
        tools.append(
            Tool(
                label,
                sys.executable,
                f"{ours} {arguments} -c {{src}} > {{dst}}",
                f"{ours} -d -c {{dst}} > {{dst}}.restored",
            )
        )
    return tools


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def our_kernels() -> str:
    """How our processes get their kernels: built ahead of time (`deepcompress build-kernels`) or numba's JIT."""
    probe = "from deepcompress import _jit; print(_jit.kernel_origin())"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=_env(),
                          check=True).stdout.strip()


@dataclass(frozen=True)
class Result:
    """One file under one tool. Times in seconds (medians), RSS in MB."""

    tool: str
    set: str
    file: str
    original_bytes: int
    compressed_bytes: int
    compress_s: float
    decompress_s: float
    compress_rss_mb: float
    decompress_rss_mb: float


def _timed(command: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of a shell command; raises if it fails."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = (
            time.perf_counter()
        )  # /usr/bin/time's own clock has 10 ms steps: too coarse for small files
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", report.name, "sh", "-c", command],
            check=False,  # a failure is reported below, with its stderr
            capture_output=True,
            env=_env(),
        )
        seconds = time.perf_counter() - start
        if done.returncode:
            raise RuntimeError(
                f"{command!r} failed: {done.stderr.decode(errors='replace').strip()[-300:]}"
            )
        kilobytes = report.read().split()[-1]
    return seconds, float(kilobytes) / 1024


def measure(tool: Tool, set_name: str, path: Path, repeat: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="frontier-") as folder:
        dst = Path(folder) / "out.zpaq"  # zpaq appends .zpaq to a name without it
        fields = {
            "src": shlex.quote(str(path)),
            "srcdir": shlex.quote(str(path.parent)),
            "name": path.name,
            "dst": str(dst),
            "dir": folder,
        }
        compress, decompress = [], []
        for _ in range(repeat):
            dst.unlink(missing_ok=True)
            compress.append(_timed(tool.compress.format(**fields)))
            restored = Path(f"{dst}.restored")
            restored.unlink(missing_ok=True)
            shutil.rmtree(Path(folder) / "x", ignore_errors=True)
            decompress.append(_timed(tool.decompress.format(**fields)))
            if restored.read_bytes() != path.read_bytes():
                raise RuntimeError(f"{tool.label} did not restore {path.name}")
        return Result(
            tool.label,
            set_name,
            path.name,
            path.stat().st_size,
            dst.stat().st_size,
            statistics.median(t for t, _ in compress),
            statistics.median(t for t, _ in decompress),
            max(m for _, m in compress),
            max(m for _, m in decompress),
        )


def summarise(results: list[Result]) -> list[dict]:
    """Per tool and set: total bytes, bits/byte, MB/s both ways (total bytes / total time), peak RSS."""
    rows = []
    for tool in dict.fromkeys(r.tool for r in results):
        for set_name in dict.fromkeys(r.set for r in results):
            subset = [r for r in results if r.tool == tool and r.set == set_name]
            if not subset:
                continue
            original = sum(r.original_bytes for r in subset)
            compressed = sum(r.compressed_bytes for r in subset)
            rows.append(
                {
                    "tool": tool,
                    "set": set_name,
                    "files": len(subset),
                    "original_bytes": original,
                    "compressed_bytes": compressed,
                    "bits_per_byte": 8 * compressed / original,
                    "compress_mb_s": original / 1e6 / sum(r.compress_s for r in subset),
                    "decompress_mb_s": original / 1e6 / sum(r.decompress_s for r in subset),
                    "peak_rss_mb": max(max(r.compress_rss_mb, r.decompress_rss_mb) for r in subset),
                }
            )
    return rows


def markdown(results: list[Result], summary: list[dict], skipped: list[str], kernels: str) -> str:
    lines = [
        f"Our kernels: {kernels}.",
        "",
        "| tool | set | total bytes | bpb | compress MB/s | decompress MB/s | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in summary:
        lines.append(
            f"| {row['tool']} | {row['set']} | {row['compressed_bytes']:,} | {row['bits_per_byte']:.3f} "
            f"| {row['compress_mb_s']:.3f} | {row['decompress_mb_s']:.3f} | {row['peak_rss_mb']:.0f} |"
        )
    files = list(dict.fromkeys((r.set, r.file) for r in results))
    tools = list(dict.fromkeys(r.tool for r in results))
    lines += [
        "",
        "Per file, bits/byte:",
        "",
        "| file | " + " | ".join(tools) + " |",
        "|---|" + "---:|" * len(tools),
    ]
    by_key = {(r.tool, r.set, r.file): r for r in results}
    for set_name, name in files:
        cells = []
        for tool in tools:
            r = by_key.get((tool, set_name, name))
            cells.append(f"{8 * r.compressed_bytes / r.original_bytes:.3f}" if r else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped)]
    return "\n".join(lines) + "\n"


def plot(summary: list[dict], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sets = list(dict.fromkeys(row["set"] for row in summary))
    figure, axes = plt.subplots(1, len(sets), figsize=(6 * len(sets), 4.5), squeeze=False)
    for axis, set_name in zip(axes[0], sets):
        for row in (r for r in summary if r["set"] == set_name):
            ours = row["tool"].split()[0] not in {"gzip", "bzip2", "xz", "zstd", "brotli", "zpaq"}
            axis.scatter(
                row["compress_mb_s"],
                row["bits_per_byte"],
                marker="o" if ours else "s",
                color="tab:red" if ours else "tab:blue",
            )
            axis.annotate(
                row["tool"],
                (row["compress_mb_s"], row["bits_per_byte"]),
                fontsize=8,
                xytext=(4, 3),
                textcoords="offset points",
            )
        axis.set_xscale("log")
        axis.set_xlabel("compress speed, MB/s (whole process, log scale)")
        axis.set_ylabel("bits per byte (total)")
        axis.set_title(f"{set_name}: lower and further right is better")
        axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--ours", action="append", help="LABEL=ARGS for `deepcompress compress/decompress`"
    )
    parser.add_argument(
        "--peers", default="all", help="comma-separated peer labels' programs, 'all' or 'none'"
    )
    parser.add_argument("--sets", default="calgary14,canterbury11")
    parser.add_argument("--files", nargs="*", help="only these file names")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "frontier")
    options = parser.parse_args()
    bench.compile_bytecode()  # start-up as an installed package's
    tools, skipped, kernels = our_tools(options.ours), [], our_kernels()
    if options.peers != "none":
        wanted = None if options.peers == "all" else set(options.peers.split(","))
        for tool in peer_tools():
            if wanted is not None and tool.program not in wanted:
                continue
            if shutil.which(tool.program) is None:
                skipped.append(f"{tool.label} ({tool.program} not installed)")
            else:
                tools.append(tool)
    results = []
    for set_name in options.sets.split(","):
        folder, names = SETS[set_name]
        paths = [
            options.corpus / folder / name
            for name in names
            if not options.files or name in options.files
        ]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            print(
                f"corpus files missing under {options.corpus} (e.g. {missing[0]}): nothing to measure",
                file=sys.stderr,
            )
            return 1
        for tool in tools:
            for path in paths:
                results.append(measure(tool, set_name, path, options.repeat))
                r = results[-1]
                print(
                    f"{set_name} {path.name}: {tool.label} {8 * r.compressed_bytes / r.original_bytes:.3f} bpb "
                    f"{r.compress_s:.2f}s/{r.decompress_s:.2f}s",
                    file=sys.stderr,
                    flush=True,
                )
    summary = summarise(results)
    options.out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{options.out}.json").write_text(
        json.dumps(
            {"results": [asdict(r) for r in results], "summary": summary, "skipped": skipped,
             "kernels": kernels},
            indent=1,
        )
        + "\n"
    )
    report = markdown(results, summary, skipped, kernels)
    Path(f"{options.out}.md").write_text(report)
    if not plot(summary, Path(f"{options.out}.png")):
        print("matplotlib not installed: no plot", file=sys.stderr)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
