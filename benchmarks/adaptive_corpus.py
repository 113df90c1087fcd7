"""Benchmark the `adaptive` model on the Calgary and Canterbury corpora with the real range coder.

For every file (one block, the model sized for the file): encode through `deepcompress.codec`
(preset 1: constriction's range coder, decoded step by step; every later preset, the default
included: the binary coder inside the kernel), decode, verify, and report the compressed bytes, bits/byte, the model's
NLL, the coder's overhead (payload - NLL bits, checked against 0.01% + 64 bits), encode/decode KB/s
and the peak RSS of the process.
Writes `benchmarks/results/adaptive_corpus.{json,md}` and prints the markdown table.

    python benchmarks/adaptive_corpus.py [--preset N] [--corpus DIR] [--files NAME ...] [--set k=v ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deepcompress import codec
from deepcompress.models.adaptive import DEFAULT_PRESET, AdaptiveModel

CALGARY14 = ["bib", "book1", "book2", "geo", "news", "obj1", "obj2", "paper1", "paper2", "pic",
             "progc", "progl", "progp", "trans"]
XZ_BPB = {"bib": 2.201, "book1": 2.720, "book2": 2.225, "geo": 4.154, "news": 2.523,
          "obj1": 3.518, "obj2": 1.992, "paper1": 2.602, "paper2": 2.653, "pic": 0.621,
          "progc": 2.539, "progl": 1.671, "progp": 1.677, "trans": 1.425}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def code_file(model: AdaptiveModel, data: bytes) -> dict:
    """Encode and decode one file as a single block through `deepcompress.codec`; verify."""
    symbols = np.frombuffer(data, np.uint8).astype(np.int64)
    model = model.sized_for(len(symbols))
    start = time.perf_counter()
    block = codec.encode_block(model, model.session(), symbols)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decoded = codec.decode_block(model, model.session(), block)
    decode_s = time.perf_counter() - start
    if not np.array_equal(decoded, symbols):
        raise RuntimeError("round trip failed")
    n = max(len(data), 1)
    return {"bytes": len(data), "compressed": block.payload_bits // 8,
            "bpb": block.payload_bits / n, "nll_bpb": block.nll_bits / n, "lanes": block.lanes,
            "overhead_bits": block.payload_bits - block.nll_bits,
            "overhead_ok": block.payload_bits - block.nll_bits <= 1e-4 * block.nll_bits + 64,
            "encode_kbs": len(data) / encode_s / 1e3, "decode_kbs": len(data) / decode_s / 1e3,
            "peak_rss_mb": peak_rss_mb()}


def markdown(results: dict[str, dict], config: dict) -> str:
    lines = [f"adaptive model, config {json.dumps(config, sort_keys=True)}", "",
             ("| file | bytes | compressed | bpb | NLL bpb | xz -9e | lanes | enc KB/s | dec KB/s "
              "| payload - NLL bits | peak RSS MB |"), "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results.items():
        xz = XZ_BPB.get(name.split("/")[-1]) if name.startswith("calgary/") else None
        lines.append(f"| {name} | {r['bytes']} | {r['compressed']} | {r['bpb']:.3f} | "
                     f"{r['nll_bpb']:.3f} | {'' if xz is None else f'{xz:.3f}'} | {r['lanes']} | "
                     f"{r['encode_kbs']:.0f} | {r['decode_kbs']:.0f} | {r['overhead_bits']:.1f} | "
                     f"{r['peak_rss_mb']:.0f} |")
    cal = {f: results[f"calgary/{f}"] for f in CALGARY14 if f"calgary/{f}" in results}
    if cal:
        total = 8 * sum(r["compressed"] for r in cal.values()) / sum(r["bytes"] for r in cal.values())
        wins = [f for f, r in cal.items() if r["bpb"] < XZ_BPB[f]]
        losses = ", ".join(sorted(set(cal) - set(wins))) or "none"
        summary = (f"Calgary-{len(cal)} total: {total:.4f} bpb; beats xz -9e on "
                   f"{len(wins)}/{len(cal)} files (loses on: {losses})")
        lines += ["", summary]
    bad = [name for name, r in results.items() if not r["overhead_ok"]]
    lines += ["", f"coder overhead <= 0.01% + 64 bits on {len(results) - len(bad)}/{len(results)} files"
              + (f" (over: {', '.join(bad)})" if bad else "")]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=Path("/work/shared/corpus"))
    parser.add_argument("--files", nargs="*", help="only these names (e.g. book1 calgary/pic)")
    parser.add_argument("--set", nargs="*", default=[], help="model overrides key=value")
    parser.add_argument("--preset", type=int, default=DEFAULT_PRESET)
    args = parser.parse_args()
    model = AdaptiveModel(args.preset, **{k: int(v) for k, v in (s.split("=") for s in args.set)})
    model.session()  # warm the numba cache before timing
    results: dict[str, dict] = {}
    for corpus in ("calgary", "canterbury"):
        for path in sorted((args.corpus / corpus).iterdir()):
            if path.name == "SHA256SUMS":
                continue
            name = f"{corpus}/{path.name}"
            if args.files and path.name not in args.files and name not in args.files:
                continue
            results[name] = code_file(model, path.read_bytes())
            r = results[name]
            print(f"{name:24s} {r['bpb']:.4f} bpb  enc {r['encode_kbs']:.0f} KB/s  "
                  f"dec {r['decode_kbs']:.0f} KB/s", flush=True)
    out = REPO / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"config": model.hyperparameters(), "fingerprint": model.fingerprint(),
            "python": platform.python_version(), "machine": platform.machine()}
    stem = f"adaptive_corpus{'' if args.preset == DEFAULT_PRESET else f'_preset{args.preset}'}"
    (out / f"{stem}.json").write_text(json.dumps({"meta": meta, "files": results},
                                                         indent=1))
    text = markdown(results, model.hyperparameters())
    (out / f"{stem}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
