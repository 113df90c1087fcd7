"""Subprocess worker for the cross-process exactness tests of the MLP (see test_mlp.py).

    python tests/mlp_worker.py tables MODEL.dcm DATA.npy OUT.npy [batch]
    python tests/mlp_worker.py encode MODEL.dcm DATA.npy LANES OUT.npy
    python tests/mlp_worker.py decode MODEL.dcm WORDS.npy N LANES OUT.npy

The environment (thread count via DEEPCOMPRESS_THREADS, ATEN_CPU_CAPABILITY, MKL_CBWR) is
set by the caller.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepcompress import codec
from deepcompress.modelfile import load_model


class FixedLanes:
    self_coder = None

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes

    def choose_lanes(self, n_symbols: int) -> int:
        return self.lanes


def main(command: str, model_path: str, *args: str) -> None:
    torch.set_num_threads(int(os.environ.get("DEEPCOMPRESS_THREADS", "1")))
    model, _ = load_model(model_path)
    if command == "tables":
        data, out = np.load(args[0]), args[1]
        batch = int(args[2]) if len(args) > 2 else len(data)
        inputs = model.mlp_config.inputs(data)
        tables = [model.frequencies(inputs[i:i + batch]) for i in range(0, len(inputs), batch)]
        np.save(out, np.concatenate(tables))
    elif command == "encode":
        data, lanes, out = np.load(args[0]), int(args[1]), args[2]
        np.save(out, codec.encode_block(FixedLanes(lanes), model.session(), data).words)
    elif command == "decode":
        words, n_symbols, lanes, out = np.load(args[0]), int(args[1]), int(args[2]), args[3]
        block = codec.EncodedBlock(n_symbols, lanes, b"", words, 0.0)
        np.save(out, codec.decode_block(model, model.session(), block))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(*sys.argv[1:])
