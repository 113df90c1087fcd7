#!/usr/bin/env python3
"""Fuzz the .dcz decoder: a damaged container decodes to its original or raises a typed error.

Starts from valid containers of every built-in model (`deepcompress.models.BUILTIN_MODELS`,
so models added later are covered) and of a trained histogram passed as the model, on a
few small inputs and both coders. Mutates them: bit flips, byte edits, insertions,
deletions, truncation at every field boundary (enumerated) and anywhere, swapped,
duplicated and dropped blocks, swapped fields, absurd sizes and header values with
recomputed CRCs (so they reach the size checks), payloads rewritten with recomputed CRCs
(so they reach the decoder; the end record's CRC of the output stays as written), splices of two containers, and decoding with the wrong
model. Each mutant is decoded (`decompress` and `read_info`) in a worker process under a
time limit and an address-space limit (RLIMIT_AS). Outcomes:

    original      decoded to the seed's own data (the mutation changed nothing that matters)
    donor         a splice that decoded to the other container's data
    members       whole copies of containers one after another, decoded to their data in turn
    <ErrorName>   a `deepcompress.DeepCompressError` subclass: the expected rejection
    crash         any other exception, or the worker died: saved for a regression test
    hang          no answer within --timeout seconds: saved
    wrong-output  decoded to anything else: saved

Two more kinds fuzz the other files the package reads: `npy-header` (valid .npy files of
several dtypes, shapes and orders with forged shapes, dtypes, orders, versions and header
lengths, read by `symbols.read_npy_layout` and, when accepted, compressed and decompressed
back) and `model-file` (.dcm files of every model family with forged array sizes, dtypes and
shapes, configs, JSON nesting and lengths, CRCs recomputed, loaded by `modelfile` and, when
accepted, used for a round trip). Their expected rejection is `ValueError` (a malformed .npy
is a bad argument) and `ModelFileError`; `accepted` means the round trip reproduced the input.

Every input is also held to the README's resource bounds: the worker's peak RSS
(`peak_rss_mb`, a high-water mark, so the first input to pass the bound is the one
reported) and the CPU time of each input; exceeding either is a failure (`over-memory`,
`over-time`).

Mutants are a pure function of (--seed, model, index), so any of them can be regenerated.
The container layout (format 2) is parsed by scripts/dcz_layout.py from the format table in
README.md, not through `deepcompress.container` (only its value encoding is borrowed), so a
misreading there cannot hide a bug here.

Usage: python scripts/fuzz_decoder.py [-n 10000] [--workers 2] [--timeout 30] [--memory-mb 1024]
       [--max-rss-mb 1024] [--max-cpu-s 25] [--models adaptive,npy-header,model-file,...]
Exit status 1 if any input crashed, hung or decoded wrongly.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import io
import json
import random
import resource
import struct
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing import connection, get_context
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import deepcompress
from deepcompress import api, container, models

REGRESSION_DIR = ROOT / "tests" / "golden" / "fuzz-regressions"
TRAINED = "trained-histogram"
TRAINED_MLP = "trained-mlp"
TRAINED_HYBRID = "trained-hybrid"
HEADER = "header"  # decode argument None: the model is rebuilt from the stream header
ORIGINAL, DONOR, MEMBERS, CRASH, HANG, WRONG = "original", "donor", "members", "crash", "hang", "wrong-output"
ACCEPTED, OVER_MEMORY, OVER_TIME = "accepted", "over-memory", "over-time"
FAILURES = (CRASH, HANG, WRONG, OVER_MEMORY, OVER_TIME)
NPY, DCM = "npy-header", "model-file"
FILE_KINDS = (NPY, DCM)
# The README's Robustness bounds, checked for every input.
MAX_RSS_MB = 1536
MAX_CPU_S = 25.0

# --- the .dcz layout (format 2), from README.md's format table: scripts/dcz_layout.py ----------

sys.path.insert(0, str(ROOT / "scripts"))
from dcz_layout import Block, parse, varint

from deepcompress import container as _container


def field_boundaries(blob: bytes) -> list[int]:
    """Every offset where a field or record of a valid container starts or ends."""
    offsets = parse(blob).boundaries()
    assert offsets[-1] == len(blob), "seed container does not match the documented layout"
    return offsets


# --- seeds: valid containers of each model ------------------------------------------------


VOCABULARY = ("the", "of", "a", "model", "coder", "block", "stream", "data", "bits", "entropy")
VOCABULARY += ("table", "count", "symbol", "header")


def _text(n_words: int, rng: random.Random) -> bytes:
    return " ".join(rng.choice(VOCABULARY) for _ in range(n_words)).encode()


def seed_inputs() -> dict[str, tuple[bytes, str, int]]:
    """name -> (data, coder, block size): small inputs, one to many blocks, both coders."""
    rng = random.Random(2024)
    text = _text(80, rng)
    noise = bytes(rng.randrange(256) for _ in range(300))
    skewed = bytes(rng.choice(b"aaaaaaab\x00\xff") for _ in range(600))
    return {
        "empty": (b"", "range", 1 << 20),
        "one-byte": (b"A", "ans", 1 << 20),
        "text": (text, "range", 1 << 20),
        "text-blocks": (text, "ans", 64),
        "noise-blocks": (noise, "range", 128),
        "skewed-blocks": (skewed, "ans", 200),
    }


def trained_histogram() -> models.HistogramModel:
    """The trained model of the fuzz run (a model passed by the caller, not rebuilt from a header)."""
    training = _text(500, random.Random(7))
    return models.HistogramModel.fit(np.frombuffer(training, dtype=np.uint8))


def trained_mlp() -> Any:
    """A small MLP with follower features (seeded weights: fuzzing needs its code paths, not skill)."""
    import torch

    from deepcompress.models.mlp import MLPConfig, MLPModel, MLPNet

    config = MLPConfig(context_size=4, embed_dim=4, hidden=(16,), follower_orders=(2, 3), follower_table_bits=12)
    torch.manual_seed(11)
    net = MLPNet(config)
    calibration = net.inputs(np.frombuffer(_text(300, random.Random(5)), dtype=np.uint8).astype(np.int64))
    return MLPModel.from_net(net, calibration)


def trained_prior_engine3() -> Any:
    """A small prior of the default level's engine 3 (tables sparse XOR fresh, see `models.prior`)."""
    from deepcompress.models import prior

    rng = random.Random(3)
    return prior.train_prior([_text(200, rng) for _ in range(6)], 5, 40_000)


