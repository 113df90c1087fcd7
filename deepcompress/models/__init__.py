"""Probability models and their registry: name -> class, and the models users name on the CLI."""

from __future__ import annotations

from typing import Any

from deepcompress.models.base import Chunk, Model, Session
from deepcompress.models.histogram import HistogramModel

__all__ = ["BUILTIN_MODELS", "Chunk", "HistogramModel", "Model", "Session", "builtin", "from_header"]


def _adaptive(alphabet_size: int, **config: Any) -> Model:
    """The context-mixing byte model (imported lazily: it compiles numba kernels).

    Alphabets up to 256 are coded as bytes (their symbols are byte values).
    """
    if alphabet_size > 256:
        raise ValueError(f"the adaptive model codes bytes: at most 256 symbols, not {alphabet_size}")
    from deepcompress.models.adaptive import AdaptiveModel

    return AdaptiveModel(**config)


# Models that need no model file: what `-m NAME` accepts; each takes the alphabet size.
BUILTIN_MODELS = {
    "adaptive": _adaptive,
    "histogram": lambda alphabet_size: HistogramModel(alphabet_size),
    "histogram-adaptive": lambda alphabet_size: HistogramModel(alphabet_size, adaptive=True),
}


def builtin(name: str, alphabet_size: int = 256) -> Model:
    """A parameter-free model by its CLI name. Raises ValueError for unknown names or alphabets."""
    try:
        factory = BUILTIN_MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; built-in models: {', '.join(BUILTIN_MODELS)}") from None
    return factory(alphabet_size)


def from_header(name: str, config: dict[str, Any]) -> Model | None:
    """Rebuild a parameter-free model from a stream header; None if it needs a model file.

    Raises ValueError if the name or config is not one this version can build.
    """
    if name == HistogramModel.name:
        mode = config.get("mode")
        if mode == "trained":
            return None
        if mode not in ("static", "adaptive"):
            raise ValueError(f"unknown histogram mode {mode!r}")
        alphabet_size = config.get("alphabet_size")
        if type(alphabet_size) is not int or not 1 <= alphabet_size <= 1 << 24:  # not bool
            raise ValueError(f"histogram alphabet size {alphabet_size!r} out of range")
        return HistogramModel(alphabet_size, adaptive=mode == "adaptive")
    if name == "adaptive":
        if not all(isinstance(v, int) for v in config.values()):
            raise ValueError("adaptive config values must be integers")
        return _adaptive(256, **config)
    if name in ("mlp", "record-mlp"):
        return None  # its weights live in a .dcm model file (deepcompress.modelfile)
    raise ValueError(f"unknown model {name!r}")
