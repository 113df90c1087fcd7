"""Subprocess worker for the cross-process exactness tests of the record model (test_records.py).

    python tests/records_worker.py MODEL.dcm INPUTS.npy OUT.npy

Writes the integer tables of the inputs, computed in one batch. The environment (thread
count via DEEPCOMPRESS_THREADS, ATEN_CPU_CAPABILITY, MKL_CBWR) is set by the caller.
"""

import os
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deepcompress.modelfile import load_model


def main(model_path: str, inputs_path: str, out_path: str) -> None:
    torch.set_num_threads(int(os.environ.get("DEEPCOMPRESS_THREADS", "1")))
    model, _ = load_model(model_path)
    np.save(out_path, model.frequencies(np.load(inputs_path)))


if __name__ == "__main__":
    main(*sys.argv[1:])