def trained_hybrid() -> Any:
    """The golden engine-3 hybrid (a prior and a byte MLP, tests/golden/hybrid3_tiny.dcm), as `train` makes them."""
    return api.load_model(ROOT / "tests" / "golden" / "hybrid3_tiny.dcm")


TRAINED_MODELS = {TRAINED: trained_histogram, TRAINED_MLP: trained_mlp, TRAINED_HYBRID: trained_hybrid}


def fuzz_models() -> list[str]:
    """Every built-in model, plus a trained histogram, MLP and hybrid (passed as models)."""
    return [*models.BUILTIN_MODELS, *TRAINED_MODELS]


def fuzz_kinds() -> list[str]:
    """Every model's streams, plus .npy headers and model files."""
    return [*fuzz_models(), *FILE_KINDS]


def decode_argument(key: str) -> Any:
    """What `decompress(..., model=)` gets for a decode key: None, a built-in name or a trained model."""
    if key == HEADER:
        return None
    return TRAINED_MODELS[key]() if key in TRAINED_MODELS else key


def default_decode_key(model: str) -> str:
    return model if model in TRAINED_MODELS else HEADER


@dataclass(frozen=True)
class Seed:
    name: str
    model: str
    original: bytes
    blob: bytes
    boundaries: tuple[int, ...]


def copies_seed() -> tuple[bytes, bytes]:
    """(data, stream) of one member of kind "copies" (`longrange`) whose copies reach into its own
    output, one of them overlapping itself: the writer makes such members only after another,
    but one alone is valid, so its copy list and literals are fuzzed like any header and block."""
    text = _text(60, random.Random(7))
    copies = [(len(text), len(text), 2 * len(text) + 5), (40, 7, 300)]  # (gap, distance, length)
    data = text + (text * 3)[:2 * len(text) + 5] + text[:40]
    data += (data[-7:] * 50)[:300] + text[40:]
    sink = io.BytesIO()
    writer = api.StreamWriter(sink, models.builtin("adaptive"), "range", 64,
                              copies=container.copies_extra(copies, zlib.crc32(data)))
    literals = text + text[:40] + text[40:]
    for start in range(0, len(literals), 64):
        writer.push(literals[start:start + 64], last=start + 64 >= len(literals))
    writer.finish()
    assert api.decompress(sink.getvalue()) == data
    return data, sink.getvalue()


def make_seeds(model: str) -> list[Seed]:
    spec = TRAINED_MODELS[model]() if model in TRAINED_MODELS else model
    seeds = []
    for name, (data, coder, block_size) in seed_inputs().items():
        sink = io.BytesIO()
        api.compress_stream(io.BytesIO(data), sink, spec, coder, block_size)
        blob = sink.getvalue()
        seeds.append(Seed(f"{model}/{name}", model, data, blob, tuple(field_boundaries(blob))))
    if model == "adaptive":
        data, blob = copies_seed()
        seeds.append(Seed(f"{model}/copies", model, data, blob, tuple(field_boundaries(blob))))
    return seeds


# --- mutations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutant:
    blob: bytes
    kind: str
    seed: Seed
    donor: Seed | None = None
    decode_key: str = HEADER


def _flip_bits(rng: random.Random, seed: Seed) -> bytes:
    data = bytearray(seed.blob)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def _set_bytes(rng: random.Random, seed: Seed) -> bytes:
    data = bytearray(seed.blob)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def _insert(rng: random.Random, seed: Seed) -> bytes:
    position = rng.randrange(len(seed.blob) + 1)
    if rng.random() < 0.5:
        extra = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    else:  # a copy of some part of the container: looks like real fields
        start = rng.randrange(len(seed.blob))
        extra = seed.blob[start : start + rng.randint(1, 64)]
    return seed.blob[:position] + extra + seed.blob[position:]


def _delete(rng: random.Random, seed: Seed) -> bytes:
    start = rng.randrange(len(seed.blob))
    return seed.blob[:start] + seed.blob[start + rng.randint(1, 32) :]


def _truncate(rng: random.Random, seed: Seed) -> bytes:
    return seed.blob[: rng.randrange(len(seed.blob))]


def _truncate_at_boundary(rng: random.Random, seed: Seed) -> bytes:
    cut = rng.choice(seed.boundaries[:-1]) - rng.randint(0, 1)
    return seed.blob[: max(cut, 0)]


def _rearrange_blocks(rng: random.Random, seed: Seed) -> bytes:
    """Swap, duplicate or drop whole blocks (their CRCs valid; the end record's as written)."""
    container = parse(seed.blob)
    blocks = container.blocks
    if not blocks:
        blocks.append(Block(1, True, None, None, 64, None, None, b"", b"A"))
    elif len(blocks) >= 2 and rng.random() < 0.5:
        i, j = rng.sample(range(len(blocks)), 2)
        blocks[i], blocks[j] = blocks[j], blocks[i]
    elif rng.random() < 0.5:
        index = rng.randrange(len(blocks))
        blocks.insert(index, parse(seed.blob).blocks[index])
    else:
        del blocks[rng.randrange(len(blocks))]
    return container.to_bytes()


