"""Probability models and their registry: name -> class, and the models users name on the CLI."""

from __future__ import annotations

from typing import Any

from deepcompress.models.base import Chunk, Model, Session
from deepcompress.models.histogram import HistogramModel

__all__ = ["BUILTIN_MODELS", "Chunk", "HistogramModel", "Model", "Session", "builtin", "from_header"]

# Models that need no model file: what `-m NAME` accepts; each takes the alphabet size.
BUILTIN_MODELS = {
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
        if not isinstance(alphabet_size, int) or not 1 <= alphabet_size <= 1 << 24:
            raise ValueError(f"histogram alphabet size {alphabet_size!r} out of range")
        return HistogramModel(alphabet_size, adaptive=mode == "adaptive")
    if name == "mlp":
        return None          # its weights live in a .dcm model file (deepcompress.modelfile)
    raise ValueError(f"unknown model {name!r}")
