"""Integer kernels of the `hybrid` model: engine 2 (`_cm_kernels`) plus an exact network input.

Per byte, the integer network (`exact.ExactMLP` with one hidden layer) turns the window of the
stream's previous k bytes into a frequency row f[0..255] (the definition is
`ExactMLP.reference_frequencies`; this is the same int64 arithmetic, value by value); per bit,
the row's mass below the partial byte gives the network's 12-bit probability of a 1:

    p_net = clip(round(4096 * S1 / (S0 + S1)), 1, 4095),  S0, S1: mass of the two halves

A final mixer combines stretch(p_engine) and stretch(p_net) (plus a bias input) with 16.16
weights chosen by bit position and the network's confidence, learning as the engine's mixers
do; its output is what the binary coder codes. The engine learns as it does alone (its state
never sees p_net), so a hybrid is the engine with one more mixing layer on top.

Exactness premises: everything is int64 on bounded values. Network: |first pre-activation| <
2**24 and every later product < 2**53 (`exact.check_exactness_bounds`, checked when the network
is built); a frequency row sums below 2**31, so 4096 * S1 < 2**43. Mixer: |stretch| <= 2047 and
|weight| < 2**31 (products < 2**42, three of them); errors < 2**12 * lr, lr <= 64.
Order: per bit the engine predicts, the network probability is read, the mixer predicts, the
bit is coded, then the mixer and the engine learn; per byte the network row is computed from
bytes already coded. The encoder and the decoder run this same order.
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit
from deepcompress.coding import binary
from deepcompress.models import _cm_kernels as E
from deepcompress.models.exp_table import EXP_CAP

N_CONFIDENCE = 4  # buckets of max(p_net, 1 - p_net)
N_INPUTS = 3  # stretch(p_engine), stretch(p_net), bias
MIXER_SETS = 8 * N_CONFIDENCE
MIXER_LEN = MIXER_SETS * N_INPUTS


@njit
def network_row(buf, pos, start, offsets, table, first_bias, first_shift, weight, bias, multiplier, shift,
                exp_table, pre, cum):
    """cum[0..K] = prefix sums of the network's frequencies for stream position pos.

    Window: buf[pos - k .. pos - 1], positions before `start` (the stream's first byte) read as
    the pad symbol K. table: int16[rows, H]; weight: int64[K, H]; pre: int64[H] scratch.
    """
    k = offsets.shape[0]
    hidden = table.shape[1]
    pad = weight.shape[0]
    for h in range(hidden):
        pre[h] = first_bias[h]
    for c in range(k):
        q = pos - k + c
        v = np.int64(buf[q]) if q >= start else pad
        row = offsets[c] + v
        for h in range(hidden):
            pre[h] += table[row, h]
    half = (np.int64(1) << first_shift) >> 1
    for h in range(hidden):
        pre[h] = min(255, max(0, (pre[h] + half) >> first_shift))
    half = (np.int64(1) << shift) >> 1
    top = np.int64(-(1 << 62))
    for o in range(pad):
        acc = np.int64(0)
        for h in range(hidden):
            acc += pre[h] * weight[o, h]
        y = ((acc + bias[o]) * multiplier[o] + half) >> shift
        cum[o + 1] = y  # the logit, for now
        top = max(top, y)
    cum[0] = 0
    for o in range(pad):
        cum[o + 1] = cum[o] + exp_table[min(top - cum[o + 1], EXP_CAP)]


@njit
def _network_p1(cum, c0, b):
    """12-bit probability that bit b (MSB first) is 1 given the partial byte c0 (leading 1)."""
    width = np.int64(1) << (8 - b)
    low = (c0 - (np.int64(1) << b)) * width
    mid = low + (width >> 1)
    ones = cum[low + width] - cum[mid]
    total = cum[low + width] - cum[low]
    return max(1, min(4095, (4096 * ones + (total >> 1)) // total))


@njit
def _mix(mixer, sel, s_engine, s_net):
    dot = (s_engine * mixer[sel] + s_net * mixer[sel + 1] + 256 * mixer[sel + 2]) >> 16
    return E._squash(max(-2047, min(2047, dot)))


@njit
def _selector(p_net, b):
    confidence = max(p_net, 4096 - p_net)  # 2048..4095
    return (b * N_CONFIDENCE + min(N_CONFIDENCE - 1, (confidence - 2048) >> 9)) * N_INPUTS


@njit
def _learn(mixer, sel, s_engine, s_net, p, y, lr):
    err = ((y << 12) - p) * lr
    mixer[sel] += (s_engine * err) >> 14
    mixer[sel + 1] += (s_net * err) >> 14
    mixer[sel + 2] += (256 * err) >> 14


@njit
def code_block(decode, data, buf, cm, mw, apm, mtab, ls, rec, cfg, blk, start, offsets, table, first_bias,
               first_shift, weight, bias, multiplier, shift, exp_table, mixer, lr, probs):
    """Encode (decode False: the block is in buf; probs int16[8n] receives what is coded) or
    decode (data: the coded bytes; the block is written to buf) one lane of n bytes."""
    n = blk[E.BLK_N]
    first = blk[E.BLK_START]
    pre = np.empty(table.shape[1], dtype=np.int64)
    cum = np.empty(weight.shape[0] + 1, dtype=np.int64)
    st = binary.decoder_state(data)  # unused when encoding (data is then empty)
    k = 0
    for t in range(n):
        pos = first + t
        network_row(buf, pos, start, offsets, table, first_bias, first_shift, weight, bias, multiplier, shift,
                    exp_table, pre, cum)
        c = np.int64(0) if decode else np.int64(buf[pos])
        c0 = np.int64(1)
        for b in range(8):
            p_engine = E._predict(0, b, buf, cm, mw, apm, ls, cfg)
            p_net = _network_p1(cum, c0, b)
            s_engine = E.STRETCH[p_engine]
            s_net = E.STRETCH[p_net]
            sel = _selector(p_net, b)
            p = _mix(mixer, sel, s_engine, s_net)
            if decode:
                y = binary.decode_bit(st, data, p)
            else:
                y = (c >> (7 - b)) & 1
                probs[k] = p
            k += 1
            _learn(mixer, sel, s_engine, s_net, p, y, lr)
            E._update(0, y, buf, cm, mw, apm, ls, cfg)  # writes the byte to buf after bit 7
            c0 = 2 * c0 + y
        E._byte_end(0, buf, mtab, ls, rec, cfg, blk, t + 1)