BLOCK_NUMBERS = ("n_symbols", "lanes", "side_length", "payload_length", "data_crc32")


def _swap_fields(rng: random.Random, seed: Seed) -> bytes:
    """Swap two numeric fields of a block, or the header's model id and block size; CRCs recomputed."""
    container = parse(seed.blob)
    if container.blocks and rng.random() < 0.7:
        block = rng.choice(container.blocks)
        present = [name for name in BLOCK_NUMBERS if getattr(block, name) is not None]
        if len(present) >= 2:
            a, b = rng.sample(present, 2)
            first, second = getattr(block, a), getattr(block, b)
            setattr(block, a, second if a != "n_symbols" else max(second, 0))
            setattr(block, b, first)
        else:
            block.stored = not block.stored
    else:
        header = container.header
        size = header.block_size if header.block_size is not None else 1 << 20
        header.model_id, header.block_size = size % (1 << 20), header.model_id
    return container.to_bytes()


VARINT_ABSURD = (0, 1, 2, 3, 127, 128, 255, 256, 1 << 16, 1 << 20, (1 << 20) + 1, 1 << 22, (1 << 22) + 1, 1 << 24,
                 (1 << 24) + 1, 1 << 31, 1 << 32, 1 << 53, (1 << 63) - 1)


def _forge_size(rng: random.Random, seed: Seed) -> bytes:
    """Set a declared size or count to an absurd value; recompute the CRCs so it reaches the size checks."""
    container = parse(seed.blob)
    if not container.blocks or rng.random() < 0.25:
        header = container.header
        choice = rng.random()
        if choice < 0.4:
            header.block_size = rng.choice(VARINT_ABSURD)
            header.flags |= 1 << 4
        elif choice < 0.7:  # a string or collection claiming to be huge, inside the config
            header.config = bytes([rng.choice([5, 6, 7])]) + varint(rng.choice(VARINT_ABSURD)) + header.config
        else:
            header.model_id = rng.choice(VARINT_ABSURD)
        return container.to_bytes()
    block = rng.choice(container.blocks)
    name = rng.choice(["n_symbols", "lanes", "side_length", "payload_length", "nll"])
    value = getattr(block, name)
    value = 1 if value is None else value
    setattr(block, name, rng.choice(VARINT_ABSURD + (value + 1, max(value - 1, 0))))
    return container.to_bytes()


CONFIG_ABSURD = (
    None, True, False, 0, -1, 1, 2, 255, 256, 257, 1 << 20, 1 << 24, (1 << 24) + 1, 1 << 26, (1 << 26) + 1, 1 << 31,
    1 << 61, -(1 << 61), 0.5, 1e308, float("nan"), "", "x" * 5000, [], {}, {"mode": "adaptive"}, "range", "ans",
    "bytes", "histogram", "static", "adaptive", "trained",
)  # fmt: skip


def _forge_header(rng: random.Random, seed: Seed) -> bytes:
    """Change, drop or add a config value, or change the flags, coder, layout or model; CRC recomputed."""
    container = parse(seed.blob)
    header = container.header
    choice = rng.random()
    if choice < 0.05:  # deep nesting: a parser's recursion limit
        header.config = bytes([6, 1]) * 10_000 + bytes([0])
    elif choice < 0.15:
        header.flags ^= 1 << rng.randrange(8)
    elif choice < 0.25:
        header.flags |= 0b11
        header.coder = rng.choice([b"huffman", b"range", b"binary", b"\x00", "é".encode(), b"x" * 300])
    elif choice < 0.35:
        header.model_id, header.name = 0, rng.choice([b"lstm", b"adaptive", b"histogram", b"histogram-adaptive", b""])
    elif choice < 0.45:
        header.flags |= 1 << 3
        header.layout = _container.encode_value(rng.choice(["npy", "bytes", "tokens", 5])) + _container.encode_value(
            rng.choice([{}, {"dtype": "<i2", "shape": [3], "fortran_order": False, "offset": 0, "alphabet_size": 3,
                             "npy_header": ""}, [], None]))
    elif header.fingerprint is not None:
        header.fingerprint = bytes(rng.randrange(256) for _ in range(len(header.fingerprint)))
    else:
        config = _container.decode_value(io.BytesIO(header.config))
        if isinstance(config, dict):
            key = rng.choice([*sorted(config), "unknown", "preset", "hash_bits", "mode"])
            if rng.random() < 0.15:
                config.pop(key, None)
            else:
                config[key] = rng.choice(CONFIG_ABSURD)
        header.config = _container.encode_value(config)
    return container.to_bytes()


def _forge_payload(rng: random.Random, seed: Seed) -> bytes:
    """Rewrite a block's side info or payload and recompute its CRCs, so garbage reaches the decoder."""
    container = parse(seed.blob)
    if not container.blocks:
        return _forge_size(rng, seed)
    block = rng.choice(container.blocks)
    part = "side" if block.side and rng.random() < 0.4 else "payload"
    data = bytearray(getattr(block, part))
    action = rng.random()
    if action < 0.45 and data:
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif action < 0.6:
        data = bytearray(rng.randrange(256) for _ in range(len(data)))
    elif action < 0.75:
        del data[rng.randrange(len(data) + 1) :]
    elif action < 0.9:
        data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    else:  # coded <-> stored: the payload read as the other kind
        block.stored = not block.stored
        block.payload_length = None if block.stored else len(block.payload)
        block.data_crc32 = None if block.stored else zlib.crc32(block.payload)
        if block.stored:
            block.side_length, block.side = None, b""
    setattr(block, part, bytes(data))
    block.reseal()
    if block.stored:
        block.n_symbols = max(1, len(block.payload))
    return container.to_bytes()


