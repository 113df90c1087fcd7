"""Engine 3: the single-lane context-mixing kernel of the `adaptive` presets 6 and up (numba, integers only).

A new design beside `_cm_kernels` (which stays, its behaviour unchanged, the engine of presets 1-5 and of every
stream they wrote). What differs:

- one compiled call codes (or decodes) a whole block; encoder and decoder run the *same* function
  (`code_block`, `decode` flag), so their predict/update order cannot drift apart, and the
  per-byte state lives in local variables, saved to `regs` only at the block's end;
- indirect modeling for the hashed contexts: each slot holds a one-byte *bit history* (a state
  standing for the pair of bit counts (n0, n1), the opposite count discounted on every bit, see
  `STATE_*`), and a per-context adaptive *state map* turns the state into a probability, so a
  context learns how states like this one behave in this kind of context;
- checked nibble buckets: a context and nibble own one 16-byte bucket (a check byte plus the 15
  states of the nibble's binary tree), looked up in two neighbouring buckets of one cache line;
  a bucket whose check differs is taken over from the less used one, so colliding contexts do
  not share statistics;
- orders 0 and 1 keep direct adaptive counters (`t_direct`), as in engine 2.

Each byte is 8 binary decisions, most significant bit first, p1 a 12-bit probability in
[1, 4095], coded by `coding.binary` inside the loop.

Contexts: engine 2's (orders 2, 3, 4, 6, word, word bigram, three record contexts, sparse) plus
orders 5 and 8; the match model gives two inputs (its counter by length, and the length itself
signed by the expected bit). Mixing and refinement as in engine 2: four mixers whose weight sets are selected
by the partial byte, the match state and bit position, the previous byte, and how many of the
orders were seen (and whether the highest of them is deterministic), a final mixer of their
outputs (weight set by `final_ctx`); then the output is the average of APMs by partial byte and
the match model's expected bit (1/8),
by hashed order 2 ((7 - apm3_weight)/8) and by order 1 (apm3_weight/8), the mixer's own
probability only feeding them.

State (`new_state` and buf, the session's arrays; all of a stream's learned state):
  buf      uint8[capacity]        the stream so far
  t_direct uint32[256 + 65536]    order-0 and order-1 counters: (22-bit p << 10 | count) ^ CM_BIAS
  t_hash   uint8[N_HASHED << hbits] bit-history states, 16-byte buckets (byte 0: check, 1-15: states)
  smap     uint32[N_HASHED * 256] state maps, (22-bit p << 10 | count), not biased
  t_match  uint32[2 * MATCH_LEVELS] match-model counters, as t_direct
  mix      int32[MIX_LEN]         mixer weights, 16.16 fixed point
  apm      uint16[APM_LEN]        APMs, 16-bit probabilities, 33 interpolation points per context
  mtab     int32[2**mbits]        hash of the last `match_min` bytes -> position after them
  rec      int64[768]             record detector: last position, distance, repeats by byte value
  regs     int64[REGS_LEN]        byte histories and match state between blocks (REG_*)

Exactness premises: all arithmetic is int64 on bounded values (bounds noted where products are
formed); table indices are masked to their table sizes (noted at each index); every read of buf is
at a position before the byte being coded (the block is decoded in order, so it is known).
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit
from deepcompress.coding import binary
from deepcompress.models import _cm_kernels
from deepcompress.models import _network_kernels as N
from deepcompress.models._cm_kernels import (
    _RATE,
    _SQUASH_POINTS,
        APM2_CTX,
    APM3_CTX,
    APM_POINTS,
    CM_BIAS,
    STRETCH,
    _hmix,
    _match_level,
)

# ---- bit-history states -------------------------------------------------------------------------
# A state stands for counts (n0, n1): any n up to RUN_MAX while the other count is 0, both up to
# MIXED_MAX otherwise. On bit y: n_y += 1 and the opposite count, if above 1, is roughly halved
# (recent bits weigh more); counts are then clamped into the representable set. State 0 is (0, 0).
RUN_MAX = 55
MIXED_MAX = 12


def _build_states() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pairs = [(0, 0)]
    pairs += [(n, 0) for n in range(1, RUN_MAX + 1)] + [(0, n) for n in range(1, RUN_MAX + 1)]
    pairs += [(a, b) for a in range(1, MIXED_MAX + 1) for b in range(1, MIXED_MAX + 1)]
    if len(pairs) > 256:  # one byte per state
        raise AssertionError("bit-history states do not fit a byte")
    index = {pair: s for s, pair in enumerate(pairs)}
    nxt = np.zeros((len(pairs), 2), dtype=np.int64)
    for s, (n0, n1) in enumerate(pairs):
        for y in (0, 1):
            a, b = (n0, n1) if y == 0 else (n1, n0)  # a: the count of bit y, b: the opposite
            a += 1
            if b > 1:
                b = b // 2 + 1
            if b == 0:
                a = min(a, RUN_MAX)
            else:
                a, b = min(a, MIXED_MAX), min(b, MIXED_MAX)
            nxt[s, y] = index[(a, b) if y == 0 else (b, a)]
    counts = np.array(pairs, dtype=np.int64)
    return counts[:, 0].copy(), counts[:, 1].copy(), nxt


STATE_N0, STATE_N1, STATE_NEXT = _build_states()
N_STATES = len(STATE_N0)

# ---- layout -------------------------------------------------------------------------------------
N_HASHED = 12  # orders 2, 3, 4, 5, 6, 8; word; word bigram; 3 record contexts; sparse
N_ORDERS = 6  # the first N_ORDERS hashed contexts are the orders, lowest first
N_CTX = 2 + N_HASHED
N_IN = N_CTX + 3  # + match + bias + match length (signed by the expected bit)
N_MIX = 4
MATCH_LEVELS = 32
O1_OFF = 256
DIRECT_LEN = 256 + 65536
MIX_SETS = (256, 17 * 8, 256, 2 * (N_ORDERS + 1) * 8)
MW_FINAL = sum(MIX_SETS) * N_IN
FINAL_SETS = 256
MIX_LEN = MW_FINAL + FINAL_SETS * (N_MIX + 1)
APM1_CTX = 256 * 3  # partial byte x the match model's expected bit (none, 0, 1)
APM_LEN = (APM1_CTX + APM2_CTX + APM3_CTX) * APM_POINTS
SMAP_LEN = N_HASHED * 256

# cfg: the hyper-parameters the kernel reads, by index (the preset keys of `adaptive`; in engine 3
# limit_high is the state maps' count limit).
CFG_KEYS = ("hash_bits", "match_bits", "limit_low", "limit_high", "mix_lr", "final_lr",
            "apm_rate", "match_min", "record_repeats", "final_ctx", "apm3_weight")
if CFG_KEYS != _cm_kernels.CFG_KEYS:  # index_history reads engine 2's cfg indices
    raise AssertionError("engine 3's cfg layout differs from engine 2's")
# A prior's history is indexed as engine 2 indexes one: the same match key (`_match_key`) and cfg layout.
index_history = _cm_kernels.index_history
CFG_HBITS, CFG_MBITS, CFG_LIMIT_LO, CFG_LIMIT_HI, CFG_MIX_LR, CFG_FINAL_LR, CFG_APM_RATE, \
    CFG_MINLEN, CFG_REC_REPEATS, CFG_FINAL_CTX, CFG_APM3_W = range(len(CFG_KEYS))

REG_C4, REG_C8, REG_W0, REG_W1, REG_MPTR, REG_MLEN, REG_RLEN = range(7)
REGS_LEN = 7
REC_LAST, REC_DIST, REC_REPEATS, REC_LEN = 0, 256, 512, 768


@njit
def _squash(x):
    if x >= 2047:
        return 4095
    if x <= -2047:
        return 1
    w = x & 127
    i = (x >> 7) + 16
    return (_SQUASH_POINTS[i] * (128 - w) + _SQUASH_POINTS[i + 1] * w + 64) >> 7


def state_spec(config: dict[str, int]) -> dict[str, tuple[np.dtype, tuple[int, ...]]]:
    """The dtype and shape of each of a session's arrays but buf, by name, in `code_block`'s order."""
    return {
        "t_direct": (np.dtype(np.uint32), (DIRECT_LEN,)),
        "t_hash": (np.dtype(np.uint8), (N_HASHED << config["hash_bits"],)),
        "smap": (np.dtype(np.uint32), (SMAP_LEN,)),  # entries past N_STATES are never read
        "t_match": (np.dtype(np.uint32), (2 * MATCH_LEVELS,)),
        "mix": (np.dtype(np.int32), (MIX_LEN,)),
        "apm": (np.dtype(np.uint16), (APM_LEN,)),  # values in [0, 2**16): see _apm_update
        "mtab": (np.dtype(np.int32), (1 << config["match_bits"],)),
        "rec": (np.dtype(np.int64), (REC_LEN,)),
        "regs": (np.dtype(np.int64), (REGS_LEN,)),
    }


def new_state(config: dict[str, int]) -> dict[str, np.ndarray]:
    """A fresh session's arrays (`state_spec`): zeros (fresh counters, empty buckets; their pages
    cost memory only once touched), then the tables that start elsewhere (`init_state`)."""
    state = {name: np.zeros(shape, dtype=dtype) for name, (dtype, shape) in state_spec(config).items()}
    init_state(state["smap"], state["mix"], state["apm"], state["rec"])
    return state


# A session's stream state, which `restart_stream` sets as a stream starts; the rest is learned.
STREAM_STATE = ("rec", "regs")


def learned_state_is_safe(tables: dict[str, np.ndarray], size: int) -> bool:
    """Whether learned arrays (`state_spec` but STREAM_STATE) restored from outside, at a stream
    that starts after `size` bytes of history, hold only values `code_block` may index with: the
    bucket states below N_STATES (they index STATE_*) and the match table's positions in [0, size]
    (it reads buf before them). Every other array is read only as a value any bit pattern may
    take (counters and state maps through `>> 20` into STRETCH, weights, uint16 APM entries)."""
    states = tables["t_hash"].reshape(-1, 16)[:, 1:]
    mtab = tables["mtab"]
    return bool(states.max(initial=0) < N_STATES and mtab.min(initial=0) >= 0 and mtab.max(initial=0) <= size)


# What a prior (`models.prior`) stores of a trained session: these arrays, `apm` only its first
# APM (by partial byte and expected bit); the hashed states and the hashed APMs start fresh.
PRIOR_TABLES = {"t_direct": DIRECT_LEN, "smap": SMAP_LEN, "t_match": 2 * MATCH_LEVELS, "mix": MIX_LEN,
                "apm": APM1_CTX * APM_POINTS}


def restart_stream(state: dict[str, np.ndarray]) -> None:
    """The byte history, match and record state of `new_state`'s arrays as a new stream starts."""
    state["regs"][:] = 0
    state["rec"][REC_LAST:REC_DIST] = -1
    state["rec"][REC_DIST:] = 0


