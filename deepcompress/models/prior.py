"""`adaptive-prior`: the `adaptive` engine started from a trained state (`deepcompress train --model adaptive`).

The online model knows nothing at the start of a file, which is where small files lose. A prior
is a snapshot of the engine after it has run over training data: its counters, mixer weights and
APMs, plus the end of the training text as history (the match and record models find repeats
in it, as `zstd -D` does in its dictionary). Every stream coded with the prior starts from that
state, then adapts as usual; a primed prior (config `prime_bytes`) starts where the engine stands
after running once more over the end of its history (see DEFAULT_PRIME_BYTES). The snapshot is plain integers copied into the session's arrays, so
encoder and decoder start identically on any machine.

Stored form (one uint8 array "snapshot" in the `.dcm` model file; it is part of the fingerprint):

    u32 section count = 2 | for each: u32 length | lzma (.xz) stream
    section 0, tables:  u32 n_cm | u32 n_apm | u32[n_cm] gaps | u32[n_cm] values
                        | i32[MW_LEN] mixer weights minus fresh | u32[n_apm] gaps | i32[n_apm] deltas
    section 1, history: the history bytes

Counters are stored sparse (gaps between the indices of the non-fresh ones, as `cm` holds them,
XOR bias), APM entries as sparse deltas from the fresh identity; 32-bit values are split into
byte planes, which lzma compresses far better. A prior of an engine-3 preset (6, 7, 9) stores
instead, in section 0, for each array of `_cm3_kernels.PRIOR_TABLES` in that order:
u32 n | u32[n] gaps | u32[n] values, the entries that differ from a fresh session's as their
32-bit patterns XOR the fresh ones, rounded (`round_tables3`: a start state needs far fewer bits
than a running one, and lzma packs the rounded values several times smaller) unless the tables
whole and all the history fit; the history fills the rest of the size budget (`--size`).

Bound: decompression stops at the preset's documented tables (`state_bound`), so a forged
snapshot allocates no more than a real stream of the preset does (plus MAX_HISTORY bytes).
"""

from __future__ import annotations

import copy
import lzma
import struct
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from deepcompress._lazy import LazyModule
from deepcompress.models import adaptive, primed_cache
from deepcompress.models.adaptive import AdaptiveModel
from deepcompress.models.base import Model

K = LazyModule("deepcompress.models._cm_kernels")
K3 = LazyModule("deepcompress.models._cm3_kernels")

MAX_HISTORY = 1 << 24  # bytes of history a prior may carry (16 MiB)
MIN_BUDGET = 4096  # smallest --size accepted: a file holds its JSON header besides the snapshot
# Hashed tables of a prior's sessions (not stored, so they only size the session): 2**17, what
# `sized_for` gives a 16 KiB input (-1.6% on the stdlib set against 2**15).
HASH_BITS = 17
# A prior's sessions size their hashed tables by this slack, as engine 3's own sized_for did when
# priors came (5; engine 2: 3), frozen: a stream coded with a prior records only the prior's
# fingerprint, and the decoder finds its sized variant by input size (`api._sized_variants`).
PRIOR_SIZE_SLACK_BITS = {2: 3, 3: 5}
MODEL_FILE_SLACK = 1024  # bytes kept for the model file's JSON header and metadata
# Priming (engine 3): a primed prior's sessions start where the engine stands after running over
# the last `prime_bytes` of the history once, as over a file, so that the hashed contexts (orders
# 2 and up, words, records), which no budget can afford to store, start warm, as paq8px's text
# pretraining does at start-up. It costs ~2.4 us a byte once per variant (the primed state is
# kept and copied for each stream, and kept on disk for later processes: `primed_cache`). Chosen on the small-file sets (112 KB budget,
# payload of the held-out halves): stdlib 548,700 B unprimed -> 495,204 primed (405 KB of
# history) -> 489,028 primed with no tables stored, whose room went to history (561 KB).
DEFAULT_PRIME_BYTES = 1 << 19
MAX_PRIME_BYTES = 1 << 21  # the most a model file can make a session start-up run over (~5 s)
# Hashed tables of a primed prior's sessions: the history's contexts need room (stdlib at 2**18:
# +2.3% against 2**20; 2**22: -0.6%, copyright files -2.5%, but every stream's session copies
# them: 48 MB instead of 12).
PRIME_HASH_BITS = 20
_U32 = struct.Struct("<I")
# The preset a prior runs when its level's engine takes no prior (engine 4), and a hybrid's.
PRIOR_ENGINE2_PRESET = 2
_LZMA_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME}]


