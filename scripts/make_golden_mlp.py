"""Regenerate tests/golden/mlp_toy_k1.dcm: the k=1 toy MLP trained on samples/sample.txt.

Only with DEEPCOMPRESS_REGEN=1 (the golden pins the bitstream; regenerate on purpose, then
update the pinned hashes in tests/test_mlp.py, which this prints).
"""

import copy
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import codec
from deepcompress.modelfile import save_model
from deepcompress.models.mlp import MLPConfig, MLPModel, MLPNet
from deepcompress.train import TrainConfig, train

GOLDEN = ROOT / "tests" / "golden" / "mlp_toy_k1.dcm"


def with_lanes(model, lanes: int):
    """The same model (same tables and fingerprint), coding every block in `lanes` lanes."""
    fixed = copy.copy(model)
    fixed.choose_lanes = lambda n_symbols: lanes
    return fixed


def main() -> None:
    if os.environ.get("DEEPCOMPRESS_REGEN") != "1":
        sys.exit("set DEEPCOMPRESS_REGEN=1 to overwrite the golden model")
    symbols = np.frombuffer((ROOT / "samples" / "sample.txt").read_bytes(), np.uint8).astype(np.int64)
    torch.manual_seed(0)
    net = MLPNet(MLPConfig(256, context_size=1, embed_dim=4, hidden=(8,)))
    train(net, [symbols] * 8, TrainConfig(epochs=4, batch_size=64, learning_rate=1e-2, seed=0, threads=1))
    model = MLPModel.from_net(net, net.inputs(symbols))
    save_model(model, GOLDEN, metadata={"trained_on": "samples/sample.txt", "script": "scripts/make_golden_mlp.py"})
    tables = model.frequencies(np.arange(257)[:, None])
    words = codec.encode_block(with_lanes(model, 3), model.session(), symbols).words
    print("tables", hashlib.sha256(tables.astype("<i8").tobytes()).hexdigest()[:16])
    print("words", hashlib.sha256(words.astype("<u4").tobytes()).hexdigest()[:16])
    print("fingerprint", model.fingerprint())
    print("bits/byte", model.nll_bits(symbols) / len(symbols), "file bytes", GOLDEN.stat().st_size)


if __name__ == "__main__":
    main()
