#!/usr/bin/env python3
"""The worst a forged stream can cost the decoder: one block of 2**22 declared symbols.

For each built-in model (histograms at the byte alphabet and at the largest one) forges a
stream whose header is valid (CRCs and fingerprint recomputed) and whose single block
declares the most symbols a header allows, with an empty payload, then decodes it in a
fresh process and reports its size, the error, the CPU time (per declared symbol) and the
peak RSS (`VmHWM`). The README's Robustness section quotes these numbers.

Usage: python scripts/decode_bounds.py
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import api, codec, container, models, symbols
from deepcompress.models.histogram import pack_counts

N_SYMBOLS = container.MAX_BLOCK_SYMBOLS
CASES = [("adaptive", 256), ("histogram", 256), ("histogram-adaptive", 256),
         ("histogram", symbols.MAX_ALPHABET), ("histogram-adaptive", symbols.MAX_ALPHABET)]  # fmt: skip


def forged_stream(name: str, alphabet_size: int) -> bytes:
    model = models.builtin(name, alphabet_size)
    layout = symbols.Layout()
    if alphabet_size > 256:
        layout = symbols.Layout("npy", "<i4", (N_SYMBOLS,), False, 0, alphabet_size, b"")
    side = b""
    if model.config().get("mode") == "static":  # the largest table that fits the side-info bound
        counts = np.zeros(alphabet_size, dtype=np.int64)
        counts[: min(alphabet_size, (container.MAX_SIDE_BYTES - 8) // 2)] = 1
        side = pack_counts(counts)
    header = api.stream_header(model, codec.stream_coder(model, "range"), N_SYMBOLS, layout)
    block = container.BlockRecord(N_SYMBOLS, codec.choose_lanes(model, N_SYMBOLS), side,
                                  np.zeros(0, dtype=np.uint32), 0.0, 0)
    return container.encode_member(header, [block], 0)


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def measure(path: Path) -> str:
    """Decode one forged file in this process: a report line."""
    blob = path.read_bytes()
    started = time.process_time()
    try:
        api.decompress(blob)
        outcome = "decoded (!)"
    except Exception as error:  # noqa: BLE001 -- reported, whatever it is
        outcome = f"{type(error).__name__}: {str(error)[:60]}"
    cpu = time.process_time() - started
    return (f"{path.stem}: {len(blob)} bytes, {cpu:.1f} CPU s ({cpu / N_SYMBOLS * 1e6:.2f} us per declared "
            f"symbol), peak RSS {peak_rss_mb():.0f} MB; {outcome}")


def main() -> int:
    if len(sys.argv) == 2:
        print(measure(Path(sys.argv[1])))
        return 0
    work = Path("/tmp") / "deepcompress-decode-bounds"
    work.mkdir(exist_ok=True)
    for name, alphabet_size in CASES:
        path = work / f"{name}-K{alphabet_size}.dcz"
        path.write_bytes(forged_stream(name, alphabet_size))
        subprocess.run([sys.executable, __file__, str(path)], check=True)  # a fresh process: its own peak
    return 0


if __name__ == "__main__":
    sys.exit(main())
