"""Probability models and their one registry: name -> model class, loaded on first use.

The registry serves all three ways a model is found: by the name `-m NAME` accepts
(`builtin`), by the name a stream header records (`from_header`) and by the name a model
file records (`deepcompress.modelfile`). Entries are lazy (a dotted path, or a callable
returning the class), so `import deepcompress` imports neither torch nor the numba kernels.

Adding a model is one module plus one call:

    models.register("order2", "mypackage.order2:Order2Model")          # needs a model file
    models.register("mine", make_mine_class, builtin=True)             # -m mine works too
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from collections.abc import Set as AbstractSet
from typing import Any

from deepcompress.models.base import Chunk, Model, Session
from deepcompress.models.histogram import HistogramModel

__all__ = [
    "BUILTIN_MODELS", "Chunk", "HistogramModel", "Model", "Session", "builtin", "from_header",
    "level_model", "model_class", "model_id", "name_for_id", "register", "registered", "unregister",
]

_LOADERS: dict[str, str | Callable[[], type[Model]]] = {}
_CLASSES: dict[str, type[Model]] = {}
_BUILTIN: list[str] = []
_IDS: dict[str, int] = {}
_NAMES_BY_ID: dict[int, str] = {}


def register(name: str, loader: str | Callable[[], type[Model]] | type[Model], *, builtin: bool = False,
             model_id: int = 0) -> None:
    """Make a model class known by `name`.

    loader: "package.module:ClassName" (imported on first use), a callable returning the
    class, or the class itself. builtin: `-m name` builds it without a model file, through
    the class's `for_alphabet`. model_id: the small integer a v2 stream header names it by
    (1..127 fit one byte; ids are frozen once released; 0: none, the header spells the name).
    Names and ids are unique: registering one twice is a ValueError.
    """
    if name in _LOADERS:
        raise ValueError(f"model name {name!r} is already registered")
    if model_id and model_id in _NAMES_BY_ID:
        raise ValueError(f"model id {model_id} is already registered (for {_NAMES_BY_ID[model_id]!r})")
    if model_id < 0:
        raise ValueError(f"model ids are positive, got {model_id}")
    _LOADERS[name] = loader
    if builtin:
        _BUILTIN.append(name)
    if model_id:
        _IDS[name], _NAMES_BY_ID[model_id] = model_id, name


def unregister(name: str) -> None:
    """Forget a registered name (KeyError if unknown), e.g. to register a new version of a class."""
    del _LOADERS[name]
    _CLASSES.pop(name, None)
    if name in _BUILTIN:
        _BUILTIN.remove(name)
    if name in _IDS:
        del _NAMES_BY_ID[_IDS.pop(name)]


def model_id(name: str) -> int:
    """The registry id a stream header names `name` by; 0 if it has none."""
    return _IDS.get(name, 0)


def name_for_id(model_id: int) -> str:
    """The name registered with `model_id`; ValueError for an unknown id."""
    try:
        return _NAMES_BY_ID[model_id]
    except KeyError:
        raise ValueError(f"unknown model id {model_id}") from None


def registered() -> tuple[str, ...]:
    """Every registered name, in registration order."""
    return tuple(_LOADERS)


def model_class(name: str) -> type[Model]:
    """The class registered as `name`, loading it on first use. ValueError for unknown names."""
    if name not in _CLASSES:
        try:
            loader = _LOADERS[name]
        except KeyError:
            raise ValueError(f"unknown model {name!r}; registered models: {', '.join(_LOADERS)}") from None
        if isinstance(loader, str):
            module, _, attribute = loader.partition(":")
            loaded = getattr(importlib.import_module(module), attribute)
        elif isinstance(loader, type):
            loaded = loader
        else:
            loaded = loader()
        if not (isinstance(loaded, type) and issubclass(loaded, Model)):
            raise TypeError(f"the loader of model {name!r} gave {loaded!r}, not a Model subclass")
        _CLASSES[name] = loaded
    return _CLASSES[name]


class _BuiltinNames(AbstractSet):
    """The names `-m NAME` accepts without a model file: a live view of the registry."""

    def __contains__(self, name: object) -> bool:
        return name in _BUILTIN

    def __iter__(self) -> Iterator[str]:
        return iter(list(_BUILTIN))

    def __len__(self) -> int:
        return len(_BUILTIN)

    def __repr__(self) -> str:
        return f"BUILTIN_MODELS({', '.join(_BUILTIN)})"


BUILTIN_MODELS: AbstractSet[str] = _BuiltinNames()


def builtin(name: str, alphabet_size: int = 256) -> Model:
    """A parameter-free model by its `-m` name. Raises ValueError for unknown names or alphabets."""
    if name not in _BUILTIN:
        raise ValueError(f"unknown model {name!r}; built-in models: {', '.join(_BUILTIN)}")
    return model_class(name).for_alphabet(alphabet_size)


def level_model(level: int) -> Model:
    """The built-in adaptive model of compression level 1..9 (`adaptive.LEVELS`); ValueError outside."""
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 9:
        raise ValueError(f"compression level must be an integer in 1..9, not {level!r}")
    from deepcompress.models import adaptive  # lazy: importing models compiles no kernels

    return adaptive.AdaptiveModel(preset=adaptive.LEVELS[level])


def from_header(name: str, config: dict[str, Any]) -> Model | None:
    """Rebuild the model a stream header names; None if it needs a model file.

    Raises ValueError if the name or config is not one this version can build. Only a
    class's own `name` is accepted (not an alias such as "histogram-adaptive").
    """
    cls = model_class(name)
    if cls.name != name:
        raise ValueError(f"unknown model {name!r}")
    return cls.from_config(config)


# Ids are frozen once released (v2 stream headers name models by them); an alias has none.
register("adaptive", "deepcompress.models.adaptive:AdaptiveModel", builtin=True, model_id=1)
register("adaptive-prior", "deepcompress.models.prior:PriorModel", model_id=5)
register("hybrid", "deepcompress.models.hybrid:HybridModel", model_id=6)
register("histogram", "deepcompress.models.histogram:HistogramModel", builtin=True, model_id=2)
register("histogram-adaptive", "deepcompress.models.histogram:AdaptiveHistogramModel", builtin=True)
register("mlp", "deepcompress.models.mlp:MLPModel", model_id=3)
register("record-mlp", "deepcompress.models.records:RecordModel", model_id=4)