def _splice(rng: random.Random, seed: Seed, donor: Seed) -> bytes:
    """The start of one container followed by the rest of another, at field boundaries or anywhere."""
    if rng.random() < 0.5:
        return seed.blob[: rng.choice(seed.boundaries)] + donor.blob[rng.choice(donor.boundaries) :]
    return (
        seed.blob[: rng.randrange(len(seed.blob) + 1)]
        + donor.blob[rng.randrange(len(donor.blob) + 1) :]
    )


MUTATIONS: dict[str, Callable[[random.Random, Seed], bytes]] = {
    "bit-flip": _flip_bits,
    "byte-set": _set_bytes,
    "insert": _insert,
    "delete": _delete,
    "truncate": _truncate,
    "truncate-boundary": _truncate_at_boundary,
    "rearrange-blocks": _rearrange_blocks,
    "swap-fields": _swap_fields,
    "forge-size": _forge_size,
    "forge-header": _forge_header,
    "forge-payload": _forge_payload,
}
EXHAUSTIVE_EVERY = 4  # every 4th index truncates at the next enumerated boundary


def boundary_cuts(seeds: list[Seed]) -> list[tuple[Seed, int]]:
    """(seed, length) for a cut at, and one byte before, every field boundary of every seed."""
    return [
        (seed, max(cut - back, 0))
        for seed in seeds
        for cut in seed.boundaries[:-1]
        for back in (0, 1)
    ]


def make_mutant(
    run_seed: int,
    seeds: list[Seed],
    cuts: list[tuple[Seed, int]],
    all_seeds: list[Seed],
    index: int,
) -> Mutant:
    """The index-th mutant of a model's seeds (cuts: their `boundary_cuts`); a pure function."""
    if seeds[0].model in FILE_KINDS:
        return make_file_mutant(run_seed, seeds, index)
    if index % EXHAUSTIVE_EVERY == 0 and index // EXHAUSTIVE_EVERY < len(cuts):
        seed, length = cuts[index // EXHAUSTIVE_EVERY]
        return Mutant(
            seed.blob[:length],
            "truncate-enumerated",
            seed,
            decode_key=default_decode_key(seed.model),
        )
    rng = random.Random(f"{run_seed}/{seeds[0].model}/{index}")
    seed = rng.choice(seeds)
    decode_key = default_decode_key(seed.model)
    kind = rng.choice([*MUTATIONS, "splice", "wrong-model"])
    if kind == "splice":
        donor = rng.choice(all_seeds)
        return Mutant(_splice(rng, seed, donor), kind, seed, donor, decode_key)
    if kind == "wrong-model":
        others = [key for key in [HEADER, *models.BUILTIN_MODELS, *TRAINED_MODELS] if key != decode_key]
        return Mutant(seed.blob, kind, seed, decode_key=rng.choice(others))
    return Mutant(MUTATIONS[kind](rng, seed), kind, seed, decode_key=decode_key)


# --- .npy headers and model files ---------------------------------------------------------

U32 = struct.Struct("<I")
U32_ABSURD = (0, 1, 2, 3, 255, 256, 1 << 16, 1 << 20, (1 << 20) + 1, 1 << 24, (1 << 24) + 1, 1 << 26, (1 << 26) + 1,
              0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)  # fmt: skip
JSON_ABSURD = (
    None, True, False, 0, -1, 1, 2, 255, 256, 257, 1 << 20, 1 << 24, (1 << 24) + 1, 1 << 26, (1 << 26) + 1, 1 << 31,
    1 << 63, 1 << 64, 10**400, 0.5, 1e308, "", "x" * 5000, [], {}, {"mode": "adaptive"}, "range", "ans", "bytes",
    "histogram", "static", "adaptive", "trained",
)  # fmt: skip


def _npy_file(array: np.ndarray, version: tuple[int, int] = (1, 0)) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, array, version=version, allow_pickle=False)
    return buffer.getvalue()


def npy_seed_files() -> dict[str, bytes]:
    """Valid .npy files: several widths and signs, byte orders, shapes, C and Fortran order, v1 and v2."""
    rng = np.random.default_rng(3)
    grid = rng.integers(-300, 300, size=(6, 5)).astype("<i2")
    return {
        "u1-1d": _npy_file(np.frombuffer(_text(20, random.Random(1)), dtype=np.uint8)),
        "i2-2d": _npy_file(grid),
        "i2-fortran": _npy_file(np.asfortranarray(grid)),
        "u2-big-endian-3d": _npy_file(rng.integers(0, 4000, size=(2, 3, 4)).astype(">u2")),
        "i8-v2": _npy_file(rng.integers(-(1 << 40), -(1 << 40) + 5000, size=7), version=(2, 0)),
        "i4-0d": _npy_file(np.array(-17, dtype="<i4")),
        "u1-empty": _npy_file(np.zeros((0, 3), dtype=np.uint8)),
    }


def model_seed_files() -> dict[str, bytes]:
    """Valid .dcm files of every model family: trained histogram, MLP (with followers), record model, priors
    of engines 2 and 3, hybrids of engines 2 and 3."""
    from deepcompress import modelfile

    return {
        "histogram": modelfile.model_to_bytes(trained_histogram()),
        "mlp-followers": modelfile.model_to_bytes(trained_mlp()),
        "mlp-toy": (ROOT / "tests" / "golden" / "mlp_toy_k1.dcm").read_bytes(),
        "record-mlp": (ROOT / "tests" / "golden" / "records_k5_d3.dcm").read_bytes(),
        "prior": (ROOT / "tests" / "golden" / "prior_tiny.dcm").read_bytes(),
        "prior-engine3": modelfile.model_to_bytes(trained_prior_engine3()),
        "hybrid": (ROOT / "tests" / "golden" / "hybrid_tiny.dcm").read_bytes(),
        "hybrid-engine3": (ROOT / "tests" / "golden" / "hybrid3_tiny.dcm").read_bytes(),
    }


