"""Binary arithmetic coder for 12-bit probabilities, callable from inside numba kernels.

A carry-less 32-bit range coder of the lpaq/paq family (the design is specified in the README,
"Binary coder"). Its state lives in small arrays so a model kernel can code every decision
inline, with no Python between decisions:

    encoder: st int64[3] = [x1, x2, n_bytes], out uint8[capacity]
    decoder: st int64[4] = [x1, x2, x, next byte position], data uint8[m]

Interval. The coder keeps x1 <= x2 in [0, 2**32). A decision with p1 = P(bit = 1) * 4096,
p1 in [1, 4095], splits it at xmid = x1 + floor((x2 - x1) * p1 / 4096) (computed exactly as
(r >> 12) * p1 + ((r & 4095) * p1 >> 12)); bit 1 keeps [x1, xmid], bit 0 keeps [xmid + 1, x2].
Both halves are non-empty because x2 - x1 >= 1 whenever a decision starts (see below).
While x1 and x2 agree in their top byte, that byte is final: it is emitted and both shift
left by 8 (x2 filling with ones). So no carry ever propagates, at the price of a rare small
interval when x1 and x2 straddle a byte boundary. After the shifts the top bytes differ,
hence x2 - x1 >= 1. All arithmetic is int64 on values < 2**44: exact on every machine.

Termination. `finish` emits the top byte of x1 (none when nothing was coded). The decoder
reads every byte past the end as 0xFF, so it sees x = (x1 >> 24) << 24 | 0xFFFFFF, which lies
in [x1, x2]: every decision decodes as encoded. Bytes are packed into little-endian uint32
words (byte i is bits 8 * (i % 4) of word i // 4), the last word padded with 0xFF bytes, so
`words.astype('<u4').tobytes()` is the byte stream plus at most 3 padding bytes.
Overhead over the exact NLL: at most 8 bits of termination plus 24 of padding per block, plus
the split's rounding (measured by benchmarks/binary_coder.py).
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit

PROB_BITS = 12
MAX_BYTES_PER_DECISION = 4  # a decision shrinking [x1, x2] to one value flushes all 4 bytes

_TOP = 0xFF000000
_MASK32 = 0xFFFFFFFF


@njit
def encoder_state() -> np.ndarray:
    """Fresh encoder state int64[3]: x1 = 0, x2 = 2**32 - 1, no bytes written."""
    st = np.empty(3, dtype=np.int64)
    st[0] = 0
    st[1] = _MASK32
    st[2] = 0
    return st


@njit
def reserve(out, st, more):
    """`out`, or a copy twice as large, with room for `more` bytes after the st[2] written."""
    if st[2] + more <= out.shape[0]:
        return out
    grown = np.empty(max(2 * out.shape[0], st[2] + more), dtype=np.uint8)
    grown[: st[2]] = out[: st[2]]
    return grown


@njit
def encode_bit(st, out, bit, p1):
    """Code bit (0/1) with P(1) = p1 / 4096, p1 in [1, 4095]; out needs 4 free bytes."""
    x1 = st[0]
    x2 = st[1]
    r = x2 - x1
    xmid = x1 + (r >> 12) * p1 + (((r & 4095) * p1) >> 12)
    if bit:
        x2 = xmid
    else:
        x1 = xmid + 1
    n = st[2]
    while ((x1 ^ x2) & _TOP) == 0:
        out[n] = x2 >> 24
        n += 1
        x1 = (x1 << 8) & _MASK32
        x2 = ((x2 << 8) & _MASK32) | 255
    st[0] = x1
    st[1] = x2
    st[2] = n


@njit
def finish_bytes(st, out, coded_any):
    """Emit the termination byte (if anything was coded); returns the byte count."""
    n = st[2]
    if coded_any:
        out[n] = st[0] >> 24
        n += 1
        st[2] = n
    return n


@njit
def decoder_state(data):
    """Decoder state int64[4] = [x1, x2, x, position] after reading the first 4 bytes."""
    st = np.empty(4, dtype=np.int64)
    st[0] = 0
    st[1] = _MASK32
    x = np.int64(0)
    for i in range(4):
        x = (x << 8) | (np.int64(data[i]) if i < data.shape[0] else 255)
    st[2] = x
    st[3] = 4
    return st


@njit
def decode_bit(st, data, p1):
    """The next bit, coded with P(1) = p1 / 4096 (the same p1 the encoder used)."""
    x1 = st[0]
    x2 = st[1]
    x = st[2]
    r = x2 - x1
    xmid = x1 + (r >> 12) * p1 + (((r & 4095) * p1) >> 12)
    bit = 1 if x <= xmid else 0
    if bit:
        x2 = xmid
    else:
        x1 = xmid + 1
    pos = st[3]
    m = data.shape[0]
    while ((x1 ^ x2) & _TOP) == 0:
        x1 = (x1 << 8) & _MASK32
        x2 = ((x2 << 8) & _MASK32) | 255
        x = ((x << 8) & _MASK32) | (np.int64(data[pos]) if pos < m else 255)
        pos += 1
    st[0] = x1
    st[1] = x2
    st[2] = x
    st[3] = pos
    return bit


def bytes_to_words(data: np.ndarray) -> np.ndarray:
    """uint8[m] -> uint32[ceil(m / 4)]: little-endian words, the last padded with 0xFF."""
    padded = np.full(-(-len(data) // 4) * 4, 255, dtype=np.uint8)
    padded[: len(data)] = data
    return padded.view("<u4").astype(np.uint32)


def words_to_bytes(words: np.ndarray) -> np.ndarray:
    """uint32[W] -> uint8[4W] (little-endian; padding included, it decodes as the 0xFF it is)."""
    return np.ascontiguousarray(words, dtype="<u4").view(np.uint8)


@njit
def _encode(bits, probs):
    st = encoder_state()
    out = np.empty(MAX_BYTES_PER_DECISION * bits.shape[0] + 1, dtype=np.uint8)
    for i in range(bits.shape[0]):
        encode_bit(st, out, bits[i], probs[i])
    return out[: finish_bytes(st, out, bits.shape[0] > 0)]


@njit
def _decode(data, probs):
    st = decoder_state(data)
    bits = np.empty(probs.shape[0], dtype=np.int64)
    for i in range(probs.shape[0]):
        bits[i] = decode_bit(st, data, probs[i])
    return bits


def _check_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.int64)
    if probs.ndim != 1 or (probs.size and (probs.min() < 1 or probs.max() >= 1 << PROB_BITS)):
        raise ValueError("probabilities must be a 1-D array of integers in [1, 4095]")
    return probs


def encode(bits: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Code bits (0/1) int[n] under P(1) = probs / 4096, probs int[n] in [1, 4095] -> uint32[W]."""
    bits = np.asarray(bits, dtype=np.int64)
    probs = _check_probs(probs)
    if bits.shape != probs.shape or (bits.size and (bits.min() < 0 or bits.max() > 1)):
        raise ValueError("bits must be 0/1, one per probability")
    return bytes_to_words(_encode(bits, probs))


def decode(words: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Inverse of `encode`: bits int64[n], given the same probabilities."""
    return _decode(words_to_bytes(words), _check_probs(probs))
