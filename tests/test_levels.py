"""Compression levels: `adaptive.LEVELS` maps 1..9 to presets; `models.level_model` builds them."""

from __future__ import annotations

import io

import numpy as np
import pytest

import deepcompress
from deepcompress import api, models
from deepcompress.models.adaptive import (
    DEFAULT_LEVEL,
    DEFAULT_PRESET,
    LEVELS,
    PRESETS,
    AdaptiveModel,
)


def test_every_level_names_a_self_coding_preset():
    assert sorted(LEVELS) == list(range(1, 10))
    assert LEVELS[DEFAULT_LEVEL] == DEFAULT_PRESET
    for level, preset in LEVELS.items():
        assert preset in PRESETS and preset != 1  # preset 1 is the frozen 0.1 default
        model = models.level_model(level)
        assert isinstance(model, AdaptiveModel) and model.config() == {"preset": preset}
        assert model.self_coder == "binary"
    # memory grows with the level (hash_bits sizes tables of different entries in each engine)
    sizes = [_session_bytes(models.level_model(level).session()) for level in range(1, 10)]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]


def _session_bytes(session) -> int:
    """Bytes of every array a session holds (engine 2 as attributes, engines 3-4 in `tables`)."""
    arrays = [v for v in (*vars(session).values(), *getattr(session, "tables", {}).values())
              if isinstance(v, np.ndarray)]
    assert len(arrays) >= 5  # the history, counters, mixer weights, APMs, match table at least
    return sum(a.nbytes for a in arrays)


@pytest.mark.parametrize("level", [0, 10, -1, True, 5.0, "5", None])
def test_level_outside_1_to_9_is_refused(level):
    with pytest.raises(ValueError, match="level"):
        models.level_model(level)


@pytest.mark.parametrize("preset", sorted(set(LEVELS.values())))
def test_each_level_preset_round_trips_and_records_its_preset(preset):
    rng = np.random.default_rng(preset)
    data = bytes(rng.integers(97, 101, 20000).astype(np.uint8)) + b"the end " * 500
    blob = deepcompress.compress(data, AdaptiveModel(preset=preset))
    header = api.read_info(io.BytesIO(blob)).header
    assert header.config["preset"] == preset and header.coder == "binary"
    assert deepcompress.decompress(blob) == data


def test_new_model_features_are_off_in_preset_1():
    """Preset 1 stays the 0.1 model (its golden streams pin it): every later switch is 0 there."""
    assert PRESETS[1]["final_ctx"] == 0 and PRESETS[1]["apm3_weight"] == 0
    with pytest.raises(ValueError, match="apm3_weight"):
        AdaptiveModel(apm3_weight=6)
    with pytest.raises(ValueError, match="final_ctx"):
        AdaptiveModel(final_ctx=4)


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_tables_of_a_64_kib_input_fit_64_mib(level):
    """Memory sized to the input: every array of a session sized for 64 KiB, at every level."""
    assert _session_bytes(models.level_model(level).sized_for(65536).session()) <= 64 << 20