def _planes(values: np.ndarray) -> bytes:
    """32-bit values as 4 byte planes (all low bytes first): uint8[4n] as bytes."""
    return np.ascontiguousarray(values.astype("<u4").view(np.uint8).reshape(-1, 4).T).tobytes()


def _unplanes(raw: memoryview, n: int, dtype: str) -> np.ndarray:
    return np.frombuffer(raw, np.uint8, 4 * n).reshape(4, n).T.copy().view(dtype).reshape(n)


def _xz(raw: bytes) -> bytes:
    return lzma.compress(raw, format=lzma.FORMAT_XZ, check=lzma.CHECK_NONE, filters=_LZMA_FILTERS)


def _unxz(blob: bytes, bound: int) -> bytes:
    """Decompress at most `bound` bytes; ValueError for a stream that is longer or damaged."""
    decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
    try:
        raw = decompressor.decompress(blob, max_length=bound + 1)
    except lzma.LZMAError as error:
        raise ValueError(f"prior snapshot is damaged ({error})") from None
    if len(raw) > bound:
        raise ValueError(f"prior snapshot section decompresses beyond its bound of {bound} bytes")
    if not decompressor.eof or decompressor.unused_data:
        raise ValueError("prior snapshot section is truncated or has trailing bytes")
    return raw


def _fresh(config: dict[str, int]) -> dict[str, np.ndarray]:
    shapes = adaptive.state_shapes(config)
    mw = np.empty(shapes["mw"], dtype=np.int32)
    apm = np.empty(shapes["apm"], dtype=np.int32)
    K.init_tables(mw, apm)
    return {"mw": mw, "apm": apm}


def state_bound(config: dict[str, int]) -> int:
    """Largest tables section of a full config (preset included), in bytes: every entry stored."""
    if _engine(config) == 3:
        return sum(4 + 8 * n for n in K3.PRIOR_TABLES.values())
    shapes = adaptive.state_shapes(config)
    return 8 + 8 * shapes["cm"] + 4 * shapes["mw"] + 8 * shapes["apm"]


def _engine(config: dict[str, int]) -> int:
    return adaptive.ENGINES[config["preset"]]


def _engine_config(config: dict[str, int]) -> dict[str, int]:
    """The engine's part of a prior's config (all but prime_bytes)."""
    return {key: value for key, value in config.items() if key != "prime_bytes"}


def _fresh3(config: dict[str, int]) -> dict[str, np.ndarray]:
    """A fresh engine-3 session's PRIOR_TABLES arrays (apm: its first entries), as 32-bit words:
    the file stores every table as words (apm as int32, as sessions held it before uint16)."""
    state = K3.new_state({**config, "hash_bits": 8, "match_bits": 8})
    return {name: state[name][:n].astype(np.int32 if state[name].itemsize < 4 else state[name].dtype)
            for name, n in K3.PRIOR_TABLES.items()}


def encode_tables3(config: dict[str, int], state: dict[str, np.ndarray], stored: Sequence[str] | None = None) -> bytes:
    """The tables section (uncompressed) of an engine-3 prior: `state` holds PRIOR_TABLES' arrays;
    those not in `stored` (default: all) are written as fresh (no entries)."""
    parts = []
    for name, fresh in _fresh3(config).items():
        if stored is not None and name not in stored:
            parts += [_U32.pack(0)]
            continue
        changed = state[name][: len(fresh)].astype(fresh.dtype).view(np.uint32) ^ fresh.view(np.uint32)
        gaps, values = _sparse(changed)
        parts += [_U32.pack(len(gaps)), _planes(gaps), _planes(values)]
    return b"".join(parts)


