"""Corpus benchmark: every Calgary and Canterbury file under each model, vs gzip/bzip2/xz.

Usage: python benchmarks/corpus.py [-m MODEL ...] [--repeat N] [--corpus DIR] [--files NAME ...]
Writes benchmarks/results/corpus-<models>.json and .md and prints the table.
Files are read by path from ../shared/corpus (see its SHA256SUMS); nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deepcompress import bench

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"
CALGARY_14 = ["bib", "book1", "book2", "geo", "news", "obj1", "obj2", "paper1", "paper2", "pic", "progc", "progl", "progp", "trans"]


def corpus_files(corpus: Path) -> list[Path]:
    """Files listed in each corpus folder's SHA256SUMS, Calgary first."""
    files = []
    for folder in ("calgary", "canterbury"):
        sums = corpus / folder / "SHA256SUMS"
        if sums.exists():
            files += [corpus / folder / line.split()[-1] for line in sums.read_text().splitlines() if line.strip()]
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-m", "--model", action="append", help="model(s) (default: histogram, histogram-adaptive)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per file; medians reported")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--files", nargs="*", help="only these file names")
    options = parser.parse_args()
    files = corpus_files(options.corpus)
    if options.files:
        files = [path for path in files if path.name in options.files]
    if not files:
        print(f"no corpus files under {options.corpus}: nothing to measure", file=sys.stderr)
        return 1
    models = options.model or ["histogram", "histogram-adaptive"]
    rows = []
    for model in models:
        for path in files:
            rows.append(bench.measure(path, model, options.repeat))
            print(f"{path.name}: {model} {rows[-1].bits_per_byte:.3f} bits/byte", file=sys.stderr, flush=True)
    calgary = [row for row in rows if row.file in CALGARY_14]
    table = bench.markdown_table(rows)
    summary = []
    for model in models:
        subset = [row for row in calgary if row.model == model]
        if subset:
            total = sum(row.original_bytes for row in subset)
            beats = sum(row.compressed_bytes < row.xz_bytes for row in subset)
            summary.append(
                f"Calgary 14-file total, {model}: {8 * sum(r.compressed_bytes for r in subset) / total:.3f} bits/byte "
                f"(xz -9e {8 * sum(r.xz_bytes for r in subset) / total:.3f}); beats xz on {beats} of {len(subset)} files"
            )
    report = table + "\n" + "\n".join(summary) + "\n"
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = "corpus-" + "-".join(model.replace("/", "_") for model in models)
    (out / f"{stem}.json").write_text(json.dumps(bench.as_dicts(rows), indent=1) + "\n")
    (out / f"{stem}.md").write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