def make_file_seeds(kind: str) -> list[Seed]:
    files = npy_seed_files() if kind == NPY else model_seed_files()
    return [Seed(f"{kind}/{name}", kind, blob, blob, (0, len(blob))) for name, blob in files.items()]


SHAPE_ABSURD = (
    (), (0,), (-1,), (-5, 3), (1 << 31,), (1 << 62,), (1 << 63,), (10**30,), (2**64 + 3,), (3, 1 << 61),
    (1,) * 64, (1,) * 10_000, (1.5,), ("3",), (True,), [3], None, 3, ((3,),),
)  # fmt: skip
DESCR_ABSURD = (
    "<i8", "|u1", ">i4", "<f4", "|O", "V8", "<i16", "S5", "<U3", "|b1", "<m8", "object", 12, None, [("a", "<i4")],
    "<i" + "9" * 30, "x" * 5000,
)  # fmt: skip
ORDER_ABSURD = (True, False, 0, 1, "yes", None)


def _npy_parts(blob: bytes) -> tuple[tuple[int, int], dict[str, Any], bytes]:
    """(version, header dict, data) of a valid seed .npy file."""
    import ast

    major, minor = blob[6], blob[7]
    size_format = "<H" if major == 1 else "<I"
    start = 8 + struct.calcsize(size_format)
    (length,) = struct.unpack_from(size_format, blob, 8)
    return (major, minor), ast.literal_eval(blob[start : start + length].decode("latin1")), blob[start + length :]


def _npy_bytes(version: tuple[int, int], text: str, data: bytes, declared: int | None = None) -> bytes:
    size_format = "<H" if version[0] == 1 else "<I"
    body = text.encode("latin1", "replace")
    body += b" " * (-(len(body) + 9 + struct.calcsize(size_format)) % 64) + b"\n"
    length = (len(body) if declared is None else declared) % (1 << (8 * struct.calcsize(size_format)))
    return b"\x93NUMPY" + bytes(version) + struct.pack(size_format, length) + body + data


