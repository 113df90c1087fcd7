"""Multi-core coding (`threads=`, CLI -T): speed-up of -T2 over -T1 both ways, and what segments cost.

An input of 8,000,000 bytes is made of distinct files one after another: Calgary, Canterbury,
then this Python's standard library sources (*.py, sorted) to fill it up, each file once (a file
whose bytes equal an earlier one's is left out: Canterbury's ptt5 is Calgary's pic), so no segment
repeats another (`--copies-of-book1` uses book1 ×10 with one byte changed per copy instead: there
the second segment is almost all copies of the first, `longrange`). It is compressed and
decompressed through the API with 1 and 2 threads (wall and
CPU time, best of --repeat), the outputs are checked to be identical, and its size is set
beside one member of the whole input (`SEGMENT_BYTES` raised: what segmenting costs).

    python benchmarks/threads.py [--repeat 1] [--out benchmarks/results/threads]

Writes JSON and markdown. The machine's load average is recorded: on a shared machine the
speed-up is only as good as the cores that were free.
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import api

CORPUS = ROOT.parent / "shared" / "corpus"
INPUT_BYTES = 8_000_000


def corpus_input(copies_of_book1: bool) -> bytes:
    """~8 MB of corpus files (see the module docstring); SystemExit if the corpus is absent."""
    if not CORPUS.is_dir():
        raise SystemExit(f"skipped: no corpus at {CORPUS}")
    if copies_of_book1:
        book1 = bytearray((CORPUS / "calgary" / "book1").read_bytes())
        copies = []
        for index in range(10):
            book1[index * 7919 % len(book1)] ^= 0x20  # a small edit per copy
            copies.append(bytes(book1))
        return b"".join(copies)
    files = sorted((CORPUS / "calgary").iterdir()) + sorted((CORPUS / "canterbury").iterdir())
    files += sorted(Path(os.__file__).parent.glob("*.py"))
    contents = (path.read_bytes() for path in files if path.name != "SHA256SUMS")
    return b"".join(dict.fromkeys(contents))[:INPUT_BYTES]  # each distinct content once, in order


def timed(function, repeat: int) -> tuple[float, float, object]:
    """(best wall seconds, its CPU seconds, the result) over `repeat` runs."""
    best = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if best is None or wall < best[0]:
            best = (wall, cpu, result)
    return best


def compress(data: bytes, threads: int) -> bytes:
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(data), sink, threads=threads)
    return sink.getvalue()


def decompress(blob: bytes, threads: int) -> bytes:
    sink = io.BytesIO()
    api.decompress_stream(io.BytesIO(blob), sink, threads=threads)
    return sink.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--copies-of-book1", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "threads"))
    args = parser.parse_args()
    data = corpus_input(args.copies_of_book1)
    compress(b"warm up the kernels" * 100, 1)
    load_before = os.getloadavg()
    rows, blobs = {}, {}
    for threads in (1, 2):
        wall, cpu, blob = timed(functools.partial(compress, data, threads), args.repeat)
        blobs[threads] = blob
        rows[f"compress -T{threads}"] = {"wall_s": wall, "cpu_s": cpu, "bytes": len(blob)}
    if blobs[1] != blobs[2]:
        raise SystemExit("FAIL: the output depends on the thread count")
    for threads in (1, 2):
        wall, cpu, out = timed(functools.partial(decompress, blobs[1], threads), args.repeat)
        if out != data:
            raise SystemExit(f"FAIL: -T{threads} did not decode the input")
        rows[f"decompress -T{threads}"] = {"wall_s": wall, "cpu_s": cpu}
    load_after = os.getloadavg()
    segment_bytes = api.SEGMENT_BYTES
    api.SEGMENT_BYTES = 1 << 62  # one member: the reference for what segments cost
    single = len(compress(data, 1))
    api.SEGMENT_BYTES = segment_bytes
    result = {
        "input": "book1 x10, small edits" if args.copies_of_book1 else "Calgary + Canterbury + Python's *.py, each distinct file once",
        "input_bytes": len(data),
        "segments": len(api.read_info(io.BytesIO(blobs[1])).members),
        "segment_bytes": segment_bytes,
        "single_member_bytes": single,
        "segment_cost": len(blobs[1]) / single - 1,
        "speedup_compress": rows["compress -T1"]["wall_s"] / rows["compress -T2"]["wall_s"],
        "speedup_decompress": rows["decompress -T1"]["wall_s"] / rows["decompress -T2"]["wall_s"],
        "cpus": os.cpu_count(),
        "load_average_before_after": [load_before[0], load_after[0]],
        "runs": rows,
    }
    out = Path(args.out + ("-book1x10" if args.copies_of_book1 else ""))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        (f"Input: {result['input']}, {len(data):,} bytes, {result['segments']} segments of "
        f"{result['segment_bytes']:,} bytes; {os.cpu_count()} CPUs, load average "
        f"{load_before[0]:.1f} before / {load_after[0]:.1f} after."),
        "",
        "| run | wall s | CPU s | MB/s |",
        "|---|---:|---:|---:|",
        *(f"| {name} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {len(data) / row['wall_s'] / 1e6:.2f} |"
          for name, row in rows.items()),
        "",
        (f"Speed-up -T2/-T1: compress {result['speedup_compress']:.2f}x, decompress "
        f"{result['speedup_decompress']:.2f}x. Output {len(blobs[1]):,} bytes, identical for -T1 and -T2; "
        f"one member of the whole input {single:,} bytes (segments cost {100 * result['segment_cost']:+.2f}%)."),
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
