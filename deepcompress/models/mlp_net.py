"""`MLPNet`: the float network `mlp.MLPModel` is quantised from (training only; imports torch)."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from deepcompress.models.followers import feature_alphabet
from deepcompress.models.lanes import choose_lanes
from deepcompress.models.mlp import MLPConfig


class MLPNet(nn.Module):
    """Float network: inputs int64[N, k + m] (see `MLPConfig.inputs`) -> logits float32[N, K].

    dropout: training-time dropout on the embeddings and hidden activations (not coded).
    """

    def __init__(self, config: MLPConfig, dropout: float = 0.0) -> None:
        super().__init__()
        self.config = config
        self.context_size = config.context_size
        self.alphabet_size = config.alphabet_size
        self.dropout = nn.Dropout(dropout)
        self.embed = nn.Embedding(config.alphabet_size + 1, config.embed_dim)
        self.embed_feature = nn.Embedding(feature_alphabet(config.alphabet_size), config.embed_dim)
        widths = [len(config.column_sizes) * config.embed_dim, *config.hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.output = nn.Linear(widths[-1], config.alphabet_size)

    def inputs(self, symbols: np.ndarray) -> np.ndarray:
        """Training inputs: as the stream would be coded, in `choose_lanes(n)` lanes."""
        return self.config.inputs(symbols, choose_lanes(len(symbols)))

    def embed_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """inputs int64[N, k + m] -> float[N, (k + m) * d]."""
        k = self.context_size
        window = self.embed(inputs[:, :k])                               # (N, k, d)
        features = self.embed_feature(inputs[:, k:])                     # (N, m, d)
        return torch.cat([window, features], dim=1).flatten(1)

    def activations(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """The ReLU output of every hidden layer: float[N, h] each (dropout between layers)."""
        x, outputs = self.embed_inputs(inputs), []                      # (N, (k + m) * d)
        for layer in self.hidden:
            x = torch.relu(layer(self.dropout(x)))                       # (N, h)
            outputs.append(x)
        return outputs

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.output(self.dropout(self.activations(inputs)[-1]))   # (N, K)

    def first_table(self) -> torch.Tensor:
        """float64[sum(column_sizes), H1]: the embeddings fused with the first layer, per input column."""
        first, k = self.hidden[0], self.context_size
        w1 = first.weight.double().reshape(len(first.bias), len(self.config.column_sizes), -1)  # (H1, cols, d)
        return torch.cat([(self.embed if c < k else self.embed_feature).weight.double() @ w1[:, c].T
                          for c in range(w1.shape[1])])

    def first_bias(self) -> torch.Tensor:
        return self.hidden[0].bias.double()

    def later_linears(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(linear.weight.double(), linear.bias.double()) for linear in [*self.hidden[1:], self.output]]

    def log_prob(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Natural-log likelihood of each target: inputs int64[N, k + m], targets int64[N] -> float[N]."""
        log_probs = torch.log_softmax(self(inputs), dim=-1)
        return log_probs.gather(1, targets[:, None]).squeeze(1)
