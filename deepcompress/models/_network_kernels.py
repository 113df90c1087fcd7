"""The exact network stage of the hybrids (numba, integers only): a byte MLP's row, per bit its
probability, and the final mixer that combines it with an engine's.

Per byte, the integer network (`exact.ExactMLP` with one hidden layer) turns the window of the
stream's previous k bytes into a frequency row f[0..255] (the definition is
`ExactMLP.reference_frequencies`; this is the same int64 arithmetic, value by value); per bit,
the row's mass below the partial byte gives the network's 12-bit probability of a 1:

    p_net = clip(round(4096 * S1 / (S0 + S1)), 1, 4095),  S0, S1: mass of the two halves

A final mixer combines stretch(p_engine) and stretch(p_net) (plus a bias input) with 16.16
weights chosen by bit position and the network's confidence, learning as the engines' mixers
do; its output is what the binary coder codes. The engine learns as it does alone (its state
never sees p_net), so a hybrid is the engine with one more mixing layer on top. Engine 2's
hybrid kernel is `_hybrid_kernels.code_block`; engine 3 runs this stage inside its own
`code_block` when given a network (`network_arguments`).

Exactness premises: everything is int64 on bounded values. Network: |first pre-activation| <
2**24 and every later product < 2**53 (`exact.check_exactness_bounds`, checked when the network
is built); a frequency row sums below 2**31, so 4096 * S1 < 2**43, and each entry is >= 1 (the
exp table's least value), so no division is by zero. Mixer: |stretch| <= 2047 and |weight| <
2**31 (products < 2**42, three of them); errors < 2**12 * lr, lr <= 64.
Order: per bit the engine predicts, the network probability is read, the mixer predicts, the
bit is coded, then the mixer and the engine learn; per byte the network row is computed from
bytes already coded. The encoder and the decoder run this same order.
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit
from deepcompress.models._cm_kernels import _squash
from deepcompress.models.exp_table import EXP_CAP

N_CONFIDENCE = 4  # buckets of max(p_net, 1 - p_net)
N_INPUTS = 3  # stretch(p_engine), stretch(p_net), bias
MIXER_SETS = 8 * N_CONFIDENCE
MIXER_LEN = MIXER_SETS * N_INPUTS
NET_START, NET_FIRST_SHIFT, NET_SHIFT, NET_LR = range(4)  # the scalars of `network_arguments`


def network_arguments(network: tuple, start: int, mixer: np.ndarray, lr: int) -> tuple:
    """What engine 3's `code_block` takes after its tables: (int64[4] scalars, offsets, table,
    first_bias, weight, bias, multiplier, exp_table, mixer).

    network: `HybridModel`'s kernel network (offsets, table, first_bias, first_shift, weight,
    bias, multiplier, shift, exp_table); start: the stream's first position (window bytes before
    it read as the pad symbol); mixer: int32[MIXER_LEN], learned in place.
    """
    offsets, table, first_bias, first_shift, weight, bias, multiplier, shift, exp_table = network
    scalars = np.array([start, first_shift, shift, lr], dtype=np.int64)
    return (scalars, offsets, table, first_bias, weight, bias, multiplier, exp_table, mixer)


def no_network() -> tuple:
    """`network_arguments` for no network: empty arrays of the same types (so that one compiled
    kernel serves both), the mixer empty."""
    empty = np.zeros(0, dtype=np.int64)
    return (np.zeros(4, dtype=np.int64), empty, np.zeros((0, 0), dtype=np.int16), empty,
            np.zeros((0, 0), dtype=np.int64), empty, empty, empty, np.zeros(0, dtype=np.int32))


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
def network_p1(cum, c0, b):
    """12-bit probability that bit b (MSB first) is 1 given the partial byte c0 (leading 1)."""
    width = np.int64(1) << (8 - b)
    low = (c0 - (np.int64(1) << b)) * width
    mid = low + (width >> 1)
    ones = cum[low + width] - cum[mid]
    total = cum[low + width] - cum[low]
    return max(1, min(4095, (4096 * ones + (total >> 1)) // total))


@njit
def mix(mixer, sel, s_engine, s_net):
    """The final mixer's 12-bit probability from the two stretched inputs and the bias."""
    dot = (s_engine * mixer[sel] + s_net * mixer[sel + 1] + 256 * mixer[sel + 2]) >> 16
    return _squash(max(-2047, min(2047, dot)))


@njit
def selector(p_net, b):
    """Offset of the weight set for bit position b and the network's confidence."""
    confidence = max(p_net, 4096 - p_net)  # 2048..4095
    return (b * N_CONFIDENCE + min(N_CONFIDENCE - 1, (confidence - 2048) >> 9)) * N_INPUTS


@njit
def learn(mixer, sel, s_engine, s_net, p, y, lr):
    err = ((y << 12) - p) * lr
    mixer[sel] += (s_engine * err) >> 14
    mixer[sel + 1] += (s_net * err) >> 14
    mixer[sel + 2] += (256 * err) >> 14
