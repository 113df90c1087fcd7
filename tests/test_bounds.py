"""Forged inputs are refused by a typed, one-line error before they cost memory or time,
and the public functions tell a wrong type (TypeError) from a wrong value (ValueError)."""

from __future__ import annotations

import dataclasses
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

import deepcompress
from deepcompress import api, container, modelfile, models, symbols
from deepcompress.errors import CorruptStreamError, DeepCompressError, ModelFileError
from deepcompress.models.histogram import HistogramModel
from deepcompress.models.mlp import MLPConfig


def _split(blob: bytes) -> tuple[container.StreamHeader, bytes]:
    """(header, everything after it) of a valid stream."""
    source = io.BytesIO(blob)
    header = container.read_header(source)
    return header, source.read()


def _with_header(blob: bytes, **changes) -> bytes:
    """The stream with header fields replaced (CRC recomputed, as a forger would)."""
    header, rest = _split(blob)
    return container.encode_header(dataclasses.replace(header, **changes)) + rest


def _adaptive_header_with(preset: int, **settings) -> bytes:
    """An adaptive stream of `preset` whose header asks for `settings` (CRC recomputed).

    A v2/v3 header of a built-in holds its config and no fingerprint (the config is the whole
    model), so the forger has nothing else to fix up: only the model's own bounds stop it.
    """
    from deepcompress.models.adaptive import AdaptiveModel

    blob = deepcompress.compress(b"abc" * 50, AdaptiveModel(preset))
    header, rest = _split(blob)
    assert header.version == container.FORMAT_VERSION and header.fingerprint is None
    return container.encode_header(dataclasses.replace(header, config={**header.config, **settings})) + rest


@pytest.mark.parametrize(
    ("preset", "settings"),
    [
        (1, {"hash_bits": 26, "match_bits": 28}),  # 2.78 GB before the bound
        (2, {"hash_bits": 26, "match_bits": 28}),
        (2, {"hash_bits": 24}),
        (2, {"match_bits": 23}),
        (1, {"lane_bytes": 1 << 22}),  # one lane per block: ~8 Python steps per byte
        (1, {"max_lanes": 1}),
        (2, {"max_lanes": 2}),  # preset 2 codes one lane inside its kernel
        (6, {"hash_bits": 24}),  # engine 3: 10 * 2**hash_bits bytes of states
        (6, {"match_bits": 23}),
        (6, {"max_lanes": 2}),
        (7, {"hash_bits": 27, "match_bits": 25}),
        (10, {"variant": 0}),  # preset 8's tables: twice the hashed counters and an APM
        (8, {"variant": 1}),  # preset 10 under another name
        (10, {"hash_bits": 23}),
    ],
)
def test_header_cannot_ask_for_more_than_the_preset(preset, settings):
    with pytest.raises(CorruptStreamError, match="cannot rebuild the stream's model"):
        deepcompress.decompress(_adaptive_header_with(preset, **settings))


def test_smaller_adaptive_tables_are_still_accepted():
    model = models.from_header("adaptive", {"preset": 1, "hash_bits": 12, "match_bits": 10, "lane_bytes": 1024})
    data = b"small tables, as an input-sized model would write them " * 40
    assert deepcompress.decompress(deepcompress.compress(data, model)) == data


# 1 << 61 rows of 3 int16 exceed 2**62 bytes; a v2 header cannot even hold integers beyond 2**62.
@pytest.mark.parametrize("bad", [float("inf"), 1 << 61, -1, "3"])
def test_array_stream_with_forged_shape_is_a_corrupt_stream(bad):
    blob = deepcompress.compress_array(np.arange(6, dtype=np.int16).reshape(2, 3))
    header, _ = _split(blob)
    forged = _with_header(blob, extra={**header.extra, "shape": [bad, 3]})
    with pytest.raises(CorruptStreamError):
        deepcompress.decompress(forged)
    with pytest.raises(CorruptStreamError):
        api.read_info(io.BytesIO(forged))


