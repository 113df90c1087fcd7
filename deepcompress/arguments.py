"""Checks of the public functions' arguments, so every caller mistake fails the same way.

A wrong *type* raises `TypeError`, a wrong *value* `ValueError`, both naming the argument;
problems with the data itself are `DeepCompressError`s raised where the data is read.
Each public function calls `check(name=value, ...)` first; the checker is chosen by the
argument's name, so one name means one rule everywhere.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from typing import Any

import numpy as np

BYTES_LIKE = (bytes, bytearray, memoryview)


def _type_name(value: Any) -> str:
    return type(value).__name__


def _integer(name: str, value: Any, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {_type_name(value)}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def _blob(name: str, value: Any) -> None:
    if not isinstance(value, BYTES_LIKE):
        raise TypeError(f"{name} must be bytes, bytearray or memoryview, not {_type_name(value)}")


def _data(name: str, value: Any) -> None:
    """Bytes-like (one symbol per byte) or an integer array."""
    if not isinstance(value, (*BYTES_LIKE, np.ndarray)):
        raise TypeError(f"{name} must be bytes, bytearray, memoryview or a numpy array, not {_type_name(value)}")


def _array(name: str, value: Any) -> None:
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(f"{name} must be a numpy array, not {_type_name(value)}")


def _model(name: str, value: Any) -> None:
    """A built-in name, a model-file path or a Model; None means the default."""
    from deepcompress.models.base import Model

    if value is not None and not isinstance(value, (str, os.PathLike, Model)):
        raise TypeError(f"{name} must be a model name, a model file path or a Model, not {_type_name(value)}")


def _spec(name: str, value: Any) -> None:
    if value is None:
        raise TypeError(f"{name} must be a model name, a model file path or a Model, not None")
    _model(name, value)


def _string(name: str, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {_type_name(value)}")


def _source(name: str, value: Any) -> None:
    if not callable(getattr(value, "read", None)):
        raise TypeError(f"{name} must be a binary stream with read(), not {_type_name(value)}")


def _sink(name: str, value: Any) -> None:
    if value is not None and not callable(getattr(value, "write", None)):
        raise TypeError(f"{name} must be a binary stream with write() or None, not {_type_name(value)}")


def _layout(name: str, value: Any) -> None:
    from deepcompress.symbols import Layout

    if value is not None and not isinstance(value, Layout):
        raise TypeError(f"{name} must be a symbols.Layout or None, not {_type_name(value)}")


def _alphabet(name: str, value: Any) -> None:
    """(offset, size) of the values, or None to infer it."""
    if value is None:
        return
    if not isinstance(value, tuple) or len(value) != 2:
        raise TypeError(f"{name} must be an (offset, size) tuple or None, not {_type_name(value)}")
    _integer(f"{name} offset", value[0], low=-(1 << 63))
    _integer(f"{name} size", value[1], low=1)


def _bits(name: str, value: Any) -> None:
    """Per-symbol bits: a 1-D array (or sequence) of numbers."""
    if not isinstance(value, (np.ndarray, list, tuple)):
        raise TypeError(f"{name} must be a 1-D array of per-symbol bits, not {_type_name(value)}")
    if np.ndim(value) != 1:
        raise ValueError(f"{name} must be 1-D (one entry per symbol), got {np.ndim(value)} dimensions")


CHECKERS: dict[str, Callable[[str, Any], None]] = {
    "data": _data,
    "blob": _blob,
    "array": _array,
    "model": _model,
    "spec": _spec,
    "coder": _string,
    "source": _source,
    "sink": _sink,
    "layout": _layout,
    "alphabet": _alphabet,
    "bits": _bits,
    "block_size": lambda name, value: _integer(name, value, low=1),
    "threads": lambda name, value: _integer(name, value, low=1),
    "alphabet_size": lambda name, value: _integer(name, value, low=1),
    "segment_length": lambda name, value: _integer(name, value, low=1),
    "window": lambda name, value: _integer(name, value, low=1),
    "k": _integer,
}


def check(**arguments: Any) -> None:
    """TypeError / ValueError for the first argument that breaks its name's rule (`CHECKERS`)."""
    for name, value in arguments.items():
        CHECKERS[name](name, value)