@njit
def init_state(smap, mix, apm, rec):
    """Fresh-session values of the tables that do not start at zero."""
    for k in range(N_HASHED):
        for s in range(N_STATES):
            n0 = STATE_N0[s]
            n1 = STATE_N1[s]
            # the state's own estimate (n1 + 1/2) / (n + 1), 22 bits, count 0
            smap[k * 256 + s] = (((2 * n1 + 1) << 22) // (2 * (n0 + n1) + 2)) << 10
    mix[:MW_FINAL] = 8000  # ~0.12 per input: 16 inputs start near a sum of 2
    mix[MW_FINAL:] = 65536 // N_MIX
    for f in range(FINAL_SETS):
        mix[MW_FINAL + f * (N_MIX + 1) + N_MIX] = 0
    for c in range(APM1_CTX + APM2_CTX + APM3_CTX):
        for j in range(APM_POINTS):
            apm[c * APM_POINTS + j] = _squash((j - 16) * 128) * 16
    rec[REC_LAST:REC_DIST] = -1
    rec[REC_DIST:] = 0


@njit
def _bucket(t_hash, table, hk, hbits):
    """Offset of the 16-byte bucket of hash hk in table `table`: found by its check byte, else
    taken over (zeroed) from the less used of the two neighbouring candidates."""
    # index < 2**(hbits - 4) buckets of 16 bytes: inside table `table` of 2**hbits bytes
    g = table + (((hk >> 20) & ((np.int64(1) << (hbits - 4)) - 1)) << 4)
    chk = (hk >> 52) & 255
    if chk == 0:
        chk = 1  # check 0 marks a bucket never used
    if t_hash[g] == chk:
        return g
    g2 = g ^ 16  # the neighbour in the same 32-byte half of a cache line
    if t_hash[g2] == chk:
        return g2
    # priority: how often the bucket's first decision was seen
    s1 = np.int64(t_hash[g + 1])
    s2 = np.int64(t_hash[g2 + 1])
    if STATE_N0[s2] + STATE_N1[s2] < STATE_N0[s1] + STATE_N1[s1]:
        g = g2
    t_hash[g:g + 16] = 0
    t_hash[g] = chk
    return g


@njit
def _dot(inp, mix, off):
    # |input| <= 2047 and |weight| < 2**31: products < 2**42, N_IN = 14 of them: no overflow.
    s = np.int64(0)
    for i in range(N_IN):
        s += inp[i] * mix[off + i]
    s >>= 16
    return max(-2047, min(2047, s))


@njit
def _counter_update(table, i, y, limit, bias):
    v = np.int64(table[i]) ^ bias
    n = v & 1023
    p = v >> 10
    p += (((y << 22) - p) * _RATE[n]) >> 16  # |2**22 * rate| < 2**39; p stays in [0, 2**22)
    if n < limit:
        n += 1
    table[i] = ((p << 10) | n) ^ bias


@njit
def _apm_update(apm, i, w, y, rate):
    """Move the two interpolation points i, i + 1 (weights 128 - w, w; 0 <= w < 128) toward bit y.

    Entries stay in [0, 2**16), so uint16 arrays hold them exactly (as lpaq's APM). With
    k = 128 - w or w (<= 128) and s = rate + 7, a point t moves by floor((g - t) * k / 2**s):
    y = 0 (g = 0): by at least -t, so t stays >= 0; y = 1 (g = 2**16 - 2 + 2**rate): by at most
    floor((g - t) / 2**rate), which is 0 at t = 2**16 - 1 and leaves t <= 2**16 - 1 from any
    t < 2**16 - 1. Fresh entries are squash(.) * 16 <= 65520.
    """
    g = (y << 16) + (y << rate) - y - y
    # both interpolation points move, by their weights: |g - apm| < 2**17, times 128: < 2**24
    apm[i] += ((g - apm[i]) * (128 - w)) >> (rate + 7)
    apm[i + 1] += ((g - apm[i + 1]) * w) >> (rate + 7)


@njit
def _match_key(c4, c8, minmask, mmask):
    """The match table's index of the last `match_min` bytes (c8, c4): < 2**mbits, inside mtab."""
    return (_hmix(_hmix(13, c4), c8 & minmask) >> 20) & mmask


@njit
def _match_step(buf, mtab, pos, c4, c8, mlen, mptr, minlen, minmask, mmask):
    """The match model after byte buf[pos] (the last of c4): extend the match or drop it, look a
    new one up by the hash of the last `match_min` bytes, and index this position. Returns
    (mlen, mptr): the match length and the position of the byte it predicts next (< pos + 1)."""
    c = c4 & 255
    nxt = pos + 1
    if mlen > 0:
        if np.int64(buf[mptr]) == c:
            mlen = min(mlen + 1, 65535)
            mptr += 1
        else:
            mlen = 0
    key = _match_key(c4, c8, minmask, mmask)
    if mlen == 0:
        cand = np.int64(mtab[key])
        if cand > 0:  # a position after an earlier byte: cand <= pos
            k = 0
            while k < 64 and k < cand and buf[cand - 1 - k] == buf[nxt - 1 - k]:
                k += 1
            if k >= minlen:
                mlen = k
                mptr = cand
    mtab[key] = nxt
    return mlen, mptr


@njit
def code_block(decode, buf, start, n, data, out, t_direct, t_hash, smap, t_match, mix, apm, mtab,
               rec, regs, cfg, counts, probs, net, offsets, table, first_bias, weight, bias, multiplier,
               exp_table, hmix):
    """Encode buf[start:start + n] into out (decode=False), or decode data into it (decode=True).

    out: uint8[capacity], grown as needed (returned); counts: int64[2, 4096] += how often each
    (bit, p1) was coded (encoding only); probs: int16[8n] receives every p1 in coding order, or
    int16[0] for none. Returns (out, bytes written; 0 when decoding).
    net .. hmix: a hybrid's network and final mixer (`_network_kernels.network_arguments`, or
    `no_network`: hmix empty), whose output is then what is coded; the engine's own state never sees it.
    """
    keep = probs.shape[0] > 0
    hybrid = hmix.shape[0] > 0
    pre = np.empty(table.shape[1], dtype=np.int64)
    cum = np.empty(weight.shape[0] + 1, dtype=np.int64)
    hbits = cfg[CFG_HBITS]
    mbits = cfg[CFG_MBITS]
    lim_lo = cfg[CFG_LIMIT_LO]
    lim_hi = cfg[CFG_LIMIT_HI]
    lr = cfg[CFG_MIX_LR]
    flr = cfg[CFG_FINAL_LR]
    arate = cfg[CFG_APM_RATE]
    minlen = cfg[CFG_MINLEN]
    repeats = cfg[CFG_REC_REPEATS]
    fctx = cfg[CFG_FINAL_CTX]
    w3 = cfg[CFG_APM3_W]
    minmask = (np.int64(1) << (8 * (minlen - 4))) - 1
    mmask = (np.int64(1) << mbits) - 1
    c4 = regs[REG_C4]
    c8 = regs[REG_C8]
    w0 = regs[REG_W0]
    w1 = regs[REG_W1]
    mptr = regs[REG_MPTR]
    mlen = regs[REG_MLEN]
    rlen = regs[REG_RLEN]
    h = np.empty(N_HASHED, dtype=np.int64)
    base = np.empty(N_HASHED, dtype=np.int64)
    slot = np.empty(N_HASHED, dtype=np.int64)
    sidx = np.empty(N_HASHED, dtype=np.int64)
    inp = np.empty(N_IN, dtype=np.int64)
    msel = np.empty(N_MIX, dtype=np.int64)
    mout = np.empty(N_MIX, dtype=np.int64)
    mpr = np.empty(N_MIX, dtype=np.int64)
    inp[N_CTX + 1] = 256
    if decode:
        st = binary.decoder_state(data)
    else:
        st = binary.encoder_state()
    byte = np.int64(0)
    for t in range(n):
        pos = start + t
        if not decode:
            out = binary.reserve(out, st, 8 * binary.MAX_BYTES_PER_DECISION + 1)
            byte = np.int64(buf[pos])
        if hybrid:
            N.network_row(buf, pos, net[N.NET_START], offsets, table, first_bias, net[N.NET_FIRST_SHIFT], weight,
                          bias, multiplier, net[N.NET_SHIFT], exp_table, pre, cum)
        # ---- byte contexts (all reads of buf are at positions < pos, decoded already) ----
        c1 = c4 & 255
        r = rlen
        above = np.int64(buf[pos - r]) if 0 < r <= pos else np.int64(0)
        above2 = np.int64(buf[pos - 2 * r]) if 0 < r and 2 * r <= pos else np.int64(0)
        above_n = np.int64(buf[pos - r + 1]) if 1 < r <= pos else np.int64(0)
        above_p = np.int64(buf[pos - r - 1]) if 0 < r and r + 1 <= pos else np.int64(0)
        h[0] = _hmix(2, c4 & 0xFFFF)
        h[1] = _hmix(3, c4 & 0xFFFFFF)
        h[2] = _hmix(4, c4)
        h[3] = _hmix(_hmix(14, c4), c8 & 0xFF)
        h[4] = _hmix(_hmix(6, c4), c8 & 0xFFFF)
        h[5] = _hmix(_hmix(15, c4), c8)
        h[6] = _hmix(_hmix(7, w0), c1)
        h[7] = _hmix(_hmix(8, w0), w1)
        h[8] = _hmix(_hmix(_hmix(9, r), above), c1)
        h[9] = _hmix(_hmix(_hmix(10, r), above), above2)
        h[10] = _hmix(_hmix(_hmix(_hmix(11, r), above_p), above), above_n)
        h[11] = _hmix(12, c4 & 0xFFFF00)
        for k in range(N_HASHED):
            base[k] = _bucket(t_hash, np.int64(k) << hbits, _hmix(h[k], 0), hbits)
        c0 = np.int64(1)
        nib = np.int64(1)
        for b in range(8):
            # ---- predict ----
            i0 = c0
            i1 = O1_OFF + (c1 << 8) + c0
            inp[0] = STRETCH[(np.int64(t_direct[i0]) ^ CM_BIAS) >> 20]
            inp[1] = STRETCH[(np.int64(t_direct[i1]) ^ CM_BIAS) >> 20]
            hits = 0  # how many of orders 2-8 were seen, and
            det = 0  # whether the highest of them saw one bit value only: mixer 3's context
            for k in range(N_HASHED):
                sl = base[k] + nib
                slot[k] = sl
                s = np.int64(t_hash[sl])
                si = k * 256 + s
                sidx[k] = si
                inp[2 + k] = STRETCH[np.int64(smap[si]) >> 20]
                if k < N_ORDERS and s != 0:
                    hits += 1
                    det = 1 if (STATE_N0[s] == 0 or STATE_N1[s] == 0) else 0
            expbit = -1
            lvl = 0
            midx = -1
            if mlen > 0:
                e = (np.int64(buf[mptr]) | 256) >> (7 - b)
                if (e >> 1) == c0:
                    expbit = e & 1
                    ml = _match_level(mlen)
                    midx = ml * 2 + expbit
                    lvl = 1 + min(ml, 15)
            if midx >= 0:
                inp[N_CTX] = STRETCH[(np.int64(t_match[midx]) ^ CM_BIAS) >> 20]
                ln = min(mlen, 32) * 64
                inp[N_CTX + 2] = ln if expbit == 1 else -ln
            else:
                inp[N_CTX] = 0
                inp[N_CTX + 2] = 0
            msel[0] = c0 * N_IN
            msel[1] = (MIX_SETS[0] + lvl * 8 + b) * N_IN
            msel[2] = (MIX_SETS[0] + MIX_SETS[1] + c1) * N_IN
            msel[3] = (MIX_SETS[0] + MIX_SETS[1] + MIX_SETS[2] + (hits + (N_ORDERS + 1) * det) * 8 + b) * N_IN
            fsel = c0 if fctx == 1 else (b if fctx == 2 else (lvl if fctx == 3 else 0))
            fs = MW_FINAL + fsel * (N_MIX + 1)
            fin = np.int64(0)
            for m in range(N_MIX):
                s = _dot(inp, mix, msel[m])
                mout[m] = s
                mpr[m] = _squash(s)
                fin += s * mix[fs + m]
            fin += 256 * mix[fs + N_MIX]
            fin = max(-2047, min(2047, fin >> 16))
            pm = _squash(fin)
            x = STRETCH[pm] + 2048
            aw = x & 127
            a1 = (c0 * 3 + expbit + 1) * APM_POINTS + (x >> 7)
            a2 = (APM1_CTX + ((_hmix(c0, c4 & 0xFFFF) >> 30) & (APM2_CTX - 1))) * APM_POINTS + (x >> 7)
            a3 = (APM1_CTX + APM2_CTX + (c1 << 8) + c0) * APM_POINTS + (x >> 7)
            # APM entries < 2**16 times weights <= 128: products < 2**23.
            p1 = (apm[a1] * (128 - aw) + apm[a1 + 1] * aw) >> 11
            p2 = (apm[a2] * (128 - aw) + apm[a2 + 1] * aw) >> 11
            p3 = (apm[a3] * (128 - aw) + apm[a3 + 1] * aw) >> 11
            p = (p1 + (7 - w3) * p2 + w3 * p3 + 4) >> 3
            p = max(1, min(4095, p))
            s_engine = np.int64(0)
            s_net = np.int64(0)
            hsel = np.int64(0)
            if hybrid:
                s_engine = STRETCH[p]
                p_net = N.network_p1(cum, c0, b)
                s_net = STRETCH[p_net]
                hsel = N.selector(p_net, b)
                p = N.mix(hmix, hsel, s_engine, s_net)
            # ---- code ----
            if decode:
                y = np.int64(binary.decode_bit(st, data, p))
            else:
                y = (byte >> (7 - b)) & 1
                binary.encode_bit(st, out, y, p)
                counts[y, p] += 1
            if keep:
                probs[8 * t + b] = p
            # ---- update ----
            if hybrid:
                N.learn(hmix, hsel, s_engine, s_net, p, y, net[N.NET_LR])
            _counter_update(t_direct, i0, y, lim_lo, CM_BIAS)
            _counter_update(t_direct, i1, y, lim_lo, CM_BIAS)
            for k in range(N_HASHED):
                _counter_update(smap, sidx[k], y, lim_hi, 0)
                t_hash[slot[k]] = STATE_NEXT[sidx[k] & 255, y]
            if midx >= 0:
                _counter_update(t_match, midx, y, 1023, CM_BIAS)
                if expbit != y:
                    mlen = 0
            # |err| < 2**18 (lr <= 64), |input| <= 2047: products < 2**29.
            for m in range(N_MIX):
                err = ((y << 12) - mpr[m]) * lr
                off = msel[m]
                for i in range(N_IN):
                    mix[off + i] += (inp[i] * err) >> 14
            err = ((y << 12) - pm) * flr
            for m in range(N_MIX):
                mix[fs + m] += (mout[m] * err) >> 14
            mix[fs + N_MIX] += (256 * err) >> 14
            _apm_update(apm, a1, aw, y, arate)
            _apm_update(apm, a2, aw, y, arate)
            if w3 > 0:
                _apm_update(apm, a3, aw, y, arate)
            c0 = c0 * 2 + y
            nib = nib * 2 + y
            if nib >= 16 and c0 < 256:  # second nibble: buckets keyed by the first one
                nib = 1
                for k in range(N_HASHED):
                    base[k] = _bucket(t_hash, np.int64(k) << hbits, _hmix(h[k], c0), hbits)
        # ---- byte end ----
        c = c0 & 255
        if decode:
            buf[pos] = c
        c8 = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
        c4 = ((c4 << 8) | c) & 0xFFFFFFFF
        if 65 <= c <= 90 or 97 <= c <= 122:
            w0 = _hmix(w0, c | 32) & 0xFFFFFFFFFFFF
        elif w0 != 0:
            w1 = w0
            w0 = 0
        last = rec[REC_LAST + c]
        d = pos - last
        if last >= 0 and d == rec[REC_DIST + c]:
            rec[REC_REPEATS + c] += 1
            if rec[REC_REPEATS + c] >= repeats and d > 1:
                rlen = d
        else:
            rec[REC_REPEATS + c] = 0
            rec[REC_DIST + c] = d
        rec[REC_LAST + c] = pos
        mlen, mptr = _match_step(buf, mtab, pos, c4, c8, mlen, mptr, minlen, minmask, mmask)
    regs[REG_C4] = c4
    regs[REG_C8] = c8
    regs[REG_W0] = w0
    regs[REG_W1] = w1
    regs[REG_MPTR] = mptr
    regs[REG_MLEN] = mlen
    regs[REG_RLEN] = rlen
    if decode:
        return out, 0
    out = binary.reserve(out, st, 1)
    return out, binary.finish_bytes(st, out, n > 0)
