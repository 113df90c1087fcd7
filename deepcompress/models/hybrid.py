"""`hybrid`: a trained prior of the context-mixing engine plus a pretrained network, mixed exactly.

The prior (`models.prior`) knows the training data's statistics and recurring text, and keeps
adapting to the file it codes; the network (`mlp.MLPModel`, a window of the k previous bytes,
one hidden layer, no follower inputs) generalises from the training data in a way counting
cannot: bytes it has never seen in this context still get the probability their embedding
suggests. Per bit, a final mixer in the stretch domain combines the engine's probability with
the network's (its frequency row summed over the two halves of the partial byte's range) and
learns online how far to trust each, by bit position and the network's confidence. The stage
and its exactness premises: `_network_kernels`; a prior of engine 3 (the default level's) runs it
inside engine 3's kernel, one of engine 2 (hybrids trained before engine 3 took priors) in
`_hybrid_kernels`.

Stored form (a `.dcm` model file): config {"prior": the prior's config, "network": the MLP's,
"mixer_lr": the final mixer's learning rate}; arrays "snapshot" (the prior's), "mixer"
int32[MIXER_LEN] (the final mixer's starting weights) and the network's integer parameters,
named "network_" + `exact.network_arrays` names. All of it is in the fingerprint.

Not sampleable: the hybrid's probabilities come out of one compiled loop per block, with no
step-by-step decoding for `sample` to drive.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np

from deepcompress._lazy import LazyModule
from deepcompress.models.adaptive import ENGINES, AdaptiveSession, BlockSession, _check_bytes
from deepcompress.models.base import Chunk, Model, Session
from deepcompress.models.prior import PriorModel

H = LazyModule("deepcompress.models._hybrid_kernels")
binary = LazyModule("deepcompress.coding.binary")

NETWORK_PREFIX = "network_"
MIXER_LEN = 96  # `_network_kernels.MIXER_LEN` (checked at first use): 32 weight sets of 3
DEFAULT_MIXER_LR = 12  # by the small-file sets: -1.4% (copyright), -2.0% (stdlib) against its prior; 2: -0.6%, 24: -1.9%
_ENCODE_PIECE = 1 << 20  # decisions per chunk yielded by encode_block


class HybridModel(Model):
    """A `PriorModel` and an `MLPModel` (one hidden layer, no followers) behind one final mixer.

    mixer: int32[MIXER_LEN] starting weights (None: the engine's prediction as it is, the
    network's weight 0).
    """

    name: ClassVar[str] = "hybrid"
    alphabet_size = 256
    self_coder = "binary"

    def __init__(self, prior: PriorModel, network: Any, mixer: np.ndarray | None = None,
                 mixer_lr: int = DEFAULT_MIXER_LR) -> None:
        from deepcompress.models.mlp import MLPModel  # torch: only once a hybrid is built

        if not isinstance(prior, PriorModel) or not isinstance(network, MLPModel):
            raise TypeError("a hybrid is an adaptive-prior model and an mlp model")
        if ENGINES[prior.config()["preset"]] not in (2, 3):
            raise ValueError("a hybrid's prior runs an engine-2 or engine-3 preset (the engines with a hybrid kernel)")
        net = network.network
        if network.net_config.follower_orders or len(net.layers) != 1 or network.alphabet_size != 256:
            raise ValueError("a hybrid's network is a byte mlp with one hidden layer and no follower inputs")
        if type(mixer_lr) is not int or not 0 <= mixer_lr <= 64:
            raise ValueError(f"the hybrid's mixer_lr must be an integer in [0, 64], not {mixer_lr!r}")
        if mixer is None:
            mixer = np.tile(np.array([65536, 0, 0], dtype=np.int32), MIXER_LEN // 3)
        mixer = np.ascontiguousarray(mixer, dtype=np.int32)
        if mixer.shape != (MIXER_LEN,):
            raise ValueError(f"the hybrid's mixer holds {MIXER_LEN} int32 weights, not shape {mixer.shape}")
        self.prior, self.network, self.mixer, self.mixer_lr = prior, network, mixer, mixer_lr
        layer = net.layers[0]
        offsets = np.concatenate([[0], np.cumsum(net.column_sizes)[:-1]]).astype(np.int64)
        self._kernel_network = (offsets, np.ascontiguousarray(net.first_table), net.first_bias.astype(np.int64),
                                int(net.first_shift), layer.weight.astype(np.int64), layer.bias.astype(np.int64),
                                layer.multiplier.astype(np.int64), int(layer.shift),
                                net._exp_table.astype(np.int64))
        self._parameters: bytes | None = None

    def config(self) -> dict[str, Any]:
        return {"prior": self.prior.config(), "network": self.network.config(), "mixer_lr": self.mixer_lr}

    def hyperparameters(self) -> dict[str, Any]:
        return {"prior": self.prior.hyperparameters(), "network": self.network.config(),
                "mixer_lr": self.mixer_lr}

    def parameter_arrays(self) -> dict[str, np.ndarray]:
        arrays = {"snapshot": self.prior.parameter_arrays()["snapshot"], "mixer": self.mixer}
        arrays.update({NETWORK_PREFIX + name: array for name, array in self.network.parameter_arrays().items()})
        return arrays

    def parameter_bytes(self) -> bytes:
        if self._parameters is None:  # shared by the sized variants, whose fingerprints decoding tries
            self._parameters = super().parameter_bytes()
        return self._parameters

    @classmethod
    def from_parameters(cls, config: dict[str, Any], arrays: dict[str, np.ndarray]) -> HybridModel:
        from deepcompress.models.mlp import MLPModel

        if not isinstance(config, dict) or set(config) != {"prior", "network", "mixer_lr"}:
            raise ValueError("a hybrid config names exactly prior, network and mixer_lr")
        if "snapshot" not in arrays or "mixer" not in arrays or arrays["mixer"].dtype != np.int32:
            raise ValueError("a hybrid model file holds 'snapshot', an int32 'mixer' and the network's arrays")
        network = {name[len(NETWORK_PREFIX):]: array for name, array in arrays.items()
                   if name.startswith(NETWORK_PREFIX)}
        if len(network) + 2 != len(arrays):
            raise ValueError("a hybrid model file holds unexpected arrays")
        prior = PriorModel.from_parameters(config["prior"], {"snapshot": arrays["snapshot"]})
        return cls(prior, MLPModel.from_parameters(config["network"], network), arrays["mixer"],
                   config["mixer_lr"])

    def sized_for(self, n_symbols: int | None) -> HybridModel:
        """The prior's variant for the input (`PriorModel.sized_for`); the network never changes."""
        prior = self.prior.sized_for(n_symbols)
        if prior is self.prior:
            return self
        variant = copy.copy(self)
        variant.prior = prior
        return variant

    @property
    def sampleable(self) -> bool:
        return False

    def session(self) -> HybridSession | BlockSession:
        engine = self.prior.session()
        if isinstance(engine, BlockSession):  # engine 3 runs the network stage in its own kernel
            engine.mix_network(self._kernel_network, self.mixer.copy(), self.mixer_lr)
            return engine
        return HybridSession(engine, self._kernel_network, self.mixer.copy(), self.mixer_lr)


class HybridSession(Session):
    """Engine 2's session (started from the prior), the network and the final mixer's weights."""

    decisions_per_symbol = 8  # MSB first, one lane

    def __init__(self, engine: AdaptiveSession, network: tuple, mixer: np.ndarray, mixer_lr: int) -> None:
        if len(mixer) != H.MIXER_LEN:
            raise AssertionError("hybrid.MIXER_LEN differs from the kernels'")
        self._engine, self._network, self._mixer, self._lr = engine, network, mixer, mixer_lr
        self._start = engine.size  # the stream's first byte, after the prior's history

    def _run(self, n: int, symbols: np.ndarray | None, data: np.ndarray, probs: np.ndarray) -> np.ndarray:
        def kernel(*state: Any) -> None:
            H.code_block(symbols is None, data, *state, self._start, *self._network, self._mixer, self._lr, probs)

        return self._engine.run_one_lane(kernel, n, symbols)[1]

    def _probs(self, symbols: np.ndarray) -> np.ndarray:
        """The probabilities of a 1 coded for each bit of a block: int16[8n]."""
        symbols = _check_bytes(symbols)
        probs = np.empty(8 * len(symbols), dtype=np.int16)
        if len(symbols):
            self._run(len(symbols), symbols, np.zeros(0, dtype=np.uint8), probs)
        return probs

    def encode_block(self, symbols: np.ndarray, lanes: int):
        """The probabilities `encode_words` codes, as 2-entry tables (for nll and surprisal)."""
        probs = self._probs(symbols)
        bits = np.unpackbits(_check_bytes(symbols).astype(np.uint8)).astype(np.int64)  # MSB first, as coded
        for i in range(0, len(probs), _ENCODE_PIECE):
            p = probs[i: i + _ENCODE_PIECE].astype(np.int64)
            yield bits[i: i + _ENCODE_PIECE], Chunk.rows(np.stack([4096 - p, p], axis=1))

    def encode_words(self, symbols: np.ndarray, lanes: int) -> tuple[np.ndarray, float]:
        """Code a block with the binary coder: (words uint32[W], nll_bits)."""
        if lanes != 1:
            raise ValueError("binary self-coding runs one lane")
        probs = self._probs(symbols).astype(np.int64)
        bits = np.unpackbits(_check_bytes(symbols).astype(np.uint8)).astype(np.int64)
        nll = float(np.sum(12 - np.log2(np.where(bits == 1, probs, 4096 - probs))))
        return binary.encode(bits, probs) if len(bits) else np.zeros(0, dtype=np.uint32), nll

    def decode_words(self, words: np.ndarray, n_symbols: int, lanes: int) -> np.ndarray:
        """Inverse of `encode_words`: int64[n_symbols]. Wrong words decode to garbage, not errors."""
        n = int(n_symbols)
        if n < 0:
            raise ValueError("n_symbols must be >= 0")
        if lanes != 1:
            raise ValueError("binary self-coding runs one lane")
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        return self._run(n, None, binary.words_to_bytes(words), np.zeros(0, dtype=np.int16))

