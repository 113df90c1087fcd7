"""A text prior trained without Calgary, on Calgary's text files: does it beat the default level?

Usage: python benchmarks/text_prior.py [--budgets 112000,1000000] [--corpus DIR] [--out STEM]

Training data (every Debian machine has some): the English documentation under /usr/share/doc,
files named README*, NEWS*, *.txt or *.md (gzip-compressed ones decompressed), sorted by path,
each under 1 MiB, at most 8 MB in all. Each Calgary text file (the text members of the 14-file
set) is compressed on its own, in-process, with the default level and with each prior; every
output is decoded and compared. Writes STEM.json and STEM.md (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import deepcompress
from deepcompress.models import prior

TEXT = ["bib", "book1", "book2", "news", "paper1", "paper2", "progc", "progl", "progp", "trans"]
MAX_FILE = 1 << 20
MAX_TOTAL = 8_000_000


def doc_text() -> list[bytes]:
    """The training files: /usr/share/doc README*, NEWS*, *.txt, *.md (gunzipped), sorted paths."""
    files, total = [], 0
    for path in sorted(Path("/usr/share/doc").rglob("*")):
        name = path.name.removesuffix(".gz")
        if not path.is_file() or not (name.startswith(("README", "NEWS")) or name.endswith((".txt", ".md"))):
            continue
        data = gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()
        if 0 < len(data) < MAX_FILE and total + len(data) <= MAX_TOTAL:
            files.append(data)
            total += len(data)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="112000,1000000")
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "text_prior")
    args = parser.parse_args()
    calgary = args.corpus / "calgary"
    if not calgary.is_dir():
        print(f"no corpus at {calgary}: nothing measured", file=sys.stderr)
        return 0
    training = doc_text()
    texts = {name: (calgary / name).read_bytes() for name in TEXT}
    rows = {name: {"bytes": len(data), "default": len(deepcompress.compress(data))} for name, data in texts.items()}
    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "training_files": len(training),
            "training_bytes": sum(map(len, training)), "priors": {}}
    for budget in (int(b) for b in args.budgets.split(",")):
        started = time.perf_counter()
        model = prior.train_prior(training, 5, budget)
        meta["priors"][budget] = {"train_s": time.perf_counter() - started, **model.hyperparameters()}
        for name, data in texts.items():
            blob = deepcompress.compress(data, model=model)
            if deepcompress.decompress(blob, model=model) != data:
                raise RuntimeError(f"{name} did not round-trip")
            rows[name][f"prior {budget // 1000} KB"] = len(blob)
        print(f"prior {budget}: {sum(r[f'prior {budget // 1000} KB'] for r in rows.values())}", file=sys.stderr)
    columns = [c for c in next(iter(rows.values())) if c != "bytes"]
    title = (f"Trained on {meta['training_files']} /usr/share/doc text files ({meta['training_bytes']:,} bytes); "
             "Calgary text files each compressed on their own (bytes, and the change against the default).")
    lines = [title, "",
             "| file | bytes | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    totals = {c: sum(r[c] for r in rows.values()) for c in ["bytes", *columns]}
    for name, row in [*rows.items(), ("total", totals)]:
        cells = [f"{row[c]:,}" + (f" ({100 * (row[c] / row['default'] - 1):+.2f}%)" if c != "default" else "")
                 for c in columns]
        lines.append(f"| {name} | {row['bytes']:,} | " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "files": rows}, indent=1) + "\n")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
