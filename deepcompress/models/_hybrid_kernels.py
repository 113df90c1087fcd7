"""Engine 2's hybrid kernel: `_cm_kernels` plus the exact network stage of `_network_kernels`
(its docstring states the stage and its exactness premises). The engine learns as it does alone;
per bit, its probability and the network's meet in the final mixer, whose output is coded.
"""

from __future__ import annotations

import numpy as np

from deepcompress._jit import njit
from deepcompress.coding import binary
from deepcompress.models import _cm_kernels as E
from deepcompress.models import _network_kernels as N

MIXER_LEN = N.MIXER_LEN


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
        N.network_row(buf, pos, start, offsets, table, first_bias, first_shift, weight, bias, multiplier, shift,
                      exp_table, pre, cum)
        c = np.int64(0) if decode else np.int64(buf[pos])
        c0 = np.int64(1)
        for b in range(8):
            p_engine = E._predict(0, b, buf, cm, mw, apm, ls, cfg)
            p_net = N.network_p1(cum, c0, b)
            s_engine = E.STRETCH[p_engine]
            s_net = E.STRETCH[p_net]
            sel = N.selector(p_net, b)
            p = N.mix(mixer, sel, s_engine, s_net)
            if decode:
                y = binary.decode_bit(st, data, p)
            else:
                y = (c >> (7 - b)) & 1
                probs[k] = p
            k += 1
            N.learn(mixer, sel, s_engine, s_net, p, y, lr)
            E._update(0, y, buf, cm, mw, apm, ls, cfg)  # writes the byte to buf after bit 7
            c0 = 2 * c0 + y
        E._byte_end(0, buf, mtab, ls, rec, cfg, blk, t + 1)
