"""Exact integer inference for the MLP: the same frequencies on every machine.

Post-training quantisation of a float network into an integer network:

- first layer fused with the embeddings into a lookup table: the pre-activation of hidden
  layer 1 is `first_bias + sum_c first_table[offset_c + inputs[c]]` over the input columns
  c (offset_c = sizes of the columns before c), in units of 2**-first_shift activation
  steps (int16 table);
- every ReLU activation is a uint8 (0..255); later layers have int8 weights with one scale
  per output unit; an accumulator is requantised by integer multiply + shift:
  `out = floor(((acc + bias) * multiplier + 2**(shift - 1)) / 2**shift)`;
- the output layer yields fixed-point logits in units of 1/LOGIT_ONE nat, and the softmax
  is `freq = EXP_TABLE[min(max(logits) - logit, EXP_CAP)]`, a constant literal table
  (right-shifted by `exp_shift(K)` bits, floored at 1, for alphabets of 512 or more symbols,
  so that a row of K frequencies always sums below 2**31).

The network is any stack of this shape: `quantize` builds it from any float network that
is a `QuantisableNet` (the byte MLP `mlp.MLPNet` and the record network `records.RecordNet`
are), `quantize_stack` from a float first-layer table plus linear layers. This module knows
no network's internals: each network exposes its first layer as a table.

`frequencies` runs this in float torch ops on integer-valued operands: the first layer and
the uint8 x int8 matmuls in float32, requantisation in float64. It is exact (hence
independent of batch shape, threads, ISA and BLAS vendor) because every partial sum is an
integer below 2**24 (float32) or 2**53 (float64): `check_exactness_bounds` proves this
whenever an `ExactMLP` is built, from training or from a file.
`reference_frequencies` is the same computation in int64 numpy: the definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # torch is imported where it runs: a model file loads, and is checked, without it
    import torch

from deepcompress.models.exp_table import EXP_BITS, EXP_CAP, EXP_TABLE, LOGIT_ONE

ACTIVATION_MAX = 255          # uint8 activations
WEIGHT_MAX = 127              # symmetric int8 weights
TABLE_MAX = 2**15 - 1         # int16 fused first-layer table
MULTIPLIER_BITS = 16          # requantisation multipliers are < 2**16
FLOAT32_EXACT = 2**24
FLOAT64_EXACT = 2**53
CALIBRATION_QUANTILE = 0.9999  # activation range: this quantile of the float activations
ROW_SUM_LIMIT = 2**31          # a frequency row sums below this (the `models.base` contract)
MAX_NETWORK_ALPHABET = 1 << 16  # larger alphabets: histograms

_EXP_TABLE = np.array(EXP_TABLE, dtype=np.int64)


def exp_shift(alphabet_size: int) -> int:
    """Right shift of EXP_TABLE for K symbols: the least s >= 0 with K * (2**EXP_BITS >> s) < 2**31
    (0 for K < 512, so byte models use the table as it is)."""
    shift = 0
    while alphabet_size * (2**EXP_BITS >> shift) >= ROW_SUM_LIMIT:
        shift += 1
    return shift


def exp_table(alphabet_size: int) -> np.ndarray:
    """int64[EXP_CAP + 1]: the softmax table for K symbols, max(1, EXP_TABLE >> exp_shift(K))."""
    return np.maximum(_EXP_TABLE >> exp_shift(alphabet_size), 1)


@dataclass(frozen=True)
class IntegerLayer:
    """One requantised layer: acc = x @ weight.T; out = floor(((acc + bias) * multiplier + round) >> shift).

    weight: int8[out, in]; bias, multiplier: int64[out]. Hidden layers clip out to 0..255.
    """

    weight: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: int


@dataclass(frozen=True)
class ExactMLP:
    """The integer network. column_sizes: values of each input column; first_table:
    int16[sum(column_sizes), H1]; first_bias: int64[H1]; layers: the remaining hidden
    layers, then the output layer (K units, fixed-point logits)."""

    column_sizes: tuple[int, ...]
    first_table: np.ndarray
    first_bias: np.ndarray
    first_shift: int
    layers: tuple[IntegerLayer, ...]

    def __post_init__(self) -> None:
        check_exactness_bounds(self)
        offsets = np.concatenate([[0], np.cumsum(self.column_sizes)[:-1]]).astype(np.int64)
        object.__setattr__(self, "_offsets", offsets)
        object.__setattr__(self, "_exp_table", exp_table(self.alphabet_size))
        object.__setattr__(self, "_tensors", None)

    def _float_tensors(self) -> tuple[Any, Any, float, list[tuple[Any, Any, Any]]]:
        """The float tensors `frequencies` runs (built at first use, so that a network that only
        feeds a compiled kernel, as a hybrid's does, never imports torch): the first table,
        offset and scale, then (weight.T, scale, offset) of every later layer."""
        if self._tensors is None:
            import torch

            # The rounding offsets and power-of-two shifts folded in: floor(((acc + b) * m +
            # 2**(s-1)) / 2**s) = floor(acc * m' + o'), m' = m / 2**s, o' = (b * m + 2**(s-1)) / 2**s,
            # exact since acc * m + ... < 2**53.
            object.__setattr__(self, "_tensors", (
                torch.from_numpy(self.first_table.astype(np.float32)),
                torch.from_numpy((self.first_bias + _half(self.first_shift)).astype(np.float32)),
                2.0 ** -self.first_shift,
                [(torch.from_numpy(layer.weight.T.astype(np.float32)),
                  torch.from_numpy(layer.multiplier * 2.0 ** -layer.shift),
                  torch.from_numpy((layer.bias * layer.multiplier + _half(layer.shift)) * 2.0 ** -layer.shift))
                 for layer in self.layers]))
        return self._tensors

    @property
    def alphabet_size(self) -> int:
        return len(self.layers[-1].bias)

    def frequencies(self, inputs: np.ndarray) -> np.ndarray:
        """inputs: int64[N, columns], column c in [0, column_sizes[c]) -> freqs: int64[N, K], all >= 1."""
        import torch
        import torch.nn.functional as F

        if torch.get_float32_matmul_precision() != "highest":
            raise RuntimeError("exact inference needs torch.set_float32_matmul_precision('highest')")
        table, first_offset, first_scale, layers = self._float_tensors()
        rows = torch.from_numpy(np.asarray(inputs, dtype=np.int64) + self._offsets)
        pre = F.embedding_bag(rows, table, mode="sum")                            # (N, H1) float32
        x = pre.add_(first_offset).mul_(first_scale).floor_().clamp_(0, ACTIVATION_MAX)
        for index, (weight_t, scale, offset) in enumerate(layers):
            acc = (x @ weight_t).double()                                          # (N, out)
            y = torch.addcmul(offset, acc, scale).floor_()
            x = y.clamp_(0, ACTIVATION_MAX).float() if index < len(layers) - 1 else y
        gap = torch.sub(y.amax(dim=1, keepdim=True), y, out=y).clamp_(max=EXP_CAP)    # (N, K)
        return self._exp_table.take(gap.to(torch.int32).numpy())

    def reference_frequencies(self, inputs: np.ndarray) -> np.ndarray:
        """The definition of `frequencies` in int64 numpy (slow; for tests)."""
        inputs = np.asarray(inputs, dtype=np.int64)
        pre = self.first_table[inputs + self._offsets].astype(np.int64).sum(axis=1) + self.first_bias
        x = np.clip(_int_shift_round(pre, self.first_shift), 0, ACTIVATION_MAX)
        for index, layer in enumerate(self.layers):
            acc = x @ layer.weight.T.astype(np.int64)
            y = _int_shift_round((acc + layer.bias) * layer.multiplier, layer.shift)
            x = np.clip(y, 0, ACTIVATION_MAX) if index < len(self.layers) - 1 else y
        gap = np.minimum(y.max(axis=1, keepdims=True) - y, EXP_CAP)
        return np.maximum(np.asarray(EXP_TABLE, dtype=np.int64) >> exp_shift(self.alphabet_size), 1)[gap]


def _half(shift: int) -> int:
    """The rounding offset of a right shift: 2**(shift - 1), or 0."""
    return (1 << shift) >> 1


def _int_shift_round(values: np.ndarray, shift: int) -> np.ndarray:
    return (values + _half(shift)) >> shift


def check_exactness_bounds(net: ExactMLP) -> None:
    """Raise ValueError unless every float partial sum in `frequencies` is an exact integer."""
    if not net.layers:
        raise ValueError("the integer MLP needs an output layer")
    columns, K = len(net.column_sizes), net.alphabet_size
    if not 1 <= K <= MAX_NETWORK_ALPHABET or K * int(exp_table(K)[0]) >= ROW_SUM_LIMIT:
        raise ValueError(f"alphabet of {K} symbols: frequency rows would reach 2**31")
    if net.first_table.ndim != 2 or net.first_table.shape[0] != sum(net.column_sizes):
        raise ValueError(f"first_table of shape {net.first_table.shape} does not fit columns {net.column_sizes}")
    table_bound = columns * int(np.abs(net.first_table.astype(np.int64)).max(initial=0))
    if table_bound + int(np.abs(net.first_bias).max(initial=0)) + 2**net.first_shift >= FLOAT32_EXACT:
        raise ValueError("first-layer pre-activations may exceed 2**24")
    n_in = net.first_table.shape[1]
    for layer in net.layers:
        n_out = len(layer.bias)
        if layer.weight.shape != (n_out, n_in) or layer.multiplier.shape != (n_out,):
            raise ValueError(f"layer of shape {layer.weight.shape} does not follow a {n_in}-wide one")
        acc_bound = n_in * ACTIVATION_MAX * int(np.abs(layer.weight.astype(np.int64)).max(initial=0))
        if acc_bound >= FLOAT32_EXACT:
            raise ValueError(f"a {n_in}-wide uint8 x int8 dot product may exceed 2**24")
        scaled_bound = ((acc_bound + int(np.abs(layer.bias).max())) * int(layer.multiplier.max())
                        + 2**layer.shift)   # also bounds the float64 addcmul in `frequencies`
        if scaled_bound >= FLOAT64_EXACT or layer.multiplier.min() < 0:
            raise ValueError("requantisation may exceed 2**53")
        n_in = n_out


class QuantisableNet(Protocol):
    """A float network of the `ExactMLP` shape, as `quantize` reads it.

    Its first pre-activation is a sum over input columns of per-(column, value) vectors
    plus a bias; then ReLU layers; then an output layer of logits in nats.
    """

    config: Any  # the network's shape: `column_sizes`, `alphabet_size`, `to_json` (see network.py)

    def first_table(self) -> torch.Tensor:
        """float[sum(column_sizes), H1]: each (column, value)'s share of the first pre-activation."""

    def first_bias(self) -> torch.Tensor:
        """float[H1]: the first pre-activation's bias."""

    def later_linears(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight float[out, in], bias float[out]) of the later hidden layers, then the output layer."""

    def activations(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """The ReLU output of every hidden layer for inputs int64[N, columns] (eval mode: no dropout)."""

    def eval(self) -> QuantisableNet: ...

    def cpu(self) -> QuantisableNet: ...


def quantize(net: QuantisableNet, calibration_inputs: np.ndarray) -> ExactMLP:
    """Post-training quantisation of `net`.

    calibration_inputs: int64[N, columns] typical rows; they set each layer's activation
    range (the CALIBRATION_QUANTILE of its float ReLU outputs maps to 255).
    """
    import torch

    with torch.no_grad():
        ranges = [activation_range(a) for a in net.activations(torch.from_numpy(calibration_inputs))]
        return quantize_stack(net.config.column_sizes, net.first_table(), net.first_bias(), net.later_linears(),
                              ranges)


def quantize_stack(column_sizes: tuple[int, ...], first_table: torch.Tensor, first_bias: torch.Tensor,
                   linears: list[tuple[torch.Tensor, torch.Tensor]], ranges: list[float]) -> ExactMLP:
    """Quantise a float network of the `ExactMLP` shape.

    first_table: float[sum(column_sizes), H1], the first pre-activation's contribution of
    each value of each input column; first_bias: float[H1]; linears: (weight float[out, in],
    bias float[out]) of the later hidden layers, then of the output layer (logits in nats);
    ranges: the float activation range of each hidden layer (its uint8 255).
    The first-layer scale keeps `columns * max|table| + max|bias|` below 2**23, so any
    number of input columns stays within float32's exact range.
    """
    import torch

    with torch.no_grad():
        steps = [r / ACTIVATION_MAX for r in ranges]          # activation value of one uint8 step
        fused = first_table.double() / steps[0]
        bias = first_bias.double() / steps[0]
        table_max = max(float(fused.abs().max()), 1e-9)
        total_max = len(column_sizes) * table_max + float(bias.abs().max())
        first_shift = min(22, int(np.floor(np.log2(min(TABLE_MAX / table_max, FLOAT32_EXACT / 2 / total_max)))))
        table_q = torch.round(fused * 2.0**first_shift).numpy().astype(np.int16)
        bias_q = torch.round(bias * 2.0**first_shift).numpy().astype(np.int64)
        layers = []
        for index, (weight, layer_bias) in enumerate(linears):
            out_scale = 1.0 / steps[index + 1] if index < len(linears) - 1 else float(LOGIT_ONE)
            layers.append(_quantize_linear(weight.double(), layer_bias.double(), steps[index], out_scale))
    return ExactMLP(tuple(column_sizes), table_q, bias_q, first_shift, tuple(layers))


def activation_range(activations: torch.Tensor) -> float:
    """The CALIBRATION_QUANTILE of a hidden layer's float ReLU outputs (its uint8 255)."""
    import torch

    sample = activations.flatten()[:: max(1, activations.numel() // 2_000_000)]
    return max(float(torch.quantile(sample.double(), CALIBRATION_QUANTILE)), 1e-6)


def _quantize_linear(weight: torch.Tensor, bias: torch.Tensor, in_step: float, out_scale: float
                     ) -> IntegerLayer:
    """weight float64[out, in], bias float64[out]; inputs are uint8 counts of `in_step`;
    outputs are in units of 1/out_scale."""
    import torch

    weight_step = weight.abs().amax(dim=1).clamp(min=1e-12) / WEIGHT_MAX                  # (out,)
    weight_q = torch.round(weight / weight_step[:, None]).clamp(-WEIGHT_MAX, WEIGHT_MAX)
    acc_step = in_step * weight_step                                                       # (out,)
    bias_q = torch.round(bias / acc_step)
    factor = acc_step * out_scale                                                          # (out,)
    shift = int(np.floor(np.log2((2**MULTIPLIER_BITS - 1) / float(factor.max()))))
    if shift < 1:
        raise ValueError("requantisation factor too large for a multiply + shift")
    multiplier = torch.round(factor * 2.0**shift)
    return IntegerLayer(weight_q.numpy().astype(np.int8), bias_q.numpy().astype(np.int64),
                        multiplier.numpy().astype(np.int64), shift)


def network_arrays(net: ExactMLP) -> dict[str, np.ndarray]:
    """All integer parameters by name, little-endian; shifts gathered in one int64 array."""
    arrays = {"first_table": net.first_table.astype("<i2"), "first_bias": net.first_bias.astype("<i8"),
              "shifts": np.array([net.first_shift, *(layer.shift for layer in net.layers)], "<i8")}
    for index, layer in enumerate(net.layers):
        arrays[f"layer{index}_weight"] = layer.weight.astype("i1")
        arrays[f"layer{index}_bias"] = layer.bias.astype("<i8")
        arrays[f"layer{index}_multiplier"] = layer.multiplier.astype("<i8")
    return arrays


def network_from_arrays(column_sizes: tuple[int, ...], arrays: dict[str, np.ndarray]) -> ExactMLP:
    """Inverse of `network_arrays`: KeyError on a missing array, ValueError on a bad one."""
    shifts = [int(s) for s in arrays["shifts"]]
    if not all(0 <= shift <= 62 for shift in shifts):  # a forged 2**huge would exhaust memory
        raise ValueError(f"shifts must lie in [0, 62], got {shifts}")
    layers = tuple(IntegerLayer(arrays[f"layer{i}_weight"].astype(np.int8),
                                arrays[f"layer{i}_bias"].astype(np.int64),
                                arrays[f"layer{i}_multiplier"].astype(np.int64), shifts[i + 1])
                   for i in range(len(shifts) - 1))
    return ExactMLP(column_sizes, arrays["first_table"].astype(np.int16),
                    arrays["first_bias"].astype(np.int64), shifts[0], layers)
