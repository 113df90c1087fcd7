"""The `.dcm` model file: a trained model's exact coding parameters, loadable without running code.

Layout (integers little-endian):

    magic b"DCM\\x00" | version u16 | header_len u32 | header (UTF-8 JSON) | arrays | crc32 u32

The header holds the model name, its config, the fingerprint, the name/dtype/shape of each
array (stored back to back, C order) and free-form metadata (e.g. training log). The CRC-32
covers every byte before it. Loading parses JSON and raw integer arrays only (no pickle),
rebuilds the model through the registry (`models.model_class(name).from_parameters`) and
checks the recomputed fingerprint. Importing this module imports no model: a model's
module (torch, for the networks) is imported when a file naming it is loaded.
"""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from deepcompress import models
from deepcompress.errors import ModelFileError
from deepcompress.models.base import Model
from deepcompress.symbols import element_count

MAGIC = b"DCM\x00"
VERSION = 1
ALLOWED_DTYPES = {"|i1", "|u1", "<i2", "<i4", "<i8", "<u4"}
_PREFIX = struct.Struct("<4sHI")


def model_to_bytes(model: Model, metadata: dict[str, Any] | None = None) -> bytes:
    """Serialise a model's config and `parameter_arrays()`; it loads back by its registered name."""
    arrays = model.parameter_arrays()
    header = {"model": model.name, "config": model.config(), "fingerprint": model.fingerprint(),
              "arrays": [[name, array.dtype.str, list(array.shape)] for name, array in arrays.items()],
              "metadata": metadata or {}}
    header_bytes = json.dumps(header, sort_keys=True).encode()
    body = (_PREFIX.pack(MAGIC, VERSION, len(header_bytes)) + header_bytes
            + b"".join(np.ascontiguousarray(array).tobytes() for array in arrays.values()))
    return body + struct.pack("<I", zlib.crc32(body))


def model_from_bytes(blob: bytes) -> tuple[Model, dict[str, Any]]:
    """Parse a model file: returns (model, metadata). Raises ModelFileError on any defect."""
    if len(blob) < _PREFIX.size + 4 or blob[:4] != MAGIC:
        raise ModelFileError(f"not a deepcompress model file (starts with {blob[:4]!r})")
    _, version, header_len = _PREFIX.unpack_from(blob)
    if version != VERSION:
        raise ModelFileError(f"unsupported model file version {version} (this reads {VERSION})")
    if zlib.crc32(blob[:-4]) != struct.unpack("<I", blob[-4:])[0]:
        raise ModelFileError("model file is damaged or truncated (CRC-32 mismatch)")
    try:
        header = json.loads(blob[_PREFIX.size:_PREFIX.size + header_len])
        arrays = _read_arrays(header["arrays"], blob[_PREFIX.size + header_len:-4])
        model_class = models.model_class(header["model"])
        if model_class.name != header["model"]:
            raise ValueError(f"unknown model {header['model']!r}")
        model = model_class.from_parameters(header["config"], arrays)
        fingerprint, metadata = header["fingerprint"], header["metadata"]
    # RecursionError: deeply nested JSON; OverflowError: numbers too large for an int or a float.
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError) as error:
        raise ModelFileError(f"invalid model file: {type(error).__name__}: {str(error)[:200]}") from None
    if model.fingerprint() != fingerprint:
        raise ModelFileError("model file fingerprint does not match its parameters")
    return model, metadata


def _read_arrays(layout: list, payload: bytes) -> dict[str, np.ndarray]:
    arrays, offset = {}, 0
    for name, dtype, shape in layout:
        if not isinstance(dtype, str) or dtype not in ALLOWED_DTYPES:
            raise ValueError(f"array {str(name)[:40]!r} has unsupported dtype {str(dtype)[:40]!r}")
        if not isinstance(shape, list) or len(shape) > 32:
            raise ValueError(f"array {str(name)[:40]!r} has a malformed shape")
        count = element_count(shape, np.dtype(dtype).itemsize)
        size = count * np.dtype(dtype).itemsize
        if offset + size > len(payload):
            raise ValueError(f"array {name!r} runs past the end of the file")
        arrays[name] = np.frombuffer(payload, dtype, count, offset).reshape(shape)
        offset += size
    if offset != len(payload):
        raise ValueError(f"{len(payload) - offset} unexplained bytes after the arrays")
    return arrays


def save_model(model: Model, path: str | Path, metadata: dict[str, Any] | None = None) -> None:
    Path(path).write_bytes(model_to_bytes(model, metadata))


def load_model(path: str | Path) -> tuple[Model, dict[str, Any]]:
    """(model, metadata) from a `.dcm` file; ModelFileError if it is not a valid one."""
    return model_from_bytes(Path(path).read_bytes())