def _forge_npy(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    version, header, data = _npy_parts(seed.blob)
    action = rng.choice(["shape", "shape", "descr", "order", "keys", "version", "length", "data", "nesting"])
    declared = None
    if action == "shape":
        header["shape"] = rng.choice(SHAPE_ABSURD)
    elif action == "descr":
        header["descr"] = rng.choice(DESCR_ABSURD)
    elif action == "order":
        header["fortran_order"] = rng.choice(ORDER_ABSURD)
    elif action == "keys":
        if rng.random() < 0.5:
            header.pop(rng.choice(sorted(header)))
        else:
            header[rng.choice(["extra", "Shape", 3])] = rng.choice(SHAPE_ABSURD)
    elif action == "version":
        version = rng.choice([(0, 0), (2, 0), (3, 0), (1, 1), (255, 255), (1, 0)])
    elif action == "length":
        declared = rng.choice(U32_ABSURD)
    elif action == "data":
        data = data[: rng.randrange(len(data) + 1)] if rng.random() < 0.5 else data + bytes(rng.randint(1, 9))
    else:
        depth = rng.choice([50, 1000, 100_000])
        header["shape"] = "NEST"
        text = repr(header).replace("'NEST'", "(" * depth + ")" * depth)
        return action, _npy_bytes(version, text, data)
    return action, _npy_bytes(version, repr(header), data, declared)


def _dcm_parts(blob: bytes) -> tuple[int, dict[str, Any], bytes]:
    """(version, header JSON, array payload) of a valid seed model file."""
    _, version, length = struct.unpack_from("<4sHI", blob)
    return version, json.loads(blob[10 : 10 + length]), blob[10 + length : -4]


def _dcm_bytes(version: int, body: bytes, payload: bytes, declared: int | None = None) -> bytes:
    length = len(body) if declared is None else declared
    head = struct.pack("<4sHI", b"DCM\x00", version, length) + body + payload
    return head + U32.pack(zlib.crc32(head))


def _refingerprint(header: dict[str, Any], payload: bytes) -> None:
    """Recompute the fingerprint of a forged header where the package can build its model (as a forger would)."""
    from deepcompress import modelfile

    try:
        arrays = modelfile._read_arrays(header["arrays"], payload)
        model = models.model_class(header["model"]).from_parameters(header["config"], arrays)
        header["fingerprint"] = model.fingerprint()
    except Exception:  # noqa: BLE001, S110 -- then the loader must reject it; the judge checks that
        pass


def _forge_dcm(rng: random.Random, seed: Seed) -> tuple[str, bytes]:
    version, header, payload = _dcm_parts(seed.blob)
    action = rng.choice(["array-shape", "array-dtype", "arrays", "config", "config", "top", "nesting",
                         "length", "version", "payload"])  # fmt: skip
    declared = None
    if action == "array-shape":
        entry = rng.choice(header["arrays"])
        if rng.random() < 0.7:
            shape = rng.choice(SHAPE_ABSURD)
            entry[2] = list(shape) if isinstance(shape, (tuple, list)) else shape
        else:
            entry[2] = [max(0, n + rng.choice([-1, 1, 1 << 20])) for n in entry[2]]
    elif action == "array-dtype":
        rng.choice(header["arrays"])[1] = rng.choice([*DESCR_ABSURD, "<u4", "<i8", "|i1"])
    elif action == "arrays":
        arrays = header["arrays"]
        if rng.random() < 0.5 and len(arrays) > 1:
            i, j = rng.sample(range(len(arrays)), 2)
            arrays[i], arrays[j] = arrays[j], arrays[i]
        elif rng.random() < 0.5:
            del arrays[rng.randrange(len(arrays))]
        else:
            arrays.append(rng.choice([["extra", "<i8", [1]], ["x"], None, 5]))
    elif action == "config":
        config = header["config"]
        key = rng.choice([*sorted(config), "unknown"])
        config[key] = rng.choice([*JSON_ABSURD, [1 << 20], [1] * 1000, list(range(1, 40)), 26, 24, 1 << 16, 4097])
    elif action == "top":
        key = rng.choice([*sorted(header), "unknown"])
        header[key] = rng.choice(JSON_ABSURD)
    elif action == "nesting":
        depth = rng.choice([100, 10_000, 200_000])
        nested = "[" * depth + ("]" * depth if rng.random() < 0.8 else "")  # balanced, or cut off
        body = json.dumps({**header, "metadata": "NEST"}).replace('"NEST"', nested).encode()
        return action, _dcm_bytes(version, body, payload)
    elif action == "length":
        declared = rng.choice(U32_ABSURD)
    elif action == "version":
        version = rng.choice([0, 2, 255, 65535])
    else:
        data = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            if data:
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        payload = bytes(data)
    if action in ("array-shape", "array-dtype", "config", "payload") and rng.random() < 0.7:
        _refingerprint(header, payload)
    return action, _dcm_bytes(version, json.dumps(header).encode(), payload, declared)


def make_file_mutant(run_seed: int, seeds: list[Seed], index: int) -> Mutant:
    """The index-th mutant of a file kind's seeds: byte-level damage, or a forged field (lengths and CRC recomputed)."""
    rng = random.Random(f"{run_seed}/{seeds[0].model}/{index}")
    seed = rng.choice(seeds)
    kind = rng.choice(["bit-flip", "byte-set", "insert", "delete", "truncate", "forge", "forge", "forge", "forge"])
    if kind != "forge":
        return Mutant(MUTATIONS[kind](rng, seed), kind, seed)
    action, blob = (_forge_npy if seed.model == NPY else _forge_dcm)(rng, seed)
    return Mutant(blob, f"forge-{action}", seed)


def _sample_for(model: Any) -> tuple[np.ndarray, bool]:
    """(data a loaded model can code, whether it is a byte model): symbols of its alphabet, shaped in records."""
    config = model.config()
    alphabet, width = model.alphabet_size, int(config.get("record_size", 1))
    values = (np.arange(12 * width, dtype=np.int64) * 7919) % alphabet
    return values.reshape(12, width) if width > 1 else values, alphabet == 256


def judge_file(mutant: Mutant) -> tuple[str, str]:
    """(outcome, detail) of reading a mutated .npy or model file, and using it when it is accepted."""
    from deepcompress import modelfile, symbols

    try:
        if mutant.seed.model == NPY:
            try:
                stream = io.BytesIO(mutant.blob)
                layout = symbols.read_npy_layout(stream)
            except ValueError as error:
                return "ValueError", str(error)[:200]
            sink = io.BytesIO()
            api.compress_stream(stream, sink, "histogram-adaptive", layout=layout)  # the layout, not the model, is fuzzed
            output = deepcompress.decompress(sink.getvalue())
            expected = mutant.blob
        else:
            try:
                model, _ = modelfile.model_from_bytes(mutant.blob)
            except deepcompress.ModelFileError as error:
                return "ModelFileError", str(error)[:200]
            data, as_bytes = _sample_for(model)
            if as_bytes:
                expected = data.astype(np.uint8).tobytes()
                output = deepcompress.decompress(deepcompress.compress(expected, model), model)
            else:
                expected = data.tobytes()
                output = deepcompress.decompress_array(deepcompress.compress_array(data, model), model).tobytes()
    except Exception as error:  # noqa: BLE001 -- an accepted file that cannot be used is the finding
        return CRASH, _describe(error)
    if output != expected:
        return WRONG, f"round trip gave {len(output)} bytes, expected {len(expected)}"
    return ACCEPTED, ""


# --- judging one mutant -------------------------------------------------------------------


def judge(
    mutant: Mutant, decode: Callable[[bytes], bytes], read_info: Callable[[bytes], object]
) -> tuple[str, str]:
    """(outcome, detail) of decoding a mutant; see the module docstring for the outcomes."""
    try:
        read_info(mutant.blob)
    except deepcompress.DeepCompressError:
        pass
    except Exception as error:  # noqa: BLE001 -- MemoryError and RecursionError are crashes too
        return CRASH, f"read_info: {_describe(error)}"
    try:
        output = decode(mutant.blob)
    except deepcompress.DeepCompressError as error:
        return type(error).__name__, str(error)[:200]
    except Exception as error:  # noqa: BLE001 -- any other exception is the finding
        return CRASH, _describe(error)
    if output == mutant.seed.original:
        return ORIGINAL, ""
    if mutant.donor is not None and output == mutant.donor.original:
        return DONOR, ""
    members = _whole_members(mutant)
    if members is not None and output == members:
        return MEMBERS, ""
    return WRONG, f"decoded {len(output)} bytes, expected {len(mutant.seed.original)}"


def _whole_members(mutant: Mutant) -> bytes | None:
    """What a mutant made of whole copies of the seed's (and donor's) stream decodes to: the
    concatenation of their data (members decode one after the other); None if it is not one."""
    seeds = [mutant.seed, *([mutant.donor] if mutant.donor is not None else [])]
    blob, out = mutant.blob, b""
    while blob:
        seed = next((seed for seed in seeds if seed.blob and blob.startswith(seed.blob)), None)
        if seed is None:
            return None
        blob, out = blob[len(seed.blob) :], out + seed.original
    return out


def _describe(error: BaseException) -> str:
    where = traceback.extract_tb(error.__traceback__)[-1]
    return f"{type(error).__name__}: {str(error)[:200]} (at {Path(where.filename).name}:{where.lineno})"


# --- worker processes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    run_seed: int = 0
    timeout_s: float = 30.0
    memory_mb: int = 2048  # address space a worker may add beyond its warmed-up size (> MAX_RSS_MB: the
    # RSS bound, not an allocation failure, must judge a legitimate 2**24-value alphabet, ~1.2 GB)
    max_rss_mb: int = MAX_RSS_MB  # peak resident memory of a worker (the README's bound)
    max_cpu_s: float = MAX_CPU_S  # CPU seconds one input may take (the README's bound)


class Fuzzer:
    """Everything a process needs to regenerate and judge mutants: the seeds of every model."""

    def __init__(self, model_names: Iterable[str], run_seed: int):
        self.run_seed = run_seed
        self.seeds = {name: make_file_seeds(name) if name in FILE_KINDS else make_seeds(name) for name in model_names}
        self.cuts = {name: [] if name in FILE_KINDS else boundary_cuts(seeds) for name, seeds in self.seeds.items()}
        self.all_seeds = [seed for name, seeds in self.seeds.items() if name not in FILE_KINDS for seed in seeds]
        # Any container mutant may be decoded with any model ("wrong-model"): build them all
        # up front, before the worker's address space is limited; file kinds need none.
        self.decode_arguments = {
            key: decode_argument(key) for key in [HEADER, *models.BUILTIN_MODELS, *TRAINED_MODELS]
        } if self.all_seeds else {}

    def mutant(self, model: str, index: int) -> Mutant:
        return make_mutant(
            self.run_seed, self.seeds[model], self.cuts[model], self.all_seeds, index
        )

    def judge(self, model: str, index: int) -> tuple[str, str, str]:
        """(kind, outcome, detail) of one mutant."""
        mutant = self.mutant(model, index)
        if model in FILE_KINDS:
            return mutant.kind, *judge_file(mutant)
        decode_with = self.decode_arguments[mutant.decode_key]
        outcome, detail = judge(
            mutant,
            lambda blob: deepcompress.decompress(blob, decode_with),
            lambda blob: api.read_info(io.BytesIO(blob)),
        )
        return mutant.kind, outcome, detail

    def warm_up(self) -> None:
        """Decode every seed once, so lazy imports and compilation happen before memory is limited."""
        for seed in self.all_seeds:
            decode_with = self.decode_arguments[default_decode_key(seed.model)]
            assert deepcompress.decompress(seed.blob, decode_with) == seed.original, seed.name
        for kind in FILE_KINDS:
            for seed in self.seeds.get(kind, []):
                assert judge_file(Mutant(seed.blob, "seed", seed))[0] == ACCEPTED, seed.name


def _limit_address_space(extra_mb: int) -> None:
    with open("/proc/self/status") as status:
        vm_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = (vm_kb << 10) + (extra_mb << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB, a high-water mark.

    Linux's VmHWM where there is one: `getrusage`'s ru_maxrss also counts the parent's
    memory at the fork that started this process (kept across exec), so a worker started
    by a big process would seem to hold what its parent held.
    """
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux, bytes on macOS


def _worker(conn: connection.Connection, model_names: list[str], settings: Settings) -> None:
    fuzzer = Fuzzer(model_names, settings.run_seed)
    fuzzer.warm_up()
    _limit_address_space(settings.memory_mb)
    conn.send("ready")
    while (task := conn.recv()) is not None:
        model, index = task
        started = time.process_time()
        kind, outcome, detail = fuzzer.judge(model, index)
        cpu_s = time.process_time() - started
        rss_mb = peak_rss_mb()
        if rss_mb > settings.max_rss_mb:
            outcome, detail = OVER_MEMORY, f"peak RSS {rss_mb:.0f} MB > {settings.max_rss_mb} MB ({outcome})"
        elif cpu_s > settings.max_cpu_s:
            outcome, detail = OVER_TIME, f"{cpu_s:.1f} CPU s > {settings.max_cpu_s} s ({outcome})"
        conn.send((model, index, kind, outcome, detail, cpu_s, rss_mb))


@dataclass
class _Slot:
    """A worker process and the task it is busy with."""

    process: Any
    conn: connection.Connection
    task: tuple[str, int] | None = None
    deadline: float = 0.0


@dataclass
class Report:
    """Outcome counts per model and per mutation kind, and the failures."""

    by_model: dict[str, collections.Counter] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    by_kind: dict[str, collections.Counter] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    failures: list[tuple[str, int, str, str, str]] = field(
        default_factory=list
    )  # model, index, kind, outcome, detail
    seconds: float = 0.0
    max_cpu_s: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))
    max_rss_mb: dict[str, float] = field(default_factory=lambda: collections.defaultdict(float))

    def add(
        self, model: str, index: int, kind: str, outcome: str, detail: str, cpu_s: float = 0.0, rss_mb: float = 0.0
    ) -> None:
        self.max_cpu_s[model] = max(self.max_cpu_s[model], cpu_s)
        self.max_rss_mb[model] = max(self.max_rss_mb[model], rss_mb)
        self.by_model[model][outcome] += 1
        self.by_kind[kind][outcome] += 1
        if outcome in FAILURES:
            self.failures.append((model, index, kind, outcome, detail))


def run(
    model_names: list[str],
    per_model: int,
    workers: int = 2,
    settings: Settings = Settings(),
    save_dir: Path | None = REGRESSION_DIR,
) -> Report:
    """Judge `per_model` mutants of each model in `workers` processes; save failing inputs under save_dir."""
    context = get_context("spawn")  # a fresh interpreter: no state shared with the caller
    report = Report()
    tasks = collections.deque((model, index) for index in range(per_model) for model in model_names)
    started = time.monotonic()

    def start() -> _Slot:
        parent, child = context.Pipe()
        process = context.Process(target=_worker, args=(child, model_names, settings), daemon=True)
        process.start()
        child.close()
        if not parent.poll(600) or parent.recv() != "ready":
            raise RuntimeError("fuzz worker did not start")
        return _Slot(process, parent)

    def restart(slot: _Slot) -> _Slot:
        slot.process.kill()
        slot.process.join()
        return start()

    slots = [start() for _ in range(max(1, min(workers, len(tasks))))]
    while tasks or any(slot.task for slot in slots):
        for slot in slots:
            if slot.task is None and tasks:
                slot.task, slot.deadline = tasks.popleft(), time.monotonic() + settings.timeout_s
                slot.conn.send(slot.task)
        busy = [slot for slot in slots if slot.task]
        wait_s = max(0.0, min(slot.deadline for slot in busy) - time.monotonic())
        ready = connection.wait([slot.conn for slot in busy], timeout=wait_s)
        for position, slot in enumerate(slots):
            if slot.conn in ready:
                try:
                    answer = slot.conn.recv()
                    if time.monotonic() > slot.deadline:  # answered, but too late: still a hang
                        answer = (*slot.task, answer[2], HANG, f"answered after {settings.timeout_s} s")
                    report.add(*answer)
                    slot.task = None
                    if answer[3] != OVER_MEMORY:
                        continue
                    # else a fresh worker, so that its high-water mark blames no later input
                except EOFError:  # the worker died (e.g. aborted by an allocation failure)
                    slot.process.join()
                    report.add(
                        *slot.task,
                        "(unknown)",
                        CRASH,
                        f"worker died with exit code {slot.process.exitcode}",
                    )
            elif slot.task and time.monotonic() > slot.deadline:
                report.add(
                    *slot.task, "(unknown)", HANG, f"no answer within {settings.timeout_s} s"
                )
            else:
                continue
            slots[position] = restart(slot)
    for slot in slots:
        slot.conn.send(None)
        slot.process.join(5)
    report.seconds = time.monotonic() - started
    if report.failures and save_dir is not None:
        _save_failures(report, model_names, settings, save_dir)
    return report


def _save_failures(
    report: Report, model_names: list[str], settings: Settings, save_dir: Path
) -> None:
    fuzzer = Fuzzer(model_names, settings.run_seed)
    save_dir.mkdir(parents=True, exist_ok=True)
    for index_in_list, (model, index, _, outcome, detail) in enumerate(report.failures):
        mutant = fuzzer.mutant(model, index)
        suffix = {NPY: ".npy", DCM: ".dcm"}.get(model, ".dcz")
        name = f"{mutant.decode_key}--{model}-{mutant.kind}-{hashlib.sha256(mutant.blob).hexdigest()[:12]}{suffix}"
        (save_dir / name).write_bytes(mutant.blob)
        report.failures[index_in_list] = (
            model,
            index,
            mutant.kind,
            outcome,
            f"{detail} -> {save_dir / name}",
        )


def decode_key_of_saved(path: Path) -> str:
    """The decode key a saved regression input was judged with (its name before '--')."""
    return path.name.split("--", 1)[0]


# --- the command --------------------------------------------------------------------------


def format_table(title: str, rows: dict[str, collections.Counter]) -> str:
    errors = sorted(
        {outcome for counts in rows.values() for outcome in counts} - {ORIGINAL, DONOR, MEMBERS, ACCEPTED, *FAILURES}
    )
    columns = [ORIGINAL, DONOR, MEMBERS, ACCEPTED, *errors, *FAILURES]
    width = max(len(title), *(len(name) for name in rows))
    lines = [
        f"{title:<{width}} {'inputs':>7} "
        + " ".join(f"{c.removesuffix('Error'):>{max(len(c) - 5, 7)}}" for c in columns)
    ]
    for name, counts in rows.items():
        cells = " ".join(f"{counts[c]:>{max(len(c) - 5, 7)}}" for c in columns)
        lines.append(f"{name:<{width}} {sum(counts.values()):>7} {cells}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--per-model", type=int, default=10_000, help="mutants per model")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds one mutant may take")
    parser.add_argument(
        "--memory-mb", type=int, default=Settings.memory_mb, help="address space a worker may add while decoding"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="run seed: the same seed gives the same mutants"
    )
    parser.add_argument("--max-rss-mb", type=int, default=MAX_RSS_MB, help="peak RSS bound of a worker")
    parser.add_argument("--max-cpu-s", type=float, default=MAX_CPU_S, help="CPU-time bound of one input")
    parser.add_argument("--models", help=f"comma-separated subset of {','.join(fuzz_kinds())}")
    parser.add_argument(
        "--save-dir", type=Path, default=REGRESSION_DIR, help="where failing inputs are saved"
    )
    args = parser.parse_args()
    names = args.models.split(",") if args.models else fuzz_kinds()
    settings = Settings(args.seed, args.timeout, args.memory_mb, args.max_rss_mb, args.max_cpu_s)
    report = run(names, args.per_model, args.workers, settings, args.save_dir)
    cuts = {name: len(boundary_cuts(make_seeds(name))) for name in names if name not in FILE_KINDS}
    print(format_table("model", report.by_model))
    print()
    print(format_table("mutation", dict(sorted(report.by_kind.items()))))
    print()
    for name in names:
        print(f"{name}: max {report.max_cpu_s[name]:.2f} CPU s per input, worker peak RSS {report.max_rss_mb[name]:.0f} MB")
    print()
    for name, count in cuts.items():
        covered = min(count, -(-args.per_model // EXHAUSTIVE_EVERY))
        print(f"{name}: {covered} of {count} boundary truncations enumerated")
    print(
        f"{sum(sum(c.values()) for c in report.by_model.values())} inputs in {report.seconds:.0f} s, {len(report.failures)} failures"
    )
    for model, index, kind, outcome, detail in report.failures:
        print(f"FAIL {model} #{index} {kind}: {outcome}: {detail}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
