"""Regenerate tests/golden/records_k5_d3.{dcm,dcz}: a tiny record model and a stream it coded.

The model (K = 5 values, d = 3 dimensions, hidden (8,), embed 2) is trained for a moment on
seeded synthetic records; the stream is 41 records (123 elements, int16, shape (41, 3)) coded
with block size 50, so records span blocks. Only with DEEPCOMPRESS_REGEN=1 (the golden files
pin the bitstream; regenerate on purpose, then update the hashes in tests/test_records.py,
which this prints).
"""

import hashlib
import io
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import api
from deepcompress.modelfile import save_model
from deepcompress.models.records import RecordConfig
from deepcompress.symbols import array_layout, storage_order_bytes
from deepcompress.train import TrainConfig, fit_record_mlp

GOLDEN = ROOT / "tests" / "golden"


def records(n: int, seed: int) -> np.ndarray:
    """Correlated records: x2 near x1, x3 = (x1 + x2) mod 5 mostly."""
    rng = np.random.default_rng(seed)
    x1 = rng.integers(0, 5, n)
    x2 = np.clip(x1 + rng.integers(-1, 2, n), 0, 4)
    x3 = np.where(rng.random(n) < 0.8, (x1 + x2) % 5, rng.integers(0, 5, n))
    return np.stack([x1, x2, x3], axis=1)


def main() -> None:
    if os.environ.get("DEEPCOMPRESS_REGEN") != "1":
        sys.exit("set DEEPCOMPRESS_REGEN=1 to overwrite the golden record model")
    torch.set_num_threads(1)
    config = RecordConfig(5, 3, (8,), embed_dim=2)
    fitted = fit_record_mlp([records(2000, 0).reshape(-1)], config,
                            TrainConfig(epochs=3, batch_size=64, learning_rate=1e-2, seed=0, threads=1))
    save_model(fitted.model, GOLDEN / "records_k5_d3.dcm", {"script": "scripts/make_golden_records.py"})
    data = records(41, 1).astype(np.int16)
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(storage_order_bytes(data)), sink, fitted.model, "range", block_size=50,
                        layout=array_layout(data, (0, 5)))
    (GOLDEN / "records_k5_d3.dcz").write_bytes(sink.getvalue())
    buffer = io.BytesIO()
    np.save(buffer, data)
    print("model fingerprint:", fitted.model.fingerprint())
    print("dcz sha256:", hashlib.sha256(sink.getvalue()).hexdigest())
    print("npy sha256:", hashlib.sha256(buffer.getvalue()).hexdigest())


if __name__ == "__main__":
    main()
