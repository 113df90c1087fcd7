"""The shared base of the coding models that run a quantised network (`mlp`, `record-mlp`).

A `NetworkModel` is an `exact.ExactMLP` (integer parameters, bit-exact tables) plus the
config of the float network it was quantised from. The config class says how inputs are
built; this base does what both models share: validation, config and model-file
round trips, quantisation of a trained float network, the table function.

Exactness: an `ExactMLP` proves its float partial sums stay integers below 2**24 / 2**53
when it is built (`exact.check_exactness_bounds`), whether from training or from a file,
so `frequencies` gives the same integers on every machine and batch shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from deepcompress.models.base import Model
from deepcompress.models.exact import (
    ExactMLP,
    QuantisableNet,
    network_arrays,
    network_from_arrays,
    quantize,
)

if TYPE_CHECKING:
    from typing import Self  # Python 3.11+; annotations only


class NetworkConfig(Protocol):
    """What a network model's config provides (`mlp.MLPConfig`, `records.RecordConfig`)."""

    alphabet_size: int

    @property
    def column_sizes(self) -> tuple[int, ...]:
        """Number of values of each input column of the network."""

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NetworkConfig: ...


class NetworkModel(Model):
    """A quantised network behind the `Model` contract.

    net_config: the network's shape (a `config_type`); network: its integer form, whose
    input columns and alphabet must match the config.
    """

    config_type: ClassVar[type[NetworkConfig]]

    def __init__(self, net_config: NetworkConfig, network: ExactMLP) -> None:
        if network.column_sizes != net_config.column_sizes or network.alphabet_size != net_config.alphabet_size:
            raise ValueError(f"integer network does not match the {self.name} config")
        self.net_config = net_config
        self.network = network
        self.alphabet_size = net_config.alphabet_size

    @classmethod
    def from_net(cls, net: QuantisableNet, calibration_inputs: np.ndarray) -> Self:
        """Quantise a trained float network (moved to the CPU, in eval mode).

        calibration_inputs: int64[N, columns] typical rows (they set the activation ranges).
        """
        return cls(net.config, quantize(net.eval().cpu(), calibration_inputs))

    def config(self) -> dict[str, Any]:
        return self.net_config.to_json()

    def parameter_arrays(self) -> dict[str, np.ndarray]:
        """The exact coding parameters, by name (what a model file stores)."""
        return network_arrays(self.network)

    @classmethod
    def from_parameters(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        net_config = cls.config_type.from_json(config)
        return cls(net_config, network_from_arrays(net_config.column_sizes, arrays))

    def frequencies(self, inputs: np.ndarray) -> np.ndarray:
        """inputs: int64[N, columns] -> freqs: int64[N, K], all >= 1 (exact: any batch, any machine)."""
        return self.network.frequencies(inputs)
