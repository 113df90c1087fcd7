"""`adaptive`: the default model, an online context-mixing model in exact integer arithmetic.

Nothing is stored besides the hyper-parameters: encoder and decoder start from the same fixed
state and learn from the bytes as they are coded. Each byte is 8 binary decisions (MSB first) with
2-entry tables `[4096 - p1, p1]`; the kernels are in `_cm_kernels`. Blocks of one stream share
the session's state.

Preset 1 (frozen) yields its tables to the codec, which codes them with constriction, a block in
lanes (see `_cm_kernels` and `choose_lanes`). Presets 2-5 code their own decisions: a whole block
in one compiled call with `coding.binary`, one lane (`self_coder = "binary"`); their
`encode_block` still yields the very same probabilities as tables, for nll and surprisal.
Presets 6, 7 and 9 (the default, 6) run engine 3 (`_cm3_kernels`), a kernel with bit-history
states; presets 8 (level 2) and 10 (level 1) run engine 4 (`_cm4_kernels`), a lean kernel of
few contexts at several times the speed. Both code a block in one compiled call (`BlockSession`); presets 1-5
keep engine 2 so their streams decode as written.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np

from deepcompress._lazy import LazyModule
from deepcompress.models.base import SIZE_PROBES, Chunk, DecodeSteps, Model, Session

# Imported when a session is first made (numba and the cached kernels): naming, configuring and
# fingerprinting the model, as headers and `info` do, stays instant.
K = LazyModule("deepcompress.models._cm_kernels")
K3 = LazyModule("deepcompress.models._cm3_kernels")
K4 = LazyModule("deepcompress.models._cm4_kernels")
N = LazyModule("deepcompress.models._network_kernels")
binary = LazyModule("deepcompress.coding.binary")

# Presets are frozen once released: a stream names its preset (plus any overrides), so its
# header stays small and still determines every hyper-parameter. Change defaults by adding
# a preset, never by editing one (tests/test_adaptive.py pins preset 1 by a golden stream).
PRESETS: dict[int, dict[str, int]] = {}
DEFAULT_PRESET = 6
PRESETS[1] = {
    "hash_bits": 23,  # log2 counters per hashed context table (4 bytes each, N_HASHED tables)
    "match_bits": 22,  # log2 entries of the match model's position table
    "limit_low": 1023,  # count limit (adaptation floor) of the order-0/1 counters
    "limit_high": 255,  # count limit of the hashed-context counters
    "mix_lr": 8,  # mixer learning rate (weight step = input * error * lr / 2**14)
    "final_lr": 4,  # learning rate of the mixer that combines the mixers
    "apm_rate": 7,  # APM step 2**-rate
    "match_min": 6,  # bytes hashed to find a match (5..8)
    "record_repeats": 3,  # repeats of a byte at one distance that set the record length
    "final_ctx": 0,  # final mixer weight set: 0 one set, by 1 partial byte, 2 bit, 3 match state
    "apm3_weight": 0,  # eighths of the output from an order-1 APM instead of the order-2 one (0..5)
    "lane_bytes": 32768,  # target lane length: lanes = ceil(n / lane_bytes), at most max_lanes
    "max_lanes": 64,
}
# Preset 2: preset 1's model, coded inside the kernel by the binary coder (lanes no longer pay),
# retuned for one lane by the Calgary-14 total (-0.91% against preset 1's settings), with half
# the order-2 APM's share of the output given to an order-1 APM (-0.17% more).
_ONE_LANE = {**PRESETS[1], "max_lanes": 1, "limit_high": 23, "mix_lr": 12, "apm_rate": 6,
             "match_min": 5, "record_repeats": 4}
PRESETS[2] = {**_ONE_LANE, "apm3_weight": 4}
# Presets of the levels (`LEVELS`): smaller tables are faster and need less memory, larger ones
# pay on inputs over a few MiB (`sized_for` shrinks every preset's tables to small inputs).
# Final-mixer weights by partial byte (final_ctx 1) gain 0.17% on Calgary-14 but cost 0.2% on
# random bytes (256 weight sets to learn), so only the strongest levels have them.
PRESETS[3] = {**_ONE_LANE, "hash_bits": 18, "match_bits": 18}  # formerly levels 1-2: 10 MiB of counters
PRESETS[4] = {**PRESETS[2], "hash_bits": 20, "match_bits": 20}  # levels 3-4: 40 MiB
PRESETS[5] = {**PRESETS[2], "hash_bits": 24, "match_bits": 24, "final_ctx": 1}  # 7-9: 640 MiB
# Presets 6 and up run engine 3 (`_cm3_kernels`: bit-history states and state maps for the
# hashed contexts, checked buckets, one compiled call per block); the same keys, but there
# limit_high is the state maps' count limit and hash_bits sizes tables of one-byte states
# (N_HASHED * 2**hash_bits bytes).
# Preset 6 tuned by the Calgary-14 total: limit_high 1023 (-1.7% against 23), final weights by
# partial byte (-0.12% against by bit position; on random bytes 0.06% less, too), mix_lr 6 and
# final_lr 3 (-0.04% against 8 and 4).
PRESETS[6] = {**PRESETS[2], "limit_high": 1023, "mix_lr": 6, "final_lr": 3, "final_ctx": 1}  # 96 MiB of states
# Preset 7: larger tables (-0.06% on Calgary-14, more on larger inputs).
PRESETS[7] = {**PRESETS[6], "hash_bits": 26, "match_bits": 24}  # levels 7-9: 768 MiB of states
# Preset 8 runs engine 4 (`_cm4_kernels`: orders 1, 2 and 4 and the match model, one mixer, one
# APM), its own keys; limit_high is the 16-bit hashed counters' count limit (at most 15), hash_bits
# sizes tables of 2-byte counters (2**(hash_bits + 1) bytes per hashed order), variant picks the
# kernel's variant (0: orders 2 and 4 with the APM, 1: order 3 alone). Chosen by the Calgary-14
# total (1.928 bpb, against 1.835 for preset 3) at ~4x preset 3's speed; its settings are flat
# within 0.05% (mix_lr 8-16, apm_rate 6-7, match_min 5-7, limit_high 10-15).
PRESETS[8] = {"hash_bits": 22, "match_bits": 20, "limit_low": 1023, "limit_high": 15, "mix_lr": 12,
              "apm_rate": 6, "match_min": 6, "variant": 0, "lane_bytes": 32768, "max_lanes": 1}  # 16 MiB of counters
# Preset 9 (levels 3-4): preset 6 with 2**20-entry tables, 12 MiB of states. Calgary-14 1.708 bpb
# (preset 4, the engine-2 preset levels 3-4 had before: 1.774) at ~5-10% more speed than preset 6;
# 2**21 gives 1.699.
PRESETS[9] = {**PRESETS[6], "hash_bits": 20, "match_bits": 20}
# Preset 10 (level 1): engine 4's variant 1, order 1, hashed order 3 and the match model, no APM
# (8 MiB of counters). Calgary-14 2.033 bpb (preset 8: 1.928) at ~1.6x preset 8's kernel speed
# on book1, so that level 1 passes 2 MB/s for a whole process (`_cm4_kernels`).
PRESETS[10] = {**PRESETS[8], "variant": 1}
# The engine of each preset (2: `_cm_kernels`, 3: `_cm3_kernels`, 4: `_cm4_kernels`).
ENGINES: dict[int, int] = {1: 2, 2: 2, 3: 2, 4: 2, 5: 2, 6: 3, 7: 3, 8: 4, 9: 3, 10: 4}
# The coder each preset runs itself (None: the codec codes its tables with constriction).
SELF_CODERS: dict[int, str | None] = {1: None, 2: "binary", 3: "binary", 4: "binary", 5: "binary",
                                      6: "binary", 7: "binary", 8: "binary", 9: "binary", 10: "binary"}
# Compression level (1 fastest .. 9 strongest) -> preset; a stream header records the preset.
LEVELS: dict[int, int] = {1: 10, 2: 8, 3: 9, 4: 9, 5: 6, 6: 6, 7: 7, 8: 7, 9: 7}
DEFAULT_LEVEL = 5
# sized_for, by engine: hashed tables get about 2**slack counters (engine 2) or slots (3, 4) per
# input byte (each byte touches two 16-entry groups per table), never fewer than 2**MIN_SIZED_BITS
# nor more than the preset's. Engine 3 at 4 rather than 5 halves its tables on small inputs (a
# 64 KiB input: 12 MiB of states, not 24) for +0.013% on Calgary-14, +0.09% and +0.18% on the
# stdlib and copyright sets; engine 4 (levels 1-2, small already) keeps 5 (4: +0.19% on copyright).
# The sizes are recorded in each stream's header, so a change here leaves old streams decoding.
SIZE_SLACK_BITS: dict[int, int] = {2: 3, 3: 4, 4: 5}
# Slacks an engine sized by before (engine 3: 5, until its small-input tables were halved), so a
# decoder handed the model itself (not the stream's config) still finds those streams.
EARLIER_SIZE_SLACK_BITS: dict[int, tuple[int, ...]] = {3: (5,)}
MIN_SIZED_BITS = 12
_ENCODE_PIECE = 1 << 20  # decisions per chunk yielded by encode_block (bounds table memory)
# Bounds of every setting but the preset-relative ones (table sizes and lanes, see `AdaptiveModel`),
# so that every shift, product and table index in the kernels stays well defined.
_BOUNDS: dict[str, tuple[int, int]] = {
    "match_min": (5, 8), "limit_low": (0, 1023), "limit_high": (0, 1023), "mix_lr": (0, 64),
    "final_lr": (0, 64), "apm_rate": (1, 15), "record_repeats": (1, 255), "final_ctx": (0, 3),
    "apm3_weight": (0, 5),
}


def _check_bytes(symbols: np.ndarray) -> np.ndarray:
    symbols = np.asarray(symbols)
    if symbols.ndim != 1 or (symbols.size and (symbols.min() < 0 or symbols.max() > 255)):
        raise ValueError("symbols must be a 1-D array of bytes (0..255)")
    return symbols


class AdaptiveModel(Model):
    """Online context-mixing byte model: `AdaptiveModel(preset=1, **overrides)`."""

    name: ClassVar[str] = "adaptive"
    alphabet_size = 256

    def __init__(self, preset: int = DEFAULT_PRESET, **overrides: int) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown adaptive preset {preset!r} (this version knows {sorted(PRESETS)})")
        unknown = set(overrides) - set(PRESETS[preset])
        if unknown:
            raise ValueError(f"unknown adaptive settings: {sorted(unknown)}")
        self.preset = preset
        self._config = {**PRESETS[preset], **{k: int(v) for k, v in overrides.items()}}
        c = self._config
        # Every value that sizes memory or work is bounded by what the encoder can write: tables
        # no larger than the preset's (input-sized models only shrink them) and lanes no longer
        # than the preset's, so a forged header costs at most what a real stream of the preset
        # does (README, Robustness). In particular, one lane for a whole block would cost ~8
        # Python steps per byte.
        top = PRESETS[preset]
        bounds = {**_BOUNDS, "hash_bits": (8, top["hash_bits"]), "match_bits": (8, top["match_bits"]),
                  "lane_bytes": (1, top["lane_bytes"]), "max_lanes": (top["max_lanes"], 4096)}
        if ENGINES[preset] == 4:
            bounds["limit_high"] = (0, 15)  # the count field of a 16-bit counter
            # The preset picks the variant: variant 0 has the larger tables (two hashed orders, the
            # APM), and one model has one name.
            bounds["variant"] = (top["variant"], top["variant"])
        for key, value in c.items():
            low, high = bounds[key]
            if not low <= value <= high:
                raise ValueError(f"{key} must be in [{low}, {high}] (preset {preset})")
        self.self_coder = SELF_CODERS[preset]
        if self.self_coder is not None and c["max_lanes"] != 1:
            raise ValueError(f"preset {preset} codes one lane: max_lanes must be 1")

    def config(self) -> dict[str, Any]:
        """The preset and the settings that differ from it (what a stream header stores)."""
        base = PRESETS[self.preset]
        return {"preset": self.preset, **{k: v for k, v in self._config.items() if v != base[k]}}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> AdaptiveModel:
        """The model a stream header names: its preset and overrides, all integers."""
        if not all(isinstance(v, int) for v in config.values()):
            raise ValueError("adaptive config values must be integers")
        return cls(**config)

    @classmethod
    def for_alphabet(cls, alphabet_size: int) -> AdaptiveModel:
        """Alphabets up to 256 are coded as bytes (their symbols are byte values)."""
        if alphabet_size > 256:
            raise ValueError(f"the adaptive model codes bytes: at most 256 symbols, not {alphabet_size}")
        return cls()

    def hyperparameters(self) -> dict[str, int]:
        """Every setting in force, the preset's expanded."""
        return dict(self._config)

    def choose_lanes(self, n: int) -> int:
        """Lane count for an n-byte block: about one lane per `lane_bytes`, at most `max_lanes`."""
        c = self._config
        return max(1, min(c["max_lanes"], -(-n // c["lane_bytes"])))

    def sized_for(self, n_symbols: int | None) -> AdaptiveModel:
        """A copy whose tables fit an input of n_symbols bytes (self if unknown or large).

        Only shrinks: hash_bits ~ log2(n) + SIZE_SLACK_BITS[engine], match_bits ~ log2(n) + 1; the
        smaller sizes are overrides in `config()`, so the decoder rebuilds the same model.
        """
        return self._sized(n_symbols, SIZE_SLACK_BITS[ENGINES[self.preset]])

    def sized_variants(self) -> Iterator[AdaptiveModel]:
        """`Model.sized_variants`, and for engine 3 also as sized by EARLIER_SIZE_SLACK_BITS (the
        streams of a named adaptive model that earlier releases wrote)."""
        yield from super().sized_variants()
        for slack in EARLIER_SIZE_SLACK_BITS.get(ENGINES[self.preset], ()):
            for n_symbols in SIZE_PROBES:
                yield self._sized(n_symbols, slack)

    def _sized(self, n_symbols: int | None, slack: int) -> AdaptiveModel:
        if n_symbols is None or self.preset == 1:  # preset 1 is frozen with its full tables
            return self
        log_n = max(0, int(n_symbols) - 1).bit_length()  # ceil(log2(n))
        c = self._config
        hash_bits = min(c["hash_bits"], max(MIN_SIZED_BITS, log_n + slack))
        match_bits = min(c["match_bits"], max(MIN_SIZED_BITS, log_n + 1))
        if (hash_bits, match_bits) == (c["hash_bits"], c["match_bits"]):
            return self
        base = PRESETS[self.preset]
        overrides = {k: v for k, v in c.items() if v != base[k]}
        return AdaptiveModel(self.preset, **{**overrides, "hash_bits": hash_bits, "match_bits": match_bits})

    def session(self, initial: dict[str, np.ndarray] | None = None) -> AdaptiveSession | BlockSession:
        """A fresh session, or (engines 2 and 3) one started from a prior's `initial` state."""
        engine = ENGINES[self.preset]
        if engine == 2:
            return AdaptiveSession(self._config, initial)
        if initial is not None and engine != 3:
            raise ValueError(f"preset {self.preset} (engine {engine}) cannot start from a prior's state")
        return BlockSession(self._config, K3 if engine == 3 else K4, initial)

    def learned_spec(self) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        """(Engine 3.) Dtype and shape of each learned array of this model's sessions, by name."""
        self._require_engine3()
        return BlockSession.learned_spec(self._config, K3)

    def restored_session(self, history: np.ndarray, learned: dict[str, np.ndarray] | None) -> BlockSession | None:
        """(Engine 3.) `BlockSession.restored` with this model's config."""
        self._require_engine3()
        return BlockSession.restored(self._config, K3, history, learned)

    def _require_engine3(self) -> None:
        if ENGINES[self.preset] != 3:
            raise ValueError(f"preset {self.preset} is not an engine-3 preset")


def state_shapes(config: dict[str, int]) -> dict[str, int]:
    """Lengths of a session's learned tables for a full config: cm, mw and apm (1-D arrays)."""
    return {"cm": K.HASHED_OFF + (K.N_HASHED << config["hash_bits"]) + 2 * K.MATCH_LEVELS,
            "mw": K.MW_LEN, "apm": K.APM_LEN}


class AdaptiveSession(Session):
    """All learned state of one stream: counters, mixers, APMs, match table and the history."""

    decisions_per_symbol = 8  # MSB first; decode order is `base.lockstep_positions`

    def __init__(self, config: dict[str, int], initial: dict[str, np.ndarray] | None = None) -> None:
        """A fresh state, or one started from `initial` (a trained prior, `models.prior`).

        initial: "cm" uint32, "mw" int32, "apm" int32 with the exact shapes of `state_shapes`,
        and "history" uint8[h]: bytes the stream continues (the match and record models see
        them; the match table indexes them), h < 2**30. Lane state starts fresh either way.
        """
        self._cfg = np.array([config[k] for k in K.CFG_KEYS], dtype=np.int64)
        shapes = state_shapes(config)
        initial = initial or {}
        # zeros = fresh counters (K.CM_BIAS); the pages cost memory only once touched
        self._cm = np.zeros(shapes["cm"], dtype=np.uint32)
        self._mw = np.empty(shapes["mw"], dtype=np.int32)
        self._apm = np.empty(shapes["apm"], dtype=np.int32)
        if not {"mw", "apm"} <= set(initial):
            K.init_tables(self._mw, self._apm)
        for name in ("cm", "mw", "apm"):
            if name in initial:
                getattr(self, f"_{name}")[:] = initial[name]  # same shape and dtype (checked by the caller)
        self._mtab = np.zeros(1 << config["match_bits"], dtype=np.int32)
        history = initial.get("history", np.zeros(0, dtype=np.uint8))
        self._buf = np.zeros(max(1 << 16, 2 * len(history)), dtype=np.uint8)
        self._buf[: len(history)] = history
        if len(history):
            K.index_history(self._buf, len(history), self._mtab, self._cfg)
        self._size = len(history)  # bytes of the stream coded so far (a prior's history included)
        self._carry: tuple[np.ndarray, np.ndarray] | None = None  # last lane's state

    def state(self) -> dict[str, np.ndarray]:
        """Copies of the learned tables and the history (what `initial` takes back)."""
        return {"cm": self._cm.copy(), "mw": self._mw.copy(), "apm": self._apm.copy(),
                "history": self._buf[: self._size].copy()}

    def restart(self, forget_hashed: bool = False) -> None:
        """Start the next block as a new file would: lane state fresh, tables and history kept
        (forget_hashed: but the hashed context counters fresh, as a prior's sessions start)."""
        self._carry = None
        if forget_hashed:
            self._cm[K.HASHED_OFF: K.HASHED_OFF + (K.N_HASHED << int(self._cfg[K.CFG_HBITS]))] = 0

    def _begin(self, n: int, lanes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if lanes < 1:
            raise ValueError("lanes must be >= 1")
        if self._size + n >= 2**31 - 1:
            raise ValueError("stream too long for the adaptive model (2 GiB)")
        length = -(-n // lanes)
        s = -(-n // length)
        if self._size + n > len(self._buf):
            grown = np.zeros(max(2 * len(self._buf), self._size + n), dtype=np.uint8)
            grown[: self._size] = self._buf[: self._size]
            self._buf = grown
        blk = np.empty(K.BLK_LEN, dtype=np.int64)
        blk[[K.BLK_START, K.BLK_N, K.BLK_LANE_LEN, K.BLK_LANES]] = self._size, n, length, s
        ls = np.zeros((s, K.LS_COLS), dtype=np.int64)
        rec = np.zeros((s, K.REC_COLS), dtype=np.int64)
        carry, carry_rec = self._carry or (ls[0], rec[0])
        K.begin_block(self._buf, ls, rec, self._cfg, blk, carry, carry_rec, self._carry is not None)
        self._mwl = np.tile(self._mw, (s, 1))
        return blk, ls, rec

    def _end(self, blk: np.ndarray, ls: np.ndarray, rec: np.ndarray) -> None:
        last = int(blk[K.BLK_LANES]) - 1
        self._carry = (ls[last].copy(), rec[last].copy())
        self._mw = self._mwl[last].copy()
        self._size += int(blk[K.BLK_N])

    def encode_block(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
        symbols = _check_bytes(symbols)
        n = len(symbols)
        if n == 0:
            return
        blk, ls, rec = self._begin(n, lanes)
        self._buf[self._size: self._size + n] = symbols
        decisions = np.empty(8 * n, dtype=np.int8)
        probs = np.empty(8 * n, dtype=np.int16)
        K.encode_lanes(self._buf, self._cm, self._mwl, self._apm, self._mtab, ls, rec, self._cfg,
                       blk, decisions, probs)
        self._end(blk, ls, rec)
        for i in range(0, 8 * n, _ENCODE_PIECE):
            p = probs[i: i + _ENCODE_PIECE].astype(np.int64)
            freqs = np.empty((len(p), 2), dtype=np.int64)
            freqs[:, 0] = 4096 - p
            freqs[:, 1] = p
            yield decisions[i: i + _ENCODE_PIECE].astype(np.int64), Chunk.rows(freqs)

    def encode_words(self, symbols: np.ndarray, lanes: int) -> tuple[np.ndarray, float]:
        """Code a block with the binary coder in one compiled call: (words uint32[W], nll_bits).

        nll_bits: the exact code length sum(-log2 P(bit)) of the probabilities coded.
        """
        symbols = _check_bytes(symbols)
        n = len(symbols)
        if n == 0:
            return np.zeros(0, dtype=np.uint32), 0.0
        if lanes != 1:
            raise ValueError("binary self-coding runs one lane")
        counts = np.zeros((2, 4096), dtype=np.int64)
        (out, n_bytes), _ = self.run_one_lane(K.encode_binary, n, symbols, np.empty(n + 64, dtype=np.uint8), counts)
        p1 = np.arange(1, 4096)
        nll = float(counts[1, 1:] @ (12 - np.log2(p1)) + counts[0, 1:] @ (12 - np.log2(4096 - p1)))
        return binary.bytes_to_words(out[:n_bytes]), nll

    def decode_words(self, words: np.ndarray, n_symbols: int, lanes: int) -> np.ndarray:
        """Inverse of `encode_words`: int64[n_symbols]. Wrong words decode to garbage, not errors."""
        n = int(n_symbols)
        if n < 0:
            raise ValueError("n_symbols must be >= 0")
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if lanes != 1:
            raise ValueError("binary self-coding runs one lane")
        data = binary.words_to_bytes(words)
        return self.run_one_lane(lambda *state: K.decode_binary(data, *state), n, None)[1]

    @property
    def size(self) -> int:
        """Bytes of the stream so far, a prior's history included (the next block starts here)."""
        return self._size

    def run_one_lane(self, kernel: Callable[..., Any], n: int, symbols: np.ndarray | None, *extra: Any
                     ) -> tuple[Any, np.ndarray]:
        """Run `kernel(buf, cm, mw, apm, mtab, ls, rec, cfg, blk, *extra)` over a one-lane block of
        n >= 1 bytes: (its result, the block's bytes int64[n]).

        symbols: the block's bytes, placed in the stream first (encoding), or None (the kernel
        decodes them into buf). For the coders of this engine, here and in `models.hybrid`.
        """
        blk, ls, rec = self._begin(n, 1)
        if symbols is not None:
            self._buf[self._size: self._size + n] = symbols
        result = kernel(self._buf, self._cm, self._mwl, self._apm, self._mtab, ls, rec, self._cfg, blk, *extra)
        block = self._buf[self._size: self._size + n].astype(np.int64)
        self._end(blk, ls, rec)
        return result, block

    def decode_block(self, n_symbols: int, lanes: int) -> DecodeSteps:
        n = int(n_symbols)
        if n < 0:
            raise ValueError("n_symbols must be >= 0")
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        blk, ls, rec = self._begin(n, lanes)
        state = (self._buf, self._cm, self._mwl, self._apm, self._mtab, ls, rec, self._cfg, blk)
        length, s = int(blk[K.BLK_LANE_LEN]), int(blk[K.BLK_LANES])
        bits = np.zeros(0, dtype=np.int64)
        a_done = t_done = b_done = 0
        for t in range(length):
            a = min(s, (n - t - 1) // length + 1)  # lanes with j * length + t < n
            for b in range(8):
                freqs = np.empty((a, 2), dtype=np.int64)
                K.decode_step(bits, a_done, t_done, b_done, a, b, freqs, *state)
                bits = yield Chunk.rows(freqs)
                if len(bits) != a:
                    raise ValueError(f"expected {a} decisions, got {len(bits)}")
                a_done, t_done, b_done = a, t, b
        K.decode_step(bits, a_done, t_done, b_done, 0, 0, freqs[:0], *state)
        out = self._buf[self._size: self._size + n].astype(np.int64)
        self._end(blk, ls, rec)
        return out


def _history_buffer(history: np.ndarray) -> np.ndarray:
    """A stream's buffer holding `history` (uint8[h]) first, with room to grow (zeros after it)."""
    buf = np.zeros(max(1 << 16, 2 * len(history)), dtype=np.uint8)
    buf[: len(history)] = history
    return buf


class BlockSession(Session):
    """All learned state of one stream of an engine-3 or engine-4 preset (6 and up), as named arrays.

    kernels: `_cm3_kernels` or `_cm4_kernels`; `buf` and `tables` (the kernel module's `new_state`,
    see its docstring) are the whole state: nothing else is carried from block to block.
    """

    decisions_per_symbol = 8  # MSB first, one lane

    def __init__(self, config: dict[str, int], kernels: Any, initial: dict[str, np.ndarray] | None = None) -> None:
        """A fresh state, or (engine 3) one started from `initial`, a trained prior (`models.prior`):
        the arrays of `kernels.PRIOR_TABLES` (apm: its first entries, int32 in [0, 2**16)), and
        "history" uint8[h], h < 2**30, the bytes the stream continues (the match and record
        models see them; the match table indexes them)."""
        self._kernels = kernels
        self._cfg = np.array([config[k] for k in kernels.CFG_KEYS], dtype=np.int64)
        initial = initial or {}
        history = initial.get("history", np.zeros(0, dtype=np.uint8))
        self.buf = _history_buffer(history)
        self.tables = kernels.new_state(config)
        for name in getattr(kernels, "PRIOR_TABLES", ()):
            if name in initial:  # shapes and dtypes checked by the prior
                self.tables[name][: len(initial[name])] = initial[name]
        if len(history):
            kernels.index_history(self.buf, len(history), self.tables["mtab"], self._cfg)
        self.size = len(history)  # bytes of the stream so far, a prior's history included
        self._network = N.no_network() if kernels is K3 else ()

    @classmethod
    def restored(cls, config: dict[str, int], kernels: Any, history: np.ndarray,
                 learned: dict[str, np.ndarray] | None) -> BlockSession | None:
        """(Engine 3.) A session at the start of a stream after `history` (uint8[h]) whose learned
        arrays are `learned` (what `learned_tables` gave, e.g. kept by `primed_cache`), taken as
        they are; None when they are not exactly the arrays `learned_spec` names or hold a value
        the kernel must not be fed (`_cm3_kernels.learned_state_is_safe`)."""
        spec = cls.learned_spec(config, kernels)
        if learned is None or set(learned) != set(spec) or any(
                (array.dtype, array.shape) != spec[name] for name, array in learned.items()):
            return None
        if not kernels.learned_state_is_safe(learned, len(history)):
            return None
        session = cls(config, kernels)  # fresh tables, replaced: not the history's index, which mtab replaces
        session.tables.update(learned)  # the same keys: code_block's order is kept
        kernels.restart_stream(session.tables)
        session.buf = _history_buffer(history)
        session.size = len(history)
        return session

    @staticmethod
    def learned_spec(config: dict[str, int], kernels: Any) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
        """(Engine 3.) Dtype and shape of each array of `learned_tables`, by name."""
        return {name: spec for name, spec in kernels.state_spec(config).items() if name not in kernels.STREAM_STATE}

    def learned_tables(self) -> dict[str, np.ndarray]:
        """(Engine 3.) The session's learned arrays (not copies): all but the stream state, which
        `restart` sets as a stream starts."""
        return {name: table for name, table in self.tables.items() if name not in self._kernels.STREAM_STATE}

    def mix_network(self, network: tuple, mixer: np.ndarray, lr: int) -> None:
        """(Engine 3.) Code the engine's probabilities mixed with a network's from here on (a hybrid,
        `models.hybrid`): network as `_network_kernels.network_arguments` takes it, the stream's
        first byte at the current size; mixer: int32[MIXER_LEN], learned in place; lr: its rate."""
        if self._kernels is not K3:
            raise ValueError("only engine 3 mixes a network in")
        if mixer.dtype != np.int32 or mixer.shape != (N.MIXER_LEN,):  # the kernel indexes it unchecked
            raise ValueError(f"a network's final mixer is int32[{N.MIXER_LEN}]")
        self._network = N.network_arguments(network, self.size, mixer, lr)

    def clone(self) -> BlockSession:
        """An independent session in the same state (a primed prior's, `models.prior`): every
        array copied, so coding with one never moves the other."""
        twin = copy.copy(self)
        twin.buf = self.buf.copy()
        twin.tables = {name: table.copy() for name, table in self.tables.items()}
        twin._network = tuple(part.copy() if isinstance(part, np.ndarray) else part for part in self._network)
        return twin

    def restart(self, forget_hashed: bool = False) -> None:
        """(Engine 3, for training a prior.) Start the next block as a new file would: the byte
        history, match and record state fresh, the learned tables and the history kept
        (forget_hashed: but the hashed states fresh, as a prior's sessions start)."""
        self._kernels.restart_stream(self.tables)
        if forget_hashed:
            self.tables["t_hash"][:] = 0

    def _room(self, n: int) -> None:
        if self.size + n >= 2**31 - 1:
            raise ValueError("stream too long for the adaptive model (2 GiB)")
        if self.size + n > len(self.buf):
            grown = np.zeros(max(2 * len(self.buf), self.size + n), dtype=np.uint8)
            grown[: self.size] = self.buf[: self.size]
            self.buf = grown

    def _code(self, decode: bool, n: int, data: np.ndarray, probs: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
        counts = np.zeros((2, 4096), dtype=np.int64)
        out = np.empty(0 if decode else n + 64, dtype=np.uint8)
        out, n_bytes = self._kernels.code_block(decode, self.buf, self.size, n, data, out, *self.tables.values(),
                                                self._cfg, counts, probs, *self._network)
        self.size += n
        return out[:n_bytes], n_bytes, counts

    def encode_block(self, symbols: np.ndarray, lanes: int) -> Iterator[tuple[np.ndarray, Chunk]]:
        """The probabilities `encode_words` codes, as 2-entry tables (for nll and surprisal)."""
        symbols = _check_bytes(symbols)
        n = len(symbols)
        if n == 0:
            return
        self._room(n)
        self.buf[self.size: self.size + n] = symbols
        probs = np.empty(8 * n, dtype=np.int16)
        self._code(False, n, np.zeros(0, dtype=np.uint8), probs)
        bits = np.unpackbits(symbols.astype(np.uint8)).astype(np.int64)  # MSB first, as coded
        for i in range(0, 8 * n, _ENCODE_PIECE):
            p = probs[i: i + _ENCODE_PIECE].astype(np.int64)
            freqs = np.empty((len(p), 2), dtype=np.int64)
            freqs[:, 0] = 4096 - p
            freqs[:, 1] = p
            yield bits[i: i + _ENCODE_PIECE], Chunk.rows(freqs)

    def encode_words(self, symbols: np.ndarray, lanes: int) -> tuple[np.ndarray, float]:
        """Code a block with the binary coder in one compiled call: (words uint32[W], nll_bits)."""
        symbols = _check_bytes(symbols)
        n = len(symbols)
        if n == 0:
            return np.zeros(0, dtype=np.uint32), 0.0
        if lanes != 1:
            raise ValueError("binary self-coding runs one lane")
        self._room(n)
        self.buf[self.size: self.size + n] = symbols
        out, _, counts = self._code(False, n, np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int16))
        p1 = np.arange(1, 4096)
        nll = float(counts[1, 1:] @ (12 - np.log2(p1)) + counts[0, 1:] @ (12 - np.log2(4096 - p1)))
        return binary.bytes_to_words(out), nll

    def decode_words(self, words: np.ndarray, n_symbols: int, lanes: int) -> np.ndarray:
        """Inverse of `encode_words`: int64[n_symbols]. Wrong words decode to garbage, not errors."""
        n = int(n_symbols)
        if n < 0:
            raise ValueError("n_symbols must be >= 0")
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        if lanes != 1:
            raise ValueError("binary self-coding runs one lane")
        self._room(n)
        start = self.size
        self._code(True, n, binary.words_to_bytes(words), np.zeros(0, dtype=np.int16))
        return self.buf[start: start + n].astype(np.int64)
