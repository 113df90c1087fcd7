"""Autoregressive MLP over the previous k symbols: the float network that training fits.

    p(x_i | x_{i-k}, ..., x_{i-1}) = softmax(W_L relu(... relu(W_1 [e(x_{i-k}); ...; e(x_{i-1})] + b_1) ...) + b_L)

Positions before the start of a stream hold the pad index `alphabet_size`, so the first
symbol is predicted from an all-pad window. With `context_size=1` this is the lecture's
toy model: p(x_1) is a learned histogram (the pad row) and p(x_i | x_{i-1}) an MLP.

Coding never runs this float network: `deepcompress.models.exact` quantises it into an
integer network whose frequency tables are bit-identical on every machine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from deepcompress.models.base import Model
from deepcompress.models.context import context_windows
from deepcompress.models.exact import ExactMLP, network_arrays, network_from_arrays, quantize
from deepcompress.models.lanes import WindowSession

NLL_BATCH = 8192


@dataclass(frozen=True)
class MLPConfig:
    """Shape of the network. `hidden` lists the widths of the ReLU layers (at least one)."""

    alphabet_size: int = 256
    context_size: int = 16
    embed_dim: int = 32
    hidden: tuple[int, ...] = (512,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        if self.alphabet_size < 2 or self.context_size < 1 or self.embed_dim < 1:
            raise ValueError(f"invalid MLP config {self}")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"MLP needs at least one hidden layer, got hidden={self.hidden}")

    @property
    def pad(self) -> int:
        """The start-of-sequence symbol: one past the alphabet."""
        return self.alphabet_size

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MLPConfig:
        return cls(**{**data, "hidden": tuple(data["hidden"])})


class MLPNet(nn.Module):
    """Float network: contexts int64[N, k] in [0, K] (K = pad) -> logits float32[N, K].

    dropout: training-time dropout on the embeddings and hidden activations (not coded).
    """

    def __init__(self, config: MLPConfig, dropout: float = 0.0) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.config = config
        self.context_size = config.context_size
        self.alphabet_size = config.alphabet_size
        self.embed = nn.Embedding(config.alphabet_size + 1, config.embed_dim)
        widths = [config.context_size * config.embed_dim, *config.hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.output = nn.Linear(widths[-1], config.alphabet_size)

    def forward(self, contexts: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.embed(contexts).flatten(1))     # (N, k * d)
        for layer in self.hidden:
            x = self.dropout(torch.relu(layer(x)))            # (N, h)
        return self.output(x)                                 # (N, K)

    def log_prob(self, contexts: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Natural-log likelihood of each target: contexts int64[N, k], targets int64[N] -> float[N]."""
        log_probs = torch.log_softmax(self(contexts), dim=-1)
        return log_probs.gather(1, targets[:, None]).squeeze(1)


class MLPModel(Model):
    """The coding model: an `ExactMLP` (integer parameters) behind the `Model` contract."""

    name: ClassVar[str] = "mlp"

    def __init__(self, config: MLPConfig, network: ExactMLP) -> None:
        if network.context_size != config.context_size or network.alphabet_size != config.alphabet_size:
            raise ValueError("integer network does not match the config")
        self.mlp_config = config
        self.network = network
        self.alphabet_size = config.alphabet_size

    @classmethod
    def from_net(cls, net: MLPNet, calibration_contexts: np.ndarray) -> MLPModel:
        """Quantise a trained float network; calibration_contexts: int64[N, k] typical windows."""
        return cls(net.config, quantize(net, calibration_contexts))

    @property
    def context_size(self) -> int:
        return self.mlp_config.context_size

    def config(self) -> dict[str, Any]:
        return self.mlp_config.to_json()

    def parameter_arrays(self) -> dict[str, np.ndarray]:
        """The exact coding parameters, by name (what a model file stores)."""
        return network_arrays(self.network)

    @classmethod
    def from_parameters(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> MLPModel:
        mlp_config = MLPConfig.from_json(config)
        return cls(mlp_config, network_from_arrays(mlp_config.context_size, arrays))

    def parameter_bytes(self) -> bytes:
        return b"".join(name.encode() + array.tobytes()
                        for name, array in sorted(self.parameter_arrays().items()))

    def frequencies(self, contexts: np.ndarray) -> np.ndarray:
        """contexts: int64[N, k] in [0, K] (K = pad) -> freqs: int64[N, K], all >= 1."""
        return self.network.frequencies(contexts)

    def session(self) -> WindowSession:
        return WindowSession(self.network.frequencies, self.context_size, self.mlp_config.pad)

    def nll_bits(self, symbols: np.ndarray) -> float:
        """Σ -log2 p(x_i | window) of a stream under the integer tables (no lanes)."""
        symbols = np.asarray(symbols, dtype=np.int64)
        contexts = context_windows(symbols, self.context_size, self.mlp_config.pad)
        total = 0.0
        for start in range(0, len(symbols), NLL_BATCH):
            freqs = self.frequencies(contexts[start:start + NLL_BATCH])
            chosen = np.take_along_axis(freqs, symbols[start:start + NLL_BATCH, None], axis=1)[:, 0]
            total += float(np.sum(np.log2(freqs.sum(axis=1)) - np.log2(chosen)))
        return total

    def sample(self, n_symbols: int, seed: int) -> np.ndarray:
        """Ancestral sampling from the integer tables, inverse CDF per step: int64[n_symbols]."""
        rng = np.random.default_rng(seed)
        window = np.full((1, self.context_size), self.mlp_config.pad, dtype=np.int64)
        symbols = np.empty(n_symbols, dtype=np.int64)
        for i in range(n_symbols):
            cumulative = np.cumsum(self.frequencies(window)[0])
            symbols[i] = np.searchsorted(cumulative, rng.integers(cumulative[-1]), side="right")
            window = np.roll(window, -1, axis=1)
            window[0, -1] = symbols[i]
        return symbols