# What `round_tables3` keeps of a trained engine-3 session, chosen on the small-file sets'
# training halves (a quarter of the files held out, 112 KB budget; benchmarks/small_files.py):
# Python modules -2.5% (117,812 B against 120,792), copyright files -11.3% (their mixers now
# fit: 20,224 B against 22,804), against storing the values whole. Finer (12, 8, 6 bits dropped)
# or coarser (16) did no better; rounding weights and APM entries themselves rather than their
# changes from fresh, 0.1% worse on both.
# Only where the budget cannot hold the tables whole and all the history: the rounding buys
# history, nothing else (1 MB budgets, which hold all of both sets' training data, lost 0.1-0.2%).
ROUND_PROB_BITS = 14  # counters: low bits of the 22-bit probability dropped (8 kept: 1/256)
ROUND_COUNT_LIMIT = 255  # counters: counts capped, so the first files' bits still move them
ROUND_WEIGHT_BITS = 12  # mixer weights (16.16 fixed point): changes to multiples of 1/16
ROUND_APM_BITS = 10  # APM entries (16 bits): changes to multiples of 2**10
def _round_counters(words: np.ndarray, bias: int) -> np.ndarray:
    """Counters (22-bit p << 10 | count) ^ bias: p to the middle of its 2**ROUND_PROB_BITS step,
    the count capped; p stays in [0, 2**22)."""
    raw = words.astype(np.int64) ^ bias
    p = (raw >> 10) >> ROUND_PROB_BITS << ROUND_PROB_BITS | (1 << (ROUND_PROB_BITS - 1))
    return ((p << 10 | np.minimum(raw & 1023, ROUND_COUNT_LIMIT)) ^ bias).astype(words.dtype)


def _round_change(values: np.ndarray, fresh: np.ndarray, bits: int, low: int, high: int) -> np.ndarray:
    """fresh plus the change training made, rounded to the nearest multiple of 2**bits (so a
    slight change stays near fresh), kept in [low, high]."""
    base = fresh.astype(np.int64)
    change = (values.astype(np.int64) - base + (1 << (bits - 1))) >> bits << bits
    return np.clip(base + change, low, high).astype(values.dtype)


