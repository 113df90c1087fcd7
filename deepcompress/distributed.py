"""Data-parallel training across processes (torch.distributed), as `torchrun` launches them.

`torchrun --nproc_per_node=N -m deepcompress train ...` starts N processes with the
environment variables RANK, LOCAL_RANK and WORLD_SIZE set; `start` joins them into one
process group (gloo on the CPU, NCCL on CUDA devices). While a group exists, `train.train`
trains on this rank's shard of the data inside `DistributedDataParallel` and the helpers
below combine per-rank numbers; without one every helper is the identity of one process.

Training only: coding never communicates, and the model a group trains is quantised to the
same exact integer model (and model file format) as a model trained by one process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch
import torch.distributed as dist


def launched() -> bool:
    """True in a process that torchrun (or any launcher setting RANK and WORLD_SIZE) started."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def start(device: str) -> str:
    """Join the process group of this launch; returns the torch device this rank trains on.

    device: "cpu" (gloo) or a CUDA device ("cuda" or "cuda:i"; NCCL, one GPU per local rank).
    """
    if dist.is_initialized():
        return device
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
        dist.init_process_group("nccl", device_id=torch.device(device))
    else:
        dist.init_process_group("gloo")
    return device


def stop() -> None:
    """Leave the process group (if any), once every rank has come to leave it.

    The barrier matters: a rank that tears its gloo connections down while a peer still
    holds them open aborts now and then ("terminate called without an active exception").
    Call it only where every rank gets to it; after an error, leave the group to process exit.
    """
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's index in the group (0 without a group)."""
    return dist.get_rank() if active() else 0


def world_size() -> int:
    """Number of processes training together (1 without a group)."""
    return dist.get_world_size() if active() else 1


def _reduce(values: Sequence[float], op: dist.ReduceOp) -> list[float]:
    if not active():
        return [float(v) for v in values]
    device = f"cuda:{torch.cuda.current_device()}" if dist.get_backend() == "nccl" else "cpu"
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op)
    return tensor.cpu().tolist()


def total(values: Sequence[float]) -> list[float]:
    """Element-wise sum of `values` over all ranks (every rank gets the result)."""
    return _reduce(values, dist.ReduceOp.SUM)


def largest(values: Sequence[float]) -> list[float]:
    """Element-wise maximum of `values` over all ranks."""
    return _reduce(values, dist.ReduceOp.MAX)


def gathered(rows: np.ndarray) -> np.ndarray:
    """Every rank's `rows` (an array of any rows, same trailing shape), concatenated in rank order."""
    if not active():
        return rows
    parts: list = [None] * world_size()
    dist.all_gather_object(parts, rows)
    return np.concatenate(parts)
