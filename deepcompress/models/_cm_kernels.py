"""Integer context-mixing kernels for the `adaptive` model (numba, no float on the probability path).

Every byte is coded as 8 binary decisions, most significant bit first. Each decision gets a
12-bit probability p1 in [1, 4095] from:

- counters: one uint32 per (context, partial byte), 22-bit probability + 10-bit count, updated at
  rate 1/(count + 1.5) until the count reaches a limit (then a fixed rate, so it keeps adapting);
  orders 0 and 1 are indexed directly, the others through hashed tables of 16-counter groups
  (one group per context and nibble, so a nibble touches one cache line per context);
- a match model: the longest earlier occurrence of the last `minlen` bytes predicts the next bit;
- four gated linear mixers in the stretch domain (weights chosen by the partial byte, by the match
  state and bit position, by the previous byte, by how many of orders 2-6 were seen before and
  the bit position) and a final mixer of their outputs;
  the final mixer's weight set is fixed or chosen by a context (config `final_ctx`);
- two APM/SSE stages (by partial byte, and by partial byte + hashed order 2), and optionally a
  third by partial byte + previous byte that takes `apm3_weight` eighths from the order-2 one.

Lanes. A block of n bytes is cut into S contiguous lanes of L bytes (the last one shorter) coded
in lockstep: a step is (byte offset t, bit b); in each step every active lane predicts from the
state before the step (`predict_lanes`), then all lanes update in lane order (`update_lanes`).
All tables are shared by the lanes. A lane may read an earlier byte of the stream only when it is
*known* to the decoder at that moment (`_known`): before the block, or at an offset < t in its lane.

State lives in a handful of flat arrays owned by the session (see `AdaptiveSession`):
  buf  uint8[capacity]   the stream so far (the current block is written as it is decoded)
  cm   uint32[...]       counters: order 0 (256), order 1 (65536), then N_HASHED tables of 2**hbits
  mw   int32[S, ...]     mixer weights of each lane, 16.16 fixed point
  apm  int32[...]        APM tables, 16-bit probabilities, 33 interpolation points per context
  mtab int32[2**mbits]   match model: hash of the last `minlen` bytes -> position after them
  ls   int64[S, LS_COLS] per-lane state and the scratch carried from predict to update
  rec  int64[S, 768]     per-lane record-length detector (last position, distance, repeat count)
  cfg  int64[CFG_LEN]    hyper-parameters, in the order of CFG_KEYS (see `adaptive.PRESETS`)
  blk  int64[BLK_LEN]    block geometry: start position, n, lane length L, lanes S (BLK_*)

Exactness premises (what the decoder's bit-identical replay relies on):
- order: within a step every active lane predicts before any lane updates, and lanes update
  (counters, shared tables, record lengths) in lane order 0, 1, ...; the encoder replays exactly
  the decoder's order (`encode_lanes`, `encode_binary`);
- reads of buf: a lane reads a byte of the stream only through `_get`/`_known`, or at positions
  known by construction (MPTR while MLEN > 0, see `_byte_end`), so it never sees a byte the
  decoder has not produced yet;
- overflow: all arithmetic is int64 on bounded values (noted at each product); int32 mixer
  weights and APM entries are stored back truncated to 32 bits, deterministic on every machine.
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit
from deepcompress.coding import binary

# ---- stretch / squash: integer tables, no libm at run time ------------------------------------
# round(4096 / (1 + exp(-x / 256))) at x = -2048, -1920, ..., 2048 (checked in the tests).
_SQUASH_POINTS = np.array(
    [1, 2, 4, 6, 10, 17, 27, 45, 74, 120, 194, 311, 488, 747, 1102, 1546, 2048,
     2550, 2994, 3349, 3608, 3785, 3902, 3976, 4022, 4051, 4069, 4079, 4086, 4090, 4092, 4094, 4095],
    dtype=np.int64,
)


@njit
def _squash(x):
    """Stretch domain (1/256 nat) -> 12-bit probability in [1, 4095], linear interpolation."""
    if x >= 2047:
        return 4095
    if x <= -2047:
        return 1
    w = x & 127
    i = (x >> 7) + 16
    return (_SQUASH_POINTS[i] * (128 - w) + _SQUASH_POINTS[i + 1] * w + 64) >> 7


def _build_stretch() -> np.ndarray:
    """Inverse of `_squash`: int64[4096] with stretch[p] = smallest x with squash(x) >= p (2047 if
    none). numpy, not a kernel: built at import, where loading a compiled kernel costs ~0.3 s."""
    x = np.arange(-2047, 2048, dtype=np.int64)
    i = (x >> 7) + 16
    w = x & 127
    squashed = (_SQUASH_POINTS[i] * (128 - w) + _SQUASH_POINTS[np.minimum(i + 1, 32)] * w + 64) >> 7
    squashed[-1] = 4095  # _squash(2047)
    squashed[0] = 1  # _squash(-2047)
    first = np.searchsorted(squashed, np.arange(4096), side="left")  # squash is nondecreasing
    return np.where(first < len(x), first - 2047, 2047).astype(np.int64)


STRETCH = _build_stretch()
# Counter step for count n: 1 / (n + 1.5) in 16-bit fixed point.
_RATE = np.array([131072 // (2 * n + 3) for n in range(1024)], dtype=np.int64)

# ---- layout constants ---------------------------------------------------------------------------
N_HASHED = 10  # orders 2, 3, 4, 6; word; word bigram; 3 record contexts; sparse
N_CTX = 2 + N_HASHED  # + orders 0 and 1
N_IN = N_CTX + 2  # + match + bias
N_MIX = 4
MATCH_LEVELS = 32
O1_OFF = 256
HASHED_OFF = 256 + 65536

# cfg: the hyper-parameters the kernels read, by index; the one place their order is written.
CFG_KEYS = ("hash_bits", "match_bits", "limit_low", "limit_high", "mix_lr", "final_lr",
            "apm_rate", "match_min", "record_repeats", "final_ctx", "apm3_weight")
CFG_HBITS, CFG_MBITS, CFG_LIMIT_LO, CFG_LIMIT_HI, CFG_MIX_LR, CFG_FINAL_LR, CFG_APM_RATE, \
    CFG_MINLEN, CFG_REC_REPEATS, CFG_FINAL_CTX, CFG_APM3_W = range(len(CFG_KEYS))
CFG_LEN = len(CFG_KEYS)

# blk: block geometry
BLK_START, BLK_N, BLK_LANE_LEN, BLK_LANES = range(4)
BLK_LEN = 4

# rec: per-lane record detector, three 256-entry rows (by byte value)
REC_LAST = 0  # last position of the byte value (-1: not seen)
REC_DIST = 256  # distance between its last two occurrences
REC_REPEATS = 512  # how often in a row that distance recurred
REC_COLS = 768

# per-lane columns of `ls`
C0, C4, C8, W0, W1, POS, MPTR, MLEN, RLEN, NIB, EXPBIT, MIDX, A1IDX, A2IDX = range(14)
H = 14  # N_HASHED context hashes (per byte)
BASE = H + N_HASHED  # N_HASHED group bases (per nibble)
IDX = BASE + N_HASHED  # N_CTX counter indices used by the current bit
INP = IDX + N_CTX  # N_IN mixer inputs
MSEL = INP + N_IN  # N_MIX selected weight-set offsets
MOUT = MSEL + N_MIX  # N_MIX mixer outputs (stretch)
MPR = MOUT + N_MIX  # N_MIX mixer outputs (probability)
PMIX = MPR + N_MIX  # final mixer probability
A1W = PMIX + 1  # APM interpolation weight
FSEL = A1W + 1  # selected final-mixer weight set offset
A3IDX = FSEL + 1  # order-1 APM index (used only when apm3_weight > 0)
LS_COLS = A3IDX + 1

MIX_SETS = (256, 17 * 8, 256, 5 * 8)
MW_FINAL = sum(MIX_SETS) * N_IN  # offset of the final mixer's weights (N_MIX + 1 per set)
# final_ctx selects the final mixer's weight set: 0 set 0 only, 1 the partial byte c0 (256 sets),
# 2 the bit position (8), 3 the match state (17, as for mixer 1)
FINAL_SETS = 256
MW_LEN = MW_FINAL + FINAL_SETS * (N_MIX + 1)
APM1_CTX = 256
APM2_CTX = 65536
APM3_CTX = 65536  # order 1: partial byte and previous byte
APM_POINTS = 33  # interpolation points per APM context, stretch -2048..2048 in steps of 128
APM_LEN = (APM1_CTX + APM2_CTX + APM3_CTX) * APM_POINTS

# Counters are stored XOR CM_BIAS, so a zero word is a fresh counter (p = 1/2, count 0) and a
# table from np.zeros costs memory only where the stream touches it.
CM_BIAS = 1 << 31

_K1 = 0x2F0F3C6F4D5A9B1
_K2 = 0x5851F42D4C957F2D


@njit
def _hmix(h, x):
    """Deterministic 64-bit hash step (int64 arithmetic wraps)."""
    h = (h + x + 1) * _K1
    h ^= (h >> 29) & 0x7FFFFFFFF
    return h * _K2


@njit
def _group(h, hbits):
    """Start of the 16-counter group for hash h in a table of 2**hbits counters."""
    return ((h >> 24) & ((1 << (hbits - 4)) - 1)) << 4


@njit
def _known(q, blk, tk):
    """Whether stream position q is known to the decoder once tk bytes of every lane are done."""
    if q < 0:
        return False
    start = blk[BLK_START]
    if q < start:
        return True
    off = q - start
    if blk[BLK_LANES] == 1:  # one lane: the same test without a division
        return off < tk
    return off < blk[BLK_N] and off % blk[BLK_LANE_LEN] < tk


@njit
def _get(buf, q, blk, tk):
    return np.int64(buf[q]) if _known(q, blk, tk) else np.int64(0)


@njit
def init_tables(mw, apm):
    """Fresh-session state: mixers at 0.3 per input, APMs at identity (counters: see CM_BIAS)."""
    mw[:MW_FINAL] = 19660
    mw[MW_FINAL:] = 65536 // N_MIX
    for f in range(FINAL_SETS):
        mw[MW_FINAL + f * (N_MIX + 1) + N_MIX] = 0
    for c in range(APM1_CTX + APM2_CTX + APM3_CTX):
        for j in range(APM_POINTS):
            apm[c * APM_POINTS + j] = _squash((j - 16) * 128) * 16


@njit
def _contexts(j, buf, ls, cfg, blk, tk):
    """Per-byte context hashes of lane j and its group bases for the first nibble."""
    c4 = ls[j, C4]
    c8 = ls[j, C8]
    c1 = c4 & 255
    pos = ls[j, POS]
    r = ls[j, RLEN]
    above = _get(buf, pos - r, blk, tk) if r > 0 else 0
    above2 = _get(buf, pos - 2 * r, blk, tk) if r > 0 else 0
    above_n = _get(buf, pos - r + 1, blk, tk) if r > 0 else 0
    above_p = _get(buf, pos - r - 1, blk, tk) if r > 0 else 0
    h = ls[j, H:H + N_HASHED]
    h[0] = _hmix(2, c4 & 0xFFFF)
    h[1] = _hmix(3, c4 & 0xFFFFFF)
    h[2] = _hmix(4, c4)
    h[3] = _hmix(_hmix(6, c4), c8 & 0xFFFF)
    h[4] = _hmix(_hmix(7, ls[j, W0]), c1)
    h[5] = _hmix(_hmix(8, ls[j, W0]), ls[j, W1])
    h[6] = _hmix(_hmix(_hmix(9, r), above), c1)
    h[7] = _hmix(_hmix(_hmix(10, r), above), above2)
    h[8] = _hmix(_hmix(_hmix(_hmix(11, r), above_p), above), above_n)
    h[9] = _hmix(12, c4 & 0xFFFF00)
    hbits = cfg[CFG_HBITS]
    for k in range(N_HASHED):
        ls[j, BASE + k] = _group(_hmix(h[k], 0), hbits)


@njit
def _byte_end(j, buf, mtab, ls, rec, cfg, blk, tk):
    """Lane j finished the byte at ls[j, POS]: update histories, match and record models, contexts."""
    pos = ls[j, POS]
    c = np.int64(buf[pos])
    c4 = ls[j, C4]
    ls[j, C8] = ((ls[j, C8] << 8) | (c4 >> 24)) & 0xFFFFFFFF
    c4 = ((c4 << 8) | c) & 0xFFFFFFFF
    ls[j, C4] = c4
    # word model: letters, case-folded
    if 65 <= c <= 90 or 97 <= c <= 122:
        ls[j, W0] = _hmix(ls[j, W0], c | 32) & 0xFFFFFFFFFFFF
    elif ls[j, W0] != 0:
        ls[j, W1] = ls[j, W0]
        ls[j, W0] = 0
    # record length: a byte value recurring at the same distance `repeats` times
    d = pos - rec[j, REC_LAST + c]
    if rec[j, REC_LAST + c] >= 0 and d == rec[j, REC_DIST + c]:
        rec[j, REC_REPEATS + c] += 1
        if rec[j, REC_REPEATS + c] >= cfg[CFG_REC_REPEATS] and d > 1:
            ls[j, RLEN] = d
            # Lanes that found no record length yet take this one. It changes lanes > j before
            # their own update of this step: the same in the decoder (lane order, see above).
            for i in range(blk[BLK_LANES]):
                if ls[i, RLEN] == 0:
                    ls[i, RLEN] = d
    else:
        rec[j, REC_REPEATS + c] = 0
        rec[j, REC_DIST + c] = d
    rec[j, REC_LAST + c] = pos
    nxt = pos + 1
    ls[j, POS] = nxt
    # match model
    # Invariant: while MLEN > 0, MPTR is a position known to the decoder (it came from a known
    # candidate and advances only onto known positions), so buf[MPTR] needs no guard here or
    # in `_predict`.
    mlen = ls[j, MLEN]
    if mlen > 0:
        ptr = ls[j, MPTR]
        if np.int64(buf[ptr]) == c and _known(ptr + 1, blk, tk):
            ls[j, MLEN] = min(mlen + 1, 65535)
            ls[j, MPTR] = ptr + 1
        else:
            ls[j, MLEN] = 0
    minlen = cfg[CFG_MINLEN]
    key = (_hmix(_hmix(13, c4), ls[j, C8] & ((1 << (8 * (minlen - 4))) - 1)) >> 20) & (
        (1 << cfg[CFG_MBITS]) - 1)
    if ls[j, MLEN] == 0:
        cand = np.int64(mtab[key])
        if cand > 0 and _known(cand, blk, tk):
            k = 0
            while k < 64 and _known(cand - 1 - k, blk, tk) and _known(nxt - 1 - k, blk, tk) \
                    and buf[cand - 1 - k] == buf[nxt - 1 - k]:
                k += 1
            if k >= minlen:
                ls[j, MLEN] = k
                ls[j, MPTR] = cand
    mtab[key] = nxt
    _contexts(j, buf, ls, cfg, blk, tk)


@njit
def index_history(buf, n, mtab, cfg):
    """Point the match table at buf[:n] as `_byte_end` would have after coding those bytes
    (positions from 1; a prior's history, see `AdaptiveSession`)."""
    minlen = cfg[CFG_MINLEN]
    mask = (np.int64(1) << cfg[CFG_MBITS]) - 1
    c4 = np.int64(0)
    c8 = np.int64(0)
    for pos in range(n):
        c8 = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
        c4 = ((c4 << 8) | np.int64(buf[pos])) & 0xFFFFFFFF
        key = (_hmix(_hmix(13, c4), c8 & ((1 << (8 * (minlen - 4))) - 1)) >> 20) & mask
        mtab[key] = pos + 1


@njit
def _match_base(cfg):
    """Offset of the match model's counters: just after the hashed tables."""
    return HASHED_OFF + N_HASHED * (np.int64(1) << cfg[CFG_HBITS])


@njit
def _match_level(mlen):
    return mlen if mlen < 16 else min(16 + ((mlen - 16) >> 3), MATCH_LEVELS - 1)


@njit
def _dot(mw, off, ls, j, n):
    # |input| <= 2047 and |weight| < 2**31: each product < 2**42, n <= 14 of them: no overflow.
    s = np.int64(0)
    for i in range(n):
        s += ls[j, INP + i] * mw[j, off + i]
    s >>= 16
    return max(-2047, min(2047, s))


@njit
def _predict(j, b, buf, cm, mw, apm, ls, cfg):
    """Probability (12 bits) that lane j's next bit (bit b of its byte, MSB first) is 1."""
    c0 = ls[j, C0]
    c1 = ls[j, C4] & 255
    nib = ls[j, NIB]
    ls[j, IDX] = c0
    ls[j, IDX + 1] = O1_OFF + (c1 << 8) + c0
    tsize = np.int64(1) << cfg[CFG_HBITS]
    for k in range(N_HASHED):
        ls[j, IDX + 2 + k] = HASHED_OFF + k * tsize + ls[j, BASE + k] + nib
    hits = 0  # how many of orders 2, 3, 4, 6 have been seen: the mixers' confidence context
    for k in range(N_CTX):
        v = _counter(cm, ls[j, IDX + k])
        ls[j, INP + k] = STRETCH[v >> 20]
        if 2 <= k < 6 and (v & 1023) > 0:
            hits += 1
    # match model: expected bit from the matched byte while the partial byte agrees
    mlen = ls[j, MLEN]
    lvl = 0
    ls[j, EXPBIT] = -1
    if mlen > 0:
        e = (np.int64(buf[ls[j, MPTR]]) | 256) >> (7 - b)
        if (e >> 1) == c0:
            bit = e & 1
            ls[j, EXPBIT] = bit
            lvl = _match_level(mlen)
    if ls[j, EXPBIT] >= 0:
        midx = lvl * 2 + ls[j, EXPBIT]
        ls[j, MIDX] = midx
        ls[j, INP + N_CTX] = STRETCH[_counter(cm, _match_base(cfg) + midx) >> 20]
        lvl = 1 + min(lvl, 15)
    else:
        ls[j, MIDX] = -1
        ls[j, INP + N_CTX] = 0
    ls[j, INP + N_CTX + 1] = 256
    # mixers
    ls[j, MSEL] = c0 * N_IN
    ls[j, MSEL + 1] = (MIX_SETS[0] + lvl * 8 + b) * N_IN
    ls[j, MSEL + 2] = (MIX_SETS[0] + MIX_SETS[1] + c1) * N_IN
    ls[j, MSEL + 3] = (MIX_SETS[0] + MIX_SETS[1] + MIX_SETS[2] + hits * 8 + b) * N_IN
    fctx = cfg[CFG_FINAL_CTX]
    fsel = c0 if fctx == 1 else (b if fctx == 2 else (lvl if fctx == 3 else 0))
    fs = MW_FINAL + fsel * (N_MIX + 1)
    ls[j, FSEL] = fs
    fin = np.int64(0)
    for m in range(N_MIX):
        s = _dot(mw, ls[j, MSEL + m], ls, j, N_IN)
        ls[j, MOUT + m] = s
        ls[j, MPR + m] = _squash(s)
        fin += s * mw[j, fs + m]
    fin += 256 * mw[j, fs + N_MIX]
    fin = max(-2047, min(2047, fin >> 16))
    pm = _squash(fin)
    ls[j, PMIX] = pm
    # APM / SSE
    x = STRETCH[pm] + 2048
    w = x & 127
    a1 = c0 * APM_POINTS + (x >> 7)
    a2 = (APM1_CTX + ((_hmix(c0, ls[j, C4] & 0xFFFF) >> 30) & (APM2_CTX - 1))) * APM_POINTS + (x >> 7)
    ls[j, A1IDX] = a1
    ls[j, A2IDX] = a2
    ls[j, A1W] = w
    # APM entries are 16-bit probabilities (< 2**16) times weights <= 128: products < 2**23.
    p1 = (apm[a1] * (128 - w) + apm[a1 + 1] * w) >> 11
    p2 = (apm[a2] * (128 - w) + apm[a2 + 1] * w) >> 11
    w3 = cfg[CFG_APM3_W]  # 0..5: share of the order-1 APM taken from the order-2 one
    if w3 == 0:
        p = (2 * pm + p1 + 5 * p2 + 4) >> 3
    else:
        a3 = (APM1_CTX + APM2_CTX + (c1 << 8) + c0) * APM_POINTS + (x >> 7)
        ls[j, A3IDX] = a3
        p3 = (apm[a3] * (128 - w) + apm[a3 + 1] * w) >> 11
        p = (2 * pm + p1 + (5 - w3) * p2 + w3 * p3 + 4) >> 3
    return max(1, min(4095, p))


@njit
def _counter(cm, i):
    """Counter i as (22-bit probability << 10) | count, int64 in [0, 2**32)."""
    return np.int64(cm[i]) ^ CM_BIAS


@njit
def _counter_update(cm, i, y, limit):
    v = _counter(cm, i)
    n = v & 1023
    p = v >> 10
    p += (((y << 22) - p) * _RATE[n]) >> 16  # |2**22 * rate| < 2**39; p stays in [0, 2**22)
    if n < limit:
        n += 1
    cm[i] = ((p << 10) | n) ^ CM_BIAS


@njit
def _apm_update(apm, i, w, y, rate):
    g = (y << 16) + (y << rate) - y - y
    if w < 64:
        apm[i] += (g - apm[i]) >> rate
    else:
        apm[i + 1] += (g - apm[i + 1]) >> rate


@njit
def _update(j, y, buf, cm, mw, apm, ls, cfg):
    """Learn lane j's bit y; advance its partial byte (the byte end is handled by the caller)."""
    lo = cfg[CFG_LIMIT_LO]
    hi = cfg[CFG_LIMIT_HI]
    _counter_update(cm, ls[j, IDX], y, lo)
    _counter_update(cm, ls[j, IDX + 1], y, lo)
    for k in range(2, N_CTX):
        _counter_update(cm, ls[j, IDX + k], y, hi)
    if ls[j, MIDX] >= 0:
        _counter_update(cm, _match_base(cfg) + ls[j, MIDX], y, 1023)
        if ls[j, EXPBIT] != y:
            ls[j, MLEN] = 0
    lr = cfg[CFG_MIX_LR]
    # |err| < 2**18 (lr <= 64, bounded by AdaptiveModel), |input| <= 2047: products < 2**29.
    for m in range(N_MIX):
        err = ((y << 12) - ls[j, MPR + m]) * lr
        off = ls[j, MSEL + m]
        for i in range(N_IN):
            mw[j, off + i] += (ls[j, INP + i] * err) >> 14
    err = ((y << 12) - ls[j, PMIX]) * cfg[CFG_FINAL_LR]
    fs = ls[j, FSEL]
    for m in range(N_MIX):
        mw[j, fs + m] += (ls[j, MOUT + m] * err) >> 14
    mw[j, fs + N_MIX] += (256 * err) >> 14
    rate = cfg[CFG_APM_RATE]
    w = ls[j, A1W]
    _apm_update(apm, ls[j, A1IDX], w, y, rate)
    _apm_update(apm, ls[j, A2IDX], w, y, rate)
    if cfg[CFG_APM3_W] > 0:
        _apm_update(apm, ls[j, A3IDX], w, y, rate)
    c0 = ls[j, C0] * 2 + y
    nib = ls[j, NIB] * 2 + y
    if nib >= 16:
        nib = 1
        if c0 < 256:  # second nibble: groups keyed by the first one
            hbits = cfg[CFG_HBITS]
            for k in range(N_HASHED):
                ls[j, BASE + k] = _group(_hmix(ls[j, H + k], c0), hbits)
    if c0 >= 256:
        buf[ls[j, POS]] = c0 & 255
        c0 = 1
    ls[j, C0] = c0
    ls[j, NIB] = nib


@njit
def begin_block(buf, ls, rec, cfg, blk, carry, carry_rec, has_carry):
    """Set up the lanes of a block: lane 0 continues the stream, the others start fresh."""
    s = blk[BLK_LANES]
    for j in range(s):
        if j == 0 and has_carry:
            ls[0, :] = carry
            rec[0, :] = carry_rec
        else:
            ls[j, :] = 0
            ls[j, C0] = 1
            ls[j, NIB] = 1
            rec[j, REC_LAST:REC_DIST] = -1
            rec[j, REC_DIST:] = 0
        ls[j, POS] = blk[BLK_START] + j * blk[BLK_LANE_LEN]
        if not (j == 0 and has_carry):
            _contexts(j, buf, ls, cfg, blk, 0)


@njit
def active_lanes(t, blk):
    """Lanes still active at byte offset t: those with j * L + t < n."""
    return min(blk[BLK_LANES], (blk[BLK_N] - t - 1) // blk[BLK_LANE_LEN] + 1)


@njit
def predict_lanes(a, b, buf, cm, mw, apm, ls, cfg, freqs):
    """freqs[j] = [4096 - p1, p1] for the first `a` lanes at bit b (int64[a, 2])."""
    for j in range(a):
        p = _predict(j, b, buf, cm, mw, apm, ls, cfg)
        freqs[j, 0] = 4096 - p
        freqs[j, 1] = p


@njit
def update_lanes(a, t, b, bits, buf, cm, mw, apm, mtab, ls, rec, cfg, blk):
    """All `a` active lanes learn their bit (in lane order); at the byte end, byte-level updates."""
    for j in range(a):
        _update(j, np.int64(bits[j]) & 1, buf, cm, mw, apm, ls, cfg)
    if b == 7:
        for j in range(a):
            _byte_end(j, buf, mtab, ls, rec, cfg, blk, t + 1)


@njit
def decode_step(bits, a_done, t_done, b_done, a, b, freqs, buf, cm, mw, apm, mtab, ls, rec, cfg,
                blk):
    """One decode step: the `a_done` lanes learn `bits` of step (t_done, b_done) (none if 0), then
    the first `a` lanes predict bit b into freqs (int64[a, 2])."""
    if a_done > 0:
        update_lanes(a_done, t_done, b_done, bits, buf, cm, mw, apm, mtab, ls, rec, cfg, blk)
    predict_lanes(a, b, buf, cm, mw, apm, ls, cfg, freqs)


@njit
def encode_lanes(buf, cm, mw, apm, mtab, ls, rec, cfg, blk, decisions, probs):
    """Run a whole block (already in buf) in decode order: decisions int8[8n], probs int16[8n]."""
    L = blk[BLK_LANE_LEN]
    start = blk[BLK_START]
    s = blk[BLK_LANES]
    freqs = np.empty((s, 2), dtype=np.int64)
    bits = np.empty(s, dtype=np.int64)
    k = 0
    for t in range(L):
        a = active_lanes(t, blk)
        for b in range(8):
            predict_lanes(a, b, buf, cm, mw, apm, ls, cfg, freqs)
            for j in range(a):
                bits[j] = (np.int64(buf[start + j * L + t]) >> (7 - b)) & 1
                decisions[k] = bits[j]
                probs[k] = freqs[j, 1]
                k += 1
            update_lanes(a, t, b, bits, buf, cm, mw, apm, mtab, ls, rec, cfg, blk)
    return k


@njit
def _check_one_lane(blk):
    if blk[BLK_LANES] != 1:
        raise ValueError("binary self-coding runs one lane")


@njit
def encode_binary(buf, cm, mw, apm, mtab, ls, rec, cfg, blk, out, counts):
    """Code a whole block (already in buf) with the binary coder, one lane, in one call.

    out: uint8[capacity] (grown as needed); counts: int64[2, 4096] += how often each
    (bit, p1) was coded (the exact NLL is computed from it). Returns (bytes, byte count).
    Same predict/update order as `encode_lanes` with one lane: identical probabilities.
    """
    _check_one_lane(blk)
    start = blk[BLK_START]
    n = blk[BLK_N]
    st = binary.encoder_state()
    for t in range(n):
        out = binary.reserve(out, st, 8 * binary.MAX_BYTES_PER_DECISION + 1)
        c = np.int64(buf[start + t])
        for b in range(8):
            p = _predict(0, b, buf, cm, mw, apm, ls, cfg)
            y = (c >> (7 - b)) & 1
            binary.encode_bit(st, out, y, p)
            counts[y, p] += 1
            _update(0, y, buf, cm, mw, apm, ls, cfg)
        _byte_end(0, buf, mtab, ls, rec, cfg, blk, t + 1)
    out = binary.reserve(out, st, 1)
    return out, binary.finish_bytes(st, out, n > 0)


@njit
def decode_binary(data, buf, cm, mw, apm, mtab, ls, rec, cfg, blk):
    """Inverse of `encode_binary`: decodes the block's n bytes into buf from blk[BLK_START]."""
    _check_one_lane(blk)
    n = blk[BLK_N]
    st = binary.decoder_state(data)
    for t in range(n):
        for b in range(8):
            p = _predict(0, b, buf, cm, mw, apm, ls, cfg)
            y = binary.decode_bit(st, data, p)
            _update(0, y, buf, cm, mw, apm, ls, cfg)  # writes the byte to buf after bit 7
        _byte_end(0, buf, mtab, ls, rec, cfg, blk, t + 1)