def round_tables3(config: dict[str, int], state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The PRIOR_TABLES arrays of a trained engine-3 session, rounded (ROUND_*) where they differ
    from a fresh session's: entries training never moved stay fresh, so they stay unstored.
    Counters keep a coarser probability (absolute: the kernel reads it directly); mixer weights
    and APM entries a coarser change from their fresh values (which lie off any such grid)."""
    bias = int(K.CM_BIAS)
    top_weight = (2**31 - 1) >> ROUND_WEIGHT_BITS << ROUND_WEIGHT_BITS
    rules = {"t_direct": lambda a, f: _round_counters(a, bias), "t_match": lambda a, f: _round_counters(a, bias),
             "smap": lambda a, f: _round_counters(a, 0),
             "mix": lambda a, f: _round_change(a, f, ROUND_WEIGHT_BITS, -2**31, top_weight),
             "apm": lambda a, f: _round_change(a, f, ROUND_APM_BITS, 0, 2**16 - 1)}  # sessions hold APMs as uint16
    rounded = {}
    for name, fresh in _fresh3(config).items():
        values = state[name][: len(fresh)]
        moved = values.astype(fresh.dtype).view(np.uint32) != fresh.view(np.uint32)
        rounded[name] = np.where(moved, rules[name](values, fresh), values)
    return rounded


def decode_tables3(config: dict[str, int], raw: bytes) -> dict[str, np.ndarray]:
    """Inverse of `encode_tables3`: the PRIOR_TABLES arrays with their dtypes. ValueError if malformed."""
    view, offset, tables = memoryview(raw), 0, {}
    for name, fresh in _fresh3(config).items():
        if offset + 4 > len(raw):
            raise ValueError("prior tables section is too short")
        n = _U32.unpack_from(raw, offset)[0]
        offset += 4
        if n > len(fresh) or offset + 8 * n > len(raw):
            raise ValueError(f"prior {name} holds more entries than the model has, or is truncated")
        gaps = _unplanes(view[offset:offset + 4 * n], n, "<u4")
        values = _unplanes(view[offset + 4 * n:offset + 8 * n], n, "<u4")
        offset += 8 * n
        bits = fresh.view(np.uint32).copy()
        bits[_positions(gaps, len(fresh), name)] ^= values
        tables[name] = bits.view(fresh.dtype)
    if tables["apm"].min() < 0 or tables["apm"].max() >= 1 << 16:  # sessions hold them as uint16
        raise ValueError("prior APM entries out of range")
    if offset != len(raw):
        raise ValueError("prior tables section has the wrong length")
    return tables


def _sparse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    index = np.flatnonzero(values)
    return np.diff(index, prepend=0).astype(np.uint32), values[index]


def encode_tables(config: dict[str, int], state: dict[str, np.ndarray]) -> bytes:
    """The tables section (uncompressed) of `state` (`AdaptiveSession.state()` layout)."""
    fresh = _fresh(config)
    cm_gaps, cm_values = _sparse(state["cm"])
    apm_gaps, apm_deltas = _sparse(state["apm"].astype(np.int64) - fresh["apm"])
    mw_delta = (state["mw"].astype(np.int64) - fresh["mw"]).astype(np.int32)
    return b"".join((_U32.pack(len(cm_gaps)), _U32.pack(len(apm_gaps)), _planes(cm_gaps), _planes(cm_values),
                     _planes(mw_delta), _planes(apm_gaps), _planes(apm_deltas.astype(np.int32))))


def decode_tables(config: dict[str, int], raw: bytes) -> dict[str, np.ndarray]:
    """Inverse of `encode_tables`: cm uint32, mw int32, apm int32. ValueError if malformed."""
    shapes = adaptive.state_shapes(config)
    view = memoryview(raw)
    if len(raw) < 8:
        raise ValueError("prior tables section is too short")
    n_cm, n_apm = _U32.unpack_from(raw, 0)[0], _U32.unpack_from(raw, 4)[0]
    if n_cm > shapes["cm"] or n_apm > shapes["apm"]:
        raise ValueError("prior tables hold more entries than the model has")
    if len(raw) != 8 + 4 * (2 * n_cm + shapes["mw"] + 2 * n_apm):
        raise ValueError("prior tables section has the wrong length")
    offset = 8
    parts = []
    for n, dtype in ((n_cm, "<u4"), (n_cm, "<u4"), (shapes["mw"], "<i4"), (n_apm, "<u4"), (n_apm, "<i4")):
        parts.append(_unplanes(view[offset:offset + 4 * n], n, dtype))
        offset += 4 * n
    cm_gaps, cm_values, mw_delta, apm_gaps, apm_deltas = parts
    tables = _fresh(config)
    cm = np.zeros(shapes["cm"], dtype=np.uint32)
    cm[_positions(cm_gaps, shapes["cm"], "counter")] = cm_values
    tables["cm"] = cm
    tables["mw"] = (tables["mw"].astype(np.int64) + mw_delta).astype(np.int32)
    apm = tables["apm"]
    where = _positions(apm_gaps, shapes["apm"], "APM")
    apm[where] = (apm[where].astype(np.int64) + apm_deltas).astype(np.int32)
    return tables


def _positions(gaps: np.ndarray, size: int, what: str) -> np.ndarray:
    positions = np.cumsum(gaps, dtype=np.int64)
    if len(positions) and (positions[-1] >= size or (len(positions) > 1 and gaps[1:].min() == 0)):
        raise ValueError(f"prior {what} indices are out of range or repeated")
    return positions


def _snapshot_bytes(tables: bytes, history: bytes) -> bytes:
    """The stored snapshot of two compressed sections (the inverse of `_unpack`)."""
    return _U32.pack(2) + _U32.pack(len(tables)) + tables + _U32.pack(len(history)) + history


def _unpack(snapshot: bytes) -> list[bytes]:
    if len(snapshot) < 4 or _U32.unpack_from(snapshot)[0] != 2:
        raise ValueError("prior snapshot must hold 2 sections")
    offset, blobs = 4, []
    for _ in range(2):
        if offset + 4 > len(snapshot):
            raise ValueError("prior snapshot is truncated")
        length = _U32.unpack_from(snapshot, offset)[0]
        offset += 4
        if offset + length > len(snapshot):
            raise ValueError("prior snapshot is truncated")
        blobs.append(snapshot[offset:offset + length])
        offset += length
    if offset != len(snapshot):
        raise ValueError("prior snapshot has trailing bytes")
    return blobs


class PriorModel(Model):
    """The adaptive engine (preset and table sizes in `config`) started from a stored snapshot."""

    name: ClassVar[str] = "adaptive-prior"
    alphabet_size = 256
    self_coder = "binary"

    def __init__(self, config: dict[str, int], snapshot: np.ndarray) -> None:
        """config: preset, hash_bits, match_bits and (engine 3, primed) prime_bytes, in
        [1, min(MAX_PRIME_BYTES, history bytes)]; snapshot: uint8[n], the stored form above."""
        keys = {"preset", "hash_bits", "match_bits"}
        if not isinstance(config, dict) or not keys <= set(config) <= keys | {"prime_bytes"}:
            raise ValueError("an adaptive-prior config names exactly preset, hash_bits, match_bits and optionally prime_bytes")
        if not all(type(v) is int for v in config.values()):
            raise ValueError("adaptive-prior config values must be integers")
        if adaptive.SELF_CODERS.get(config["preset"]) != "binary":
            raise ValueError(f"a prior needs a one-lane preset, not {config['preset']!r}")
        self._prime_bytes = config.get("prime_bytes", 0)
        if "prime_bytes" in config and (_engine(config) != 3 or not 0 < self._prime_bytes <= MAX_PRIME_BYTES):
            raise ValueError(f"prime_bytes lies in [1, {MAX_PRIME_BYTES}], for an engine-3 preset")
        self.base = AdaptiveModel.from_config(_engine_config(config))  # checks the table sizes against the preset's
        self._config = dict(config)
        self._origin = dict(config)  # the trained config; `sized_for` variants differ in table sizes
        self._snapshot = np.ascontiguousarray(snapshot, dtype=np.uint8)
        full = {**self.base.hyperparameters(), "preset": config["preset"]}
        tables, history = _unpack(self._snapshot.tobytes())
        decode = decode_tables3 if _engine(config) == 3 else decode_tables
        self._initial = decode(full, _unxz(tables, state_bound(full)))
        self._initial["history"] = np.frombuffer(_unxz(history, MAX_HISTORY), dtype=np.uint8)
        if self._prime_bytes > len(self._initial["history"]):
            raise ValueError("prime_bytes exceeds the prior's history")
        # (config key, primed session) of the variant primed last, shared by all variants and
        # threads: one held at a time bounds the memory (files of one kind share a variant)
        self._primed: list[Any] = [None, None]
        self._priming = threading.Lock()
        # whether primed states are kept on disk between processes (`primed_cache`); off for the
        # trial priors that training codes held-out files with, which nothing will use again
        self.cache_primed = True
        # engine 3 priors never store hashed states
        self._hashed_stored = "cm" in self._initial and bool(self._initial["cm"][K.HASHED_OFF:-2 * K.MATCH_LEVELS].any())
        self._fingerprint: str | None = None

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def hyperparameters(self) -> dict[str, Any]:
        return {**self.base.hyperparameters(), "history_bytes": len(self._initial["history"]),
                "prime_bytes": self._prime_bytes, "snapshot_bytes": len(self._snapshot)}

    def parameter_arrays(self) -> dict[str, np.ndarray]:
        return {"snapshot": self._snapshot}

    @classmethod
    def from_parameters(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> PriorModel:
        if set(arrays) != {"snapshot"} or arrays["snapshot"].dtype != np.uint8 or arrays["snapshot"].ndim != 1:
            raise ValueError("an adaptive-prior model file holds one uint8 array, 'snapshot'")
        return cls(config, arrays["snapshot"])

    def fingerprint(self) -> str:
        if self._fingerprint is None:  # hashed once: decoding compares it against every sized variant
            self._fingerprint = super().fingerprint()
        return self._fingerprint

    def sized_for(self, n_symbols: int | None) -> PriorModel:
        """A variant with tables for an input of n_symbols bytes coded after the history.

        Hashed tables grow with the input as `AdaptiveModel.sized_for` sizes them, never below
        the trained size, when the snapshot stores none of them (they start fresh at any size);
        the match table grows to index the history and the input. Self if n_symbols is unknown.
        """
        if n_symbols is None or self._hashed_stored:
            return self
        origin, top = self._origin, adaptive.PRESETS[self._origin["preset"]]
        log_n = max(0, int(n_symbols) - 1).bit_length()
        slack = PRIOR_SIZE_SLACK_BITS[_engine(origin)]
        hash_bits = min(top["hash_bits"], max(origin["hash_bits"], log_n + slack))
        # by ceil(log2(n)) like the hashed tables, so that a decoder finds the variant by trying
        # powers of two (`api._sized_variants`)
        reach = (len(self._initial["history"]) + (1 << log_n)).bit_length() + 1
        match_bits = min(top["match_bits"], max(origin["match_bits"], reach))
        if (hash_bits, match_bits) == (self._config["hash_bits"], self._config["match_bits"]):
            return self
        variant = copy.copy(self)
        variant._config = {**origin, "hash_bits": hash_bits, "match_bits": match_bits}
        variant.base = AdaptiveModel.from_config(_engine_config(variant._config))
        variant._fingerprint = None
        return variant

    def session(self) -> adaptive.AdaptiveSession | adaptive.BlockSession:
        """A session at the start of a stream: the snapshot's state (primed: after the history's
        end, learned as a file is)."""
        if self._prime_bytes:
            return self._primed_session().clone()
        return self._start_session(self._initial)

    def _primed_session(self) -> adaptive.BlockSession:
        key = (self._config["hash_bits"], self._config["match_bits"])
        with self._priming:
            if self._primed[0] != key:
                self._primed[:] = [None, None]  # the old one freed before the new one grows
                history = self._initial["history"]
                # the variant's fingerprint covers its config (table sizes, prime_bytes) and snapshot
                cache_key = primed_cache.entry_key([self.fingerprint()]) if self.cache_primed else None
                session = None
                if cache_key is not None:
                    session = self.base.restored_session(history, primed_cache.load(cache_key, self.base.learned_spec()))
                if session is None:
                    cut = len(history) - self._prime_bytes
                    session = self._start_session({**self._initial, "history": history[:cut]})
                    session.encode_words(history[cut:].copy(), 1)  # learning is all that is kept
                    session.restart()
                    if cache_key is not None:
                        primed_cache.store(cache_key, session.learned_tables())
                self._primed[:] = [key, session]
            return self._primed[1]

    def _start_session(self, initial: dict[str, np.ndarray]) -> adaptive.AdaptiveSession | adaptive.BlockSession:
        if "cm" in initial and self._config["hash_bits"] != self._origin["hash_bits"]:  # fresh hashed tables of another size
            cm = np.zeros(adaptive.state_shapes(_engine_config(self._config))["cm"], dtype=np.uint32)
            cm[:K.HASHED_OFF] = initial["cm"][:K.HASHED_OFF]
            cm[-2 * K.MATCH_LEVELS:] = initial["cm"][-2 * K.MATCH_LEVELS:]
            initial = {**initial, "cm": cm}
        return self.base.session(initial)


class CommonLines:
    """The lines of the training files ranked by how much of the data they would explain.

    A line's score is (files it occurs in - 1) x its length: the bytes a dictionary holding it
    once saves. `text(n)` is the best-scored distinct lines, about n bytes of them, in the order
    of their first occurrence (so that a block of lines common to many files, a licence say,
    stays contiguous and the match model follows it across line ends).
    """

    def __init__(self, files: Sequence[bytes]) -> None:
        first: dict[bytes, int] = {}
        count: dict[bytes, int] = {}
        for data in files:
            for line in set(data.splitlines(keepends=True)):
                count[line] = count.get(line, 0) + 1
            for line in data.splitlines(keepends=True):
                first.setdefault(line, len(first))
        ranked = sorted((line for line in count if count[line] > 1),
                        key=lambda line: (-(count[line] - 1) * len(line), first[line]))
        self._ranked = ranked
        self._cumulative = np.cumsum([len(line) for line in ranked], dtype=np.int64)
        self._first = first
        self.total = int(self._cumulative[-1]) if ranked else 0

    def text(self, n: int) -> bytes:
        chosen = self._ranked[: int(np.searchsorted(self._cumulative, n, side="left")) + 1] if n > 0 else []
        return b"".join(sorted(chosen, key=self._first.__getitem__))


# Engine 3's choices of stored tables, most first: on copyright files at 112 KB the tables' bytes
# buy more as history (80,250 B stored as the last choice against 126,851 as the first), on
# Python modules the reverse (591,564 against 606,232 without t_direct and apm): `train_prior`
# measures on a quarter of its files held out.
TABLE_CHOICES = (("t_direct", "smap", "t_match", "mix", "apm"), ("smap", "t_match", "mix"), ("smap", "t_match"))
CHOICE_FILES = 8  # fewer training files: nothing held out, the first choice that fits is kept
CHOICE_BYTES = 1 << 20  # held-out bytes coded per choice, at most


def _coded_bytes(model: PriorModel, files: Sequence[bytes]) -> int:
    """Payload bytes (the binary coder's words) of each file coded on its own with `model`."""
    total = 0
    for data in files:
        words, _ = model.sized_for(len(data)).session().encode_words(np.frombuffer(data, dtype=np.uint8), 1)
        total += 4 * len(words)
    return total


def train_prior(files: Sequence[bytes], level: int = adaptive.DEFAULT_LEVEL, size: int = 112_000,
                preset: int | None = None, stored: Sequence[str] | None = None,
                prime_bytes: int | None = None) -> PriorModel:
    """Run the engine of `level` (or of `preset`, an engine-2 or engine-3 one) over `files` and keep
    a snapshot that leaves a model file within `size` bytes (MODEL_FILE_SLACK of them for its JSON
    header). A level whose engine takes no prior (4), or whose engine-3 tables do not fit `size`,
    trains engine 2's default preset (its tables are smaller). stored (engine 3): the
    PRIOR_TABLES kept, the rest left fresh; None: the best of TABLE_CHOICES on every fourth
    file, held out from a prior trained on the others (with CHOICE_FILES files or more; with
    fewer, the first of them that fits); primed, also none of them (all the room to history).
    prime_bytes (engine 3): how much of the history's end its sessions are primed with (at most
    the history; `PriorModel`); None: DEFAULT_PRIME_BYTES; 0: unprimed.

    What is kept, chosen by measurement on the small-file sets (benchmarks/small_files.py):
    - the order-0/1 and match-model counters, the mixer weights and the order-0 APM: dense and
      small, they learn the data's general statistics and how far to trust each input;
    - not the hashed (order 2+) counters nor the hashed APMs: at the sizes a budget allows they
      cost 1.3-1.9 bytes each and lost to the same bytes spent on history (1 MB budget, stdlib
      modules: 2**14 trained counters + history 98,692 payload bytes vs history alone 93,012).
      Each training file is coded with them fresh, as the files coded with the prior will be
      (-1.9% on the stdlib set against keeping them warm in training);
    - history: the lines that recur across training files (`CommonLines`), preceded by the end
      of the training data, as much as fits.
    """
    if size < MIN_BUDGET:
        raise ValueError(f"a prior needs a budget of at least {MIN_BUDGET} bytes, not {size}")
    chosen_by_level = preset is None
    if preset is None:
        preset = adaptive.LEVELS.get(level)
        if preset is not None and adaptive.ENGINES[preset] == 4:  # engine 4 takes no snapshot
            preset = PRIOR_ENGINE2_PRESET
    if preset not in adaptive.PRESETS or adaptive.SELF_CODERS[preset] != "binary" or adaptive.ENGINES[preset] == 4:
        raise ValueError(f"no prior for level {level!r}" + ("" if preset is None else f" and preset {preset!r}"))
    top = adaptive.PRESETS[preset]
    engine = adaptive.ENGINES[preset]
    if prime_bytes is None:
        prime_bytes = DEFAULT_PRIME_BYTES if engine == 3 else 0
    if not 0 <= prime_bytes <= MAX_PRIME_BYTES or (prime_bytes and engine != 3):
        raise ValueError(f"a prior primes 0 to {MAX_PRIME_BYTES} bytes, and only at an engine-3 level")
    choices = TABLE_CHOICES + ((),) if prime_bytes else TABLE_CHOICES
    total = sum(len(data) for data in files)
    # The match table indexes the history and a file after it.
    match_bits = min(top["match_bits"], max(adaptive.MIN_SIZED_BITS, (min(total, MAX_HISTORY) + (1 << 16)).bit_length() + 1))
    # Hashed tables as `sized_for` gives a 16 KiB input (they are not stored: they only size the session).
    hash_bits = HASH_BITS + PRIOR_SIZE_SLACK_BITS[engine] - PRIOR_SIZE_SLACK_BITS[2]
    config = {"preset": preset, "hash_bits": min(top["hash_bits"], hash_bits), "match_bits": match_bits}
    if engine == 3 and stored is None and len(files) >= CHOICE_FILES:
        fit = [data for i, data in enumerate(files) if i % 4 != 3]
        held, budget = [], CHOICE_BYTES
        for data in files[3::4]:
            if budget >= len(data):
                held.append(data)
                budget -= len(data)

        def held_out_bytes(choice: tuple[str, ...]) -> float:
            try:
                trial = train_prior(fit, level, size, preset, choice, prime_bytes)
            except ValueError:  # these tables do not fit the budget
                return float("inf")
            trial.cache_primed = False  # coded here once, never again: its primed states stay off the disk
            return _coded_bytes(trial, held)

        stored = min(choices, key=held_out_bytes)  # ties: the first, most tables
    model = AdaptiveModel.from_config(config)
    full = model.hyperparameters()
    room = size - MODEL_FILE_SLACK  # bytes for the snapshot

    def learned_session() -> adaptive.AdaptiveSession | adaptive.BlockSession:
        """The engine after every training file, each coded with the hashed states fresh."""
        session = model.session()
        for data in files:
            session.restart(forget_hashed=True)
            session.encode_words(np.frombuffer(data, dtype=np.uint8), 1)
        return session

    if engine == 3 and stored is not None and not stored:  # history only: nothing to learn here
        trained = np.frombuffer(b"".join(files), dtype=np.uint8)
        choice, learned = (), {}
        tables = _xz(encode_tables3(full, learned, choice))
    elif engine == 3:
        session = learned_session()
        learned = session.tables
        # unmeasured (few files): the first choice whose tables fit, most tables first
        for choice in [stored] if stored is not None else choices:
            tables = _xz(encode_tables3(full, round_tables3(full, learned), choice))
            if len(_snapshot_bytes(tables, _xz(b""))) <= room:
                break
        trained = session.buf[: session.size]
    else:
        state = learned_session().state()
        state["cm"][K.HASHED_OFF: K.HASHED_OFF + (K.N_HASHED << config["hash_bits"])] = 0
        fresh_apm = _fresh(full)["apm"]
        state["apm"][K.APM1_CTX * K.APM_POINTS:] = fresh_apm[K.APM1_CTX * K.APM_POINTS:]
        tables = _xz(encode_tables(full, state))
        trained = state["history"]
    common = CommonLines(files)

    def history(n: int) -> bytes:
        """n bytes of history: the common lines, then (before them) the end of the training data."""
        if n <= common.total:
            return common.text(n)
        return trained[len(trained) - (n - common.total):].tobytes() + common.text(common.total)

    def snapshot(n: int) -> bytes:
        return _snapshot_bytes(tables, _xz(history(n)))

    longest = min(MAX_HISTORY, len(trained) + common.total)
    all_history = _xz(history(longest))  # compressed once: the whole-tables check and the first step use it
    if engine == 3:  # rounding only buys room for history: where all of it fits, keep the values whole
        whole = _xz(encode_tables3(full, learned, choice))
        if len(_snapshot_bytes(whole, all_history)) <= room:
            tables = whole
    empty = len(snapshot(0))
    if empty > room and engine == 3 and chosen_by_level:  # engine 2's tables are smaller
        return train_prior(files, level, size, PRIOR_ENGINE2_PRESET, prime_bytes=0)
    if empty > room:
        raise ValueError(f"the tables of a prior at level {level} need more than {size} bytes")
    # The longest history that fits: secant steps on its compressed size (each step is an lzma
    # run), stopping within 2% of the room, then shortened until it fits.
    length, used = longest, len(_snapshot_bytes(tables, all_history))
    for _ in range(6):
        if used <= room and (length == longest or used >= 0.98 * room):
            break
        length = min(longest, int(length * (room - empty) / max(1, used - empty) * 0.995))
        used = len(snapshot(length))
    while used > room:
        length = length * 31 // 32
        used = len(snapshot(length))
    packed = _snapshot_bytes(tables, all_history) if length == longest else snapshot(length)
    if prime_bytes and length:  # its sessions copy every table: the match table only as large as its history needs
        config = {"preset": preset, "hash_bits": min(top["hash_bits"], max(config["hash_bits"], PRIME_HASH_BITS)),
                  "match_bits": min(match_bits, max(adaptive.MIN_SIZED_BITS, (length + (1 << 16)).bit_length() + 1)),
                  "prime_bytes": min(prime_bytes, length)}
    return PriorModel(config, np.frombuffer(packed, dtype=np.uint8))
