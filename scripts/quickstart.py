"""The README's quick start: compress, verify and decompress a file with the CLI, then compare.

Usage: python scripts/quickstart.py [FILE] [-m MODEL ...]   (default: samples/sample.txt, every built-in model)
Exits non-zero if any round trip fails.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from deepcompress import bench, models

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str) -> str:
    """Run the deepcompress CLI, echoing the command; return its stdout."""
    print("$ deepcompress " + " ".join(args), flush=True)
    result = subprocess.run([sys.executable, "-m", "deepcompress", *args], capture_output=True, text=True, check=True)
    print(result.stderr, end="", flush=True)
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(ROOT / "samples" / "sample.txt"))
    parser.add_argument("-m", "--model", action="append", help="model(s) to run (default: all built-ins)")
    options = parser.parse_args()
    data = Path(options.file).read_bytes()
    baselines = bench.baseline_sizes(data)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        original = Path(work) / Path(options.file).name
        original.write_bytes(data)
        for model in options.model or list(models.BUILTIN_MODELS):
            compressed = Path(work) / f"{original.name}.{model}.dcz"
            restored = Path(work) / f"{original.name}.{model}.out"
            run("compress", "-v", "-m", model, "-o", str(compressed), str(original))
            run("test", str(compressed))
            run("decompress", "-o", str(restored), str(compressed))
            if restored.read_bytes() != data:
                print(f"FAILED: {model} did not reproduce the input", file=sys.stderr)
                return 1
            info = json.loads(run("info", "--json", str(compressed)))
            rows.append((model, info["compressed_bytes"], info["nll_bits"] / len(data) if data else 0.0))
    print(f"\n{options.file}: {len(data)} bytes, every round trip byte-identical\n")
    print(f"| {'compressor':<32} | {'bytes':>8} | {'bits/byte':>9} | {'model NLL bits/byte':>19} |")
    print(f"|{'-' * 34}|{'-' * 10}|{'-' * 11}|{'-' * 21}|")
    for model, size, nll in rows:
        print(f"| {'deepcompress ' + model:<32} | {size:>8} | {8 * size / len(data):>9.3f} | {nll:>19.3f} |")
    for name, label in (("gzip", "gzip -9"), ("bz2", "bzip2 -9"), ("xz", "xz -9e")):
        print(f"| {label:<32} | {baselines[name]:>8} | {8 * baselines[name] / len(data):>9.3f} | {'':>19} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