def _npy(header: str) -> bytes:
    body = header.encode("latin1")
    body += b" " * (-(len(body) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


@pytest.mark.parametrize(
    "shape",
    ["(99999999999999999999999,)", "(4611686018427387904, 4)", "(-1,)", "(2, -3)", "(" * 200 + ")" * 200],
)
def test_npy_header_with_forged_shape_is_a_value_error(shape):
    npy = _npy(f"{{'descr': '<i8', 'fortran_order': False, 'shape': {shape}, }}")
    with pytest.raises(ValueError):
        symbols.read_npy_layout(io.BytesIO(npy))


def _model_file(header: dict, payload: bytes = b"") -> bytes:
    header_bytes = json.dumps(header).encode()
    body = struct.pack("<4sHI", b"DCM\x00", 1, len(header_bytes)) + header_bytes + payload
    return body + struct.pack("<I", zlib.crc32(body))


def _histogram_file() -> dict:
    return {"model": "histogram", "config": {"alphabet_size": 4, "mode": "trained"},
            "fingerprint": "0" * 32, "metadata": {}, "arrays": [["counts", "<i8", [4]]]}


@pytest.mark.parametrize(
    "change",
    [
        {"arrays": [["counts", "<i8", [10**30]]]},
        {"arrays": [["counts", "<i8", [1e999]]]},
        {"arrays": [["counts", "<i8", [-4, -1]]]},
        {"arrays": [["counts", "<i8", [True]]]},
        {"arrays": [["counts", "<i8", [1] * 100]]},
        {"arrays": [["counts", ["<i8"], [4]]]},
        {"config": {"alphabet_size": 1e999, "mode": "trained"}},
        {"metadata": json.loads("[" * 50 + "]" * 50)},
    ],
)
def test_model_file_with_forged_sizes_is_a_model_file_error(change):
    with pytest.raises(ModelFileError):
        modelfile.model_from_bytes(_model_file({**_histogram_file(), **change}, bytes(32)))


def test_deeply_nested_model_file_header_is_a_model_file_error():
    blob = _model_file({}, b"")
    nested = b"[" * 100_000 + b"]" * 100_000
    body = struct.pack("<4sHI", b"DCM\x00", 1, len(nested)) + nested
    blob = body + struct.pack("<I", zlib.crc32(body))
    with pytest.raises(ModelFileError, match="RecursionError"):
        modelfile.model_from_bytes(blob)


def test_follower_tables_a_model_file_can_ask_for_are_bounded():
    MLPConfig(follower_orders=(2, 3, 4, 6, 8, 12), follower_table_bits=20)
    with pytest.raises(ValueError, match="follower_table_bits"):
        MLPConfig(follower_orders=(1, 2, 3, 4, 5, 6), follower_table_bits=24)
    with pytest.raises(ValueError, match="follower_table_bits"):
        MLPConfig(follower_orders=(2,), follower_table_bits=26)


def test_alphabet_beyond_the_coder_precision_is_refused_up_front():
    HistogramModel(symbols.MAX_ALPHABET)
    for size in (symbols.MAX_ALPHABET + 1, 1 << 24):
        with pytest.raises(ValueError, match="alphabet_size must be in"):
            HistogramModel(size)
        with pytest.raises(ValueError, match="at most"):
            deepcompress.compress_array(np.array([0, size - 1]), "histogram")


@pytest.mark.slow  # ~1 GB and several seconds: the coder's tables over 2**24 values
def test_largest_alphabet_round_trips():
    array = np.array([0, symbols.MAX_ALPHABET - 1, 7], dtype=np.int32)
    np.testing.assert_array_equal(deepcompress.decompress_array(deepcompress.compress_array(array, "histogram")), array)


def _forge_end(blob: bytes, n_symbols_delta: int = 0, bytes_delta: int = 0) -> bytes:
    end = struct.Struct("<IQQI")
    fields = list(end.unpack(blob[-28:-4]))
    fields[1] += n_symbols_delta
    fields[2] += bytes_delta
    packed = end.pack(*fields)
    return blob[:-28] + packed + struct.pack("<I", zlib.crc32(packed))


@pytest.mark.parametrize("deltas", [(1, 1), (-1, -1), (0, 5), (1, 0)])
def test_info_cross_checks_the_end_record_against_the_blocks(deltas):
    """A version-1 end record holds totals (v2's holds only the data CRC): they must match the blocks."""
    blob = (Path(__file__).parent / "golden" / "hello_static.dcz").read_bytes()  # frozen, version 1
    assert api.read_info(io.BytesIO(blob)).stats.n_symbols == 400
    with pytest.raises(CorruptStreamError, match="end record claims"):
        api.read_info(io.BytesIO(_forge_end(blob, *deltas)))


def test_info_of_an_array_checks_the_element_count_of_its_shape():
    blob = deepcompress.compress_array(np.arange(6, dtype=np.int16))
    header, _ = _split(blob)
    assert api.read_info(io.BytesIO(blob)).stats.n_symbols == 6
    with pytest.raises(CorruptStreamError, match="shape"):
        api.read_info(io.BytesIO(_with_header(blob, extra={**header.extra, "shape": [7]})))


BYTES = b"typed arguments " * 8


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_every_bytes_like_is_accepted(wrap):
    blob = deepcompress.compress(wrap(BYTES), "histogram")
    assert deepcompress.decompress(wrap(blob)) == BYTES
    assert deepcompress.nll_bits(wrap(BYTES), "histogram") == deepcompress.nll_bits(BYTES, "histogram")
    assert len(deepcompress.symbol_bits(wrap(BYTES), "histogram")) == len(BYTES)


BLOB = deepcompress.compress(BYTES, "histogram")
WRONG_TYPES = [
    (deepcompress.compress, (None,), {}),
    (deepcompress.compress, ("text",), {}),
    (deepcompress.compress, (np.arange(3),), {}),
    (deepcompress.compress, (BYTES,), {"model": 5}),
    (deepcompress.compress, (BYTES,), {"coder": None}),
    (deepcompress.decompress, (None,), {}),
    (deepcompress.decompress, ("text",), {}),
    (deepcompress.decompress, (BLOB,), {"model": 3.5}),
    (deepcompress.compress_array, (None,), {}),
    (deepcompress.compress_array, ([1, 2, 3],), {}),
    (deepcompress.compress_array, (np.arange(3),), {"alphabet": [0, 3]}),
    (deepcompress.decompress_array, (None,), {}),
    (deepcompress.nll_bits, (None,), {}),
    (deepcompress.nll_bits, ("text",), {}),
    (deepcompress.symbol_bits, (None,), {}),
    (deepcompress.symbol_bits, (BYTES,), {"block_size": 2.0}),
    (deepcompress.load_model, (None,), {}),
    (deepcompress.load_model, (7,), {}),
    (api.compress_stream, (b"not a stream", io.BytesIO()), {}),
    (api.compress_stream, (io.BytesIO(BYTES), b"not a stream"), {}),
    (api.decompress_stream, (None, None), {}),
    (api.read_info, (BLOB,), {}),
    (api.nll_stream, (BYTES,), {}),
    (deepcompress.segment_bits, (None, 4), {}),
    (deepcompress.segment_bits, (np.ones(8), 4.0), {}),
    (deepcompress.top_segments, (np.ones(8),), {"k": "5"}),
]


@pytest.mark.parametrize("function, args, kwargs", WRONG_TYPES, ids=lambda value: getattr(value, "__name__", None))
def test_wrong_types_raise_type_error(function, args, kwargs):
    with pytest.raises(TypeError):
        function(*args, **kwargs)


WRONG_VALUES = [
    (deepcompress.compress, (BYTES,), {"coder": "zip"}),
    (deepcompress.compress_array, (np.zeros(3),), {}),
    (deepcompress.compress_array, (np.arange(3),), {"alphabet": (0, 0)}),
    (deepcompress.symbol_bits, (BYTES,), {"block_size": 0}),
    (api.compress_stream, (io.BytesIO(BYTES), io.BytesIO()), {"block_size": 1 << 40}),
    (deepcompress.segment_bits, (np.array(3.0), 4), {}),  # 0-d: not one entry per symbol
    (deepcompress.segment_bits, (np.ones((2, 2)), 4), {}),
    (deepcompress.top_segments, (np.array(1.0),), {}),
    (deepcompress.segment_bits, (np.ones(8), 0), {}),
]


@pytest.mark.parametrize("function, args, kwargs", WRONG_VALUES, ids=lambda value: getattr(value, "__name__", None))
def test_wrong_values_raise_value_error(function, args, kwargs):
    with pytest.raises(ValueError):
        function(*args, **kwargs)


@pytest.mark.parametrize("blob", [b"", b"\x89DCZ", BLOB[:-3], BLOB[:20] + bytes(10) + BLOB[30:]])
def test_damaged_data_raises_a_deepcompress_error(blob):
    with pytest.raises(DeepCompressError):
        deepcompress.decompress(blob)
    with pytest.raises(DeepCompressError):
        deepcompress.decompress_array(blob)


@pytest.mark.parametrize(
    "config",
    [{"context_size": 1 << 62}, {"alphabet_size": 1 << 20}, {"embed_dim": 1 << 30}, {"hidden": (1 << 40,)},
     {"hidden": (8,) * 1000}],
)
def test_mlp_config_from_a_model_file_is_bounded_before_anything_is_built(config):
    with pytest.raises(ValueError):
        MLPConfig(**config)


def test_model_file_with_huge_shifts_is_a_model_file_error():
    from deepcompress.models.exact import network_from_arrays

    with pytest.raises(ValueError, match="shifts"):
        network_from_arrays((257,), {"shifts": np.array([1 << 62, 3])})


@pytest.mark.parametrize("header", ["{'descr': '<i8', 'fortran_order': False, 'shape': (3,", "{3: 1, 'a': 2}"])
def test_npy_header_that_numpy_cannot_parse_is_a_value_error(header):
    with pytest.raises(ValueError):
        symbols.read_npy_layout(io.BytesIO(_npy(header)))
