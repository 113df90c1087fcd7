"""Engine 4: the fast single-lane context-mixing kernels of `adaptive` levels 1-2 (numba, integers only).

Engine 3 spends ~350 ns a decision on fourteen contexts, four mixers and three APMs. Engine 4 keeps
what pays most per nanosecond (chosen by the Calgary-14 total against the kernel's speed on book1).
Variant 0 (preset 8, level 2):

- order 1 as direct adaptive counters (`t_direct`, (22-bit p << 10 | count) ^ CM_BIAS, 256 KiB);
- orders 2 and 4 hashed: a context and nibble own one 32-byte bucket of `t_hash` (a 16-bit check
  word and the 15 counters of the nibble's binary tree), found by its check in one of the two
  buckets of a 64-byte cache line, else taken over from the one whose first counter has seen
  fewer bits; 16-bit direct counters (12-bit p << 4 | count) ^ C16_BIAS with the step
  1/(count + 1.5) of engine 2 (no bit-history states: one load and one store a context and
  decision, half the memory traffic of 32-bit counters);
- the match model of engine 3 (two inputs: its counter by length, the length signed by the
  expected bit);
- one mixer of the six inputs (five in variant 1), its weight set selected by the partial byte,
  then an APM by the partial byte and the previous byte; the output is (mixer + 3 * APM) / 4;
- the buckets' cache lines are requested (`_jit.prefetch`) one decision before they are needed,
  for both values of that decision: +15% speed on book1, no change to any value; so is the
  match table's entry for the next byte (+5% in variant 0, +9% in variant 1).

Variant 1 (preset 10, level 1): one hashed order, 3, and no APM (the output is the mixer's):
Calgary-14 2.033 bpb against variant 0's 1.928, kernel ~0.20 s on book1 against ~0.33 s (one
2-core machine, medians of 5). Dropping only the APM or only a hashed order gains little speed
(orders 2 and 4 without the APM: ~0.31 s; order 3 with the APM: ~0.31 s, with an APM by the
partial byte alone: ~0.29 s), so both go. The variant is a constant of the compiled code
(`_code` is inlined into `code_block` once per variant), not a branch taken per decision: the
same loops with the variant read from cfg ran 10-15% slower.

Measured against the alternatives (Calgary-14 total, kernel MB/s on book1, one 2-core machine):
adding order 3 or orders 3 and 6 gains 1.3% or 2.0% and costs 13% or 36% of the speed; an order-0
input gains 0.4% for 5%; 32-bit hashed counters (count limit 255) were 0.2% larger than these
16-bit ones, and slower; without the APM, book1 is 1.7% larger (before the buckets were
prefetched, that was 17% more speed; with them, ~6%, above).

Each byte is 8 binary decisions, most significant bit first, p1 a 12-bit probability in
[1, 4095], coded by `coding.binary` inside the loop. Encoder and decoder run the same function
(`code_block`, `decode` flag), so their predict/update order cannot drift apart.

State (`new_state` and buf, the session's arrays; all of a stream's learned state):
  buf      uint8[capacity]            the stream so far
  t_direct uint32[65536]              order-1 counters, by previous byte and partial byte
  t_hash   uint16[n_hashed << hbits]  hashed buckets of 16 words (word 0: check, 1-15: counters)
  t_match  uint32[2 * MATCH_LEVELS]   match-model counters
  mix      int32[MIX_LEN]             mixer weights, 16.16 fixed point (variant 1: 256 * 5 used)
  apm      uint16[APM_LEN]            APM, 16-bit probabilities, 33 interpolation points per context
                                      (variant 1: uint16[0], no APM)
  mtab     int32[2**mbits]            hash of the last `match_min` bytes -> position after them
  regs     int64[REGS_LEN]            byte history and match state between blocks (REG_*)

Exactness premises: all arithmetic is int64 on bounded values (bounds noted where products are
formed); table indices are masked to their table sizes (noted at each index); every read of buf is
at a position before the byte being coded (the block is decoded in order, so it is known).
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit, prefetch
from deepcompress.coding import binary
from deepcompress.models._cm3_kernels import (
    _apm_update,
    _counter_update,
    _match_key,
    _match_step,
    _squash,
)
from deepcompress.models._cm_kernels import _RATE, APM_POINTS, CM_BIAS, STRETCH, _hmix, _match_level

N_HASHED = (2, 1)  # by variant: orders 2 and 4, or order 3
# Mixer inputs by variant: order 1, the hashed orders, match counter, bias, match length.
N_INPUTS = tuple(1 + n_hashed + 3 for n_hashed in N_HASHED)
N_IN = max(N_INPUTS)  # `mix` holds MIX_SETS weight sets of this many (variant 1: sets of 5, packed)
MATCH_LEVELS = 32
DIRECT_LEN = 65536
MIX_SETS = 256  # by the partial byte
MIX_LEN = MIX_SETS * N_IN
APM_CTX = 65536  # partial byte and previous byte
APM_LEN = APM_CTX * APM_POINTS

# cfg: the hyper-parameters the kernel reads, by index (the keys of the engine-4 presets of `adaptive`).
CFG_KEYS = ("hash_bits", "match_bits", "limit_low", "limit_high", "mix_lr", "apm_rate", "match_min", "variant")
CFG_HBITS, CFG_MBITS, CFG_LIMIT_LO, CFG_LIMIT_HI, CFG_MIX_LR, CFG_APM_RATE, CFG_MINLEN, CFG_VARIANT = \
    range(len(CFG_KEYS))

# Hashed counters are 16 bits: (12-bit p << 4 | count) ^ C16_BIAS, so a zero word is p = 1/2, count 0.
C16_BIAS = 1 << 15

REG_C4, REG_C8, REG_MPTR, REG_MLEN = range(4)
REGS_LEN = 4


def new_state(config: dict[str, int]) -> dict[str, np.ndarray]:
    """A fresh session's arrays but buf, by name, in `code_block`'s order (zeros: fresh counters,
    empty buckets; their pages cost memory only once touched)."""
    variant = config["variant"]
    state = {
        "t_direct": np.zeros(DIRECT_LEN, dtype=np.uint32),
        "t_hash": np.zeros(N_HASHED[variant] << config["hash_bits"], dtype=np.uint16),
        "t_match": np.zeros(2 * MATCH_LEVELS, dtype=np.uint32),
        "mix": np.empty(MIX_LEN, dtype=np.int32),
        "apm": np.empty(APM_LEN if variant == 0 else 0, dtype=np.uint16),  # in [0, 2**16): _cm3_kernels._apm_update
        "mtab": np.zeros(1 << config["match_bits"], dtype=np.int32),
        "regs": np.zeros(REGS_LEN, dtype=np.int64),
    }
    _init_state(state["mix"], state["apm"])
    return state


@njit
def _init_state(mix, apm):
    mix[:] = 22000  # ~0.34 per input: six inputs (five in variant 1) start near a sum of 2 (1.7)
    for c in range(apm.shape[0] // APM_POINTS):  # APM_CTX contexts, none in variant 1
        for j in range(APM_POINTS):
            apm[c * APM_POINTS + j] = _squash((j - 16) * 128) * 16


@njit
def _counter16_update(table, i, y, limit):
    v = np.int64(table[i]) ^ C16_BIAS
    n = v & 15
    p = v >> 4
    p += (((y << 12) - p) * _RATE[n]) >> 16  # |2**12 * rate| < 2**29; p stays in [0, 4096)
    if n < limit:
        n += 1
    table[i] = ((p << 4) | n) ^ C16_BIAS


@njit
def _hash_orders(c4, h, variant):
    """h: int64[N_HASHED[variant]], set to h[k] = the hash of hashed context k (orders 2 and 4, or 3)
    after the bytes c4 (the last 4)."""
    if variant == 0:
        h[0] = _hmix(2, c4 & 0xFFFF)
        h[1] = _hmix(4, c4)
    else:
        h[0] = _hmix(3, c4 & 0xFFFFFF)


@njit
def _bucket_at(table, hk, hbits):
    # index < 2**(hbits - 4) buckets of 16 words: inside table `table` of 2**hbits words
    return table + (((hk >> 20) & ((np.int64(1) << (hbits - 4)) - 1)) << 4)


@njit
def _prefetch_buckets(t_hash, h, x, hbits):
    """Request the cache lines of the buckets of every h[k] (h: int64[n_hashed]) extended by x
    (`_bucket` follows)."""
    for k in range(h.shape[0]):
        prefetch(t_hash, _bucket_at(np.int64(k) << hbits, _hmix(h[k], x), hbits))


@njit
def _bucket(t_hash, table, hk, hbits):
    """Offset of the 16-word bucket of hash hk in table `table`: found by its check word, else
    taken over (zeroed) from the less used of the two candidates of its cache line."""
    g = _bucket_at(table, hk, hbits)
    chk = (hk >> 48) & 0xFFFF
    if chk == 0:
        chk = 1  # check 0 marks a bucket never used
    if np.int64(t_hash[g]) == chk:
        return g
    g2 = g ^ 16  # the other half of the same 64-byte line
    if np.int64(t_hash[g2]) == chk:
        return g2
    # priority: how many bits the bucket's first counter has seen (its count)
    if ((np.int64(t_hash[g2 + 1]) ^ C16_BIAS) & 15) < ((np.int64(t_hash[g + 1]) ^ C16_BIAS) & 15):
        g = g2
    t_hash[g:g + 16] = 0
    t_hash[g] = chk
    return g


@njit
def code_block(decode, buf, start, n, data, out, t_direct, t_hash, t_match, mix, apm, mtab, regs,
               cfg, counts, probs):
    """Encode buf[start:start + n] into out (decode=False), or decode data into it (decode=True).

    out: uint8[capacity], grown as needed (returned); counts: int64[2, 4096] += how often each
    (bit, p1) was coded (encoding only); probs: int16[8n] receives every p1 in coding order, or
    int16[0] for none. Returns (out, bytes written; 0 when decoding). The tables are `new_state`'s
    for this cfg's variant (their sizes follow from it).
    """
    if cfg[CFG_VARIANT] == 0:
        return _code(decode, buf, start, n, data, out, t_direct, t_hash, t_match, mix, apm, mtab, regs,
                     cfg, counts, probs, 0)
    return _code(decode, buf, start, n, data, out, t_direct, t_hash, t_match, mix, apm, mtab, regs,
                 cfg, counts, probs, 1)


@njit(inline=True)
def _code(decode, buf, start, n, data, out, t_direct, t_hash, t_match, mix, apm, mtab, regs,
          cfg, counts, probs, variant):
    """`code_block` for one variant, a constant where `code_block` inlines it."""
    keep = probs.shape[0] > 0
    n_hashed = N_HASHED[variant]
    n_in = N_INPUTS[variant]
    hbits = cfg[CFG_HBITS]
    mbits = cfg[CFG_MBITS]
    lim_lo = cfg[CFG_LIMIT_LO]
    lim_hi = cfg[CFG_LIMIT_HI]
    lr = cfg[CFG_MIX_LR]
    arate = cfg[CFG_APM_RATE]
    minlen = cfg[CFG_MINLEN]
    minmask = (np.int64(1) << (8 * (minlen - 4))) - 1
    mmask = (np.int64(1) << mbits) - 1
    c4 = regs[REG_C4]
    c8 = regs[REG_C8]
    mptr = regs[REG_MPTR]
    mlen = regs[REG_MLEN]
    h = np.empty(n_hashed, dtype=np.int64)
    hnext = np.empty(n_hashed, dtype=np.int64)  # a candidate next byte's
    base = np.empty(n_hashed, dtype=np.int64)
    slot = np.empty(n_hashed, dtype=np.int64)
    inp = np.empty(n_in, dtype=np.int64)
    inp[n_in - 2] = 256
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
        c1 = c4 & 255
        _hash_orders(c4, h, variant)
        for k in range(n_hashed):
            base[k] = _bucket(t_hash, np.int64(k) << hbits, _hmix(h[k], 0), hbits)
        c0 = np.int64(1)
        nib = np.int64(1)
        for b in range(8):
            # Memory latency, not arithmetic, bounds this loop: one bit before a bucket is needed,
            # request both candidates (the second nibble's, then the next byte's orders).
            if b == 3:
                _prefetch_buckets(t_hash, h, 2 * c0, hbits)
                _prefetch_buckets(t_hash, h, 2 * c0 + 1, hbits)
            elif b == 7:  # and the match table's entry `_match_step` reads after this byte
                c8_next = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
                for c in (2 * c0, 2 * c0 + 1):
                    c4_next = ((c4 << 8) | (c & 255)) & 0xFFFFFFFF
                    _hash_orders(c4_next, hnext, variant)
                    _prefetch_buckets(t_hash, hnext, 0, hbits)
                    prefetch(mtab, _match_key(c4_next, c8_next, minmask, mmask))
            # ---- predict ----
            i1 = (c1 << 8) + c0  # < 65536: inside t_direct
            inp[0] = STRETCH[(np.int64(t_direct[i1]) ^ CM_BIAS) >> 20]
            for k in range(n_hashed):
                sl = base[k] + nib
                slot[k] = sl
                inp[1 + k] = STRETCH[(np.int64(t_hash[sl]) ^ C16_BIAS) >> 4]
            expbit = -1
            midx = -1
            if mlen > 0:
                e = (np.int64(buf[mptr]) | 256) >> (7 - b)
                if (e >> 1) == c0:
                    expbit = e & 1
                    midx = _match_level(mlen) * 2 + expbit
            if midx >= 0:
                inp[n_in - 3] = STRETCH[(np.int64(t_match[midx]) ^ CM_BIAS) >> 20]
                ln = min(mlen, 32) * 64
                inp[n_in - 1] = ln if expbit == 1 else -ln
            else:
                inp[n_in - 3] = 0
                inp[n_in - 1] = 0
            off = c0 * n_in  # c0 < 256, n_in <= N_IN: inside mix
            # |input| <= 2047 and |weight| < 2**31: products < 2**42, n_in of them: no overflow.
            s = np.int64(0)
            for i in range(n_in):
                s += inp[i] * mix[off + i]
            s = max(-2047, min(2047, s >> 16))
            pm = _squash(s)  # in [1, 4095]
            p = pm
            a = aw = np.int64(0)
            if variant == 0:
                x = STRETCH[pm] + 2048
                aw = x & 127
                a = ((c1 << 8) + c0) * APM_POINTS + (x >> 7)  # < 65536 * 33: inside apm
                # APM entries < 2**16 times weights <= 128: products < 2**23.
                pa = (apm[a] * (128 - aw) + apm[a + 1] * aw) >> 11
                p = max(1, min(4095, (pm + 3 * pa + 2) >> 2))
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
            _counter_update(t_direct, i1, y, lim_lo, CM_BIAS)
            for k in range(n_hashed):
                _counter16_update(t_hash, slot[k], y, lim_hi)
            if midx >= 0:
                _counter_update(t_match, midx, y, 1023, CM_BIAS)
                if expbit != y:
                    mlen = 0
            # |err| < 2**18 (lr <= 64), |input| <= 2047: products < 2**29.
            err = ((y << 12) - pm) * lr
            for i in range(n_in):
                mix[off + i] += (inp[i] * err) >> 14
            if variant == 0:
                _apm_update(apm, a, aw, y, arate)
            c0 = c0 * 2 + y
            nib = nib * 2 + y
            if nib >= 16 and c0 < 256:  # second nibble: buckets keyed by the first one
                nib = 1
                for k in range(n_hashed):
                    base[k] = _bucket(t_hash, np.int64(k) << hbits, _hmix(h[k], c0), hbits)
        # ---- byte end ----
        c = c0 & 255
        if decode:
            buf[pos] = c
        c8 = ((c8 << 8) | (c4 >> 24)) & 0xFFFFFFFF
        c4 = ((c4 << 8) | c) & 0xFFFFFFFF
        mlen, mptr = _match_step(buf, mtab, pos, c4, c8, mlen, mptr, minlen, minmask, mmask)
    regs[REG_C4] = c4
    regs[REG_C8] = c8
    regs[REG_MPTR] = mptr
    regs[REG_MLEN] = mlen
    if decode:
        return out, 0
    out = binary.reserve(out, st, 1)
    return out, binary.finish_bytes(st, out, n > 0)
