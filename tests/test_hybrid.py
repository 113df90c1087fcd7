"""The `hybrid` model: a trained prior and an exact byte MLP mixed (`models.hybrid`, `train --model hybrid`)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import make_golden_prior as GOLDEN_SCRIPT
import numpy as np
import pytest
from click.testing import CliRunner
from dcz_layout import as_version_3

from deepcompress import api
from deepcompress.cli import main
from deepcompress.errors import ModelMismatchError

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "README.md").read_bytes()
GOLDEN = ROOT / "tests" / "golden"
# tests/golden/{name}.{dcm,dcz}, written by scripts/make_golden_prior.py --hybrid / --hybrid3:
# name -> (model fingerprint, dcm sha256, dcz sha256). hybrid_tiny's prior runs engine 2 (preset 2),
# as hybrids did before engine 3 took priors; hybrid3_tiny's the default level's engine 3.
GOLDEN_HYBRIDS = {
    "hybrid_tiny": ("74d2e08179341ee7fb77a2050902b038",
                    "964d3f6b078b9dd1dc5bc0447a432158084bd74a060d33b17b1a8ead6d16f752",
                    "51ada122cebb38e4a7bad8892f851f81c714ef638591a507b7c168aef7f39cec"),
    "hybrid3_tiny": ("750fe90812f80c6faf0200b6e9753833",
                     "01ebeb8943325123befa544ce3dc39e26d1afa06f1462b8cd96b8f0246a6647d",
                     "ed40504ae9c3c21d166b56f38cd55ef16f8257d5e26058e1f5c9364c6de4413a"),
}
GOLDEN_PRESETS = {"hybrid_tiny": 2, "hybrid3_tiny": 6}


@pytest.mark.parametrize("name", sorted(GOLDEN_HYBRIDS))
def test_golden_hybrid_decodes_its_stream_and_recompresses_identically(name):
    """The hybrids' stored forms and bitstreams, pinned: a later release must decode these files."""
    fingerprint, dcm_sha256, dcz_sha256 = GOLDEN_HYBRIDS[name]
    dcm = (GOLDEN / f"{name}.dcm").read_bytes()
    dcz = (GOLDEN / f"{name}.dcz").read_bytes()
    assert hashlib.sha256(dcm).hexdigest() == dcm_sha256, "golden hybrid changed on disk"
    assert hashlib.sha256(dcz).hexdigest() == dcz_sha256, "golden stream changed on disk"
    model = api.load_model(GOLDEN / f"{name}.dcm")
    assert model.name == "hybrid" and model.fingerprint() == fingerprint
    assert model.prior.config()["preset"] == GOLDEN_PRESETS[name]
    sample = GOLDEN_SCRIPT.HYBRID_SAMPLE
    assert api.decompress(dcz, model=model) == sample
    assert api.compress(sample, model) == as_version_3(dcz)  # a v2 stream: written now as v3


@pytest.fixture(scope="module")
def hybrid_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hybrid")
    (folder / "a.txt").write_bytes(TEXT[:20_000])
    (folder / "b.txt").write_bytes(TEXT[20_000:40_000])
    path = folder / "h.dcm"
    done = CliRunner().invoke(main, ["train", "--model", "hybrid", "--context", "3", "--hidden", "8", "--embed", "4",
                                     "--epochs", "1", "--size", "60000", "-q", "-o", str(path),
                                     str(folder / "a.txt"), str(folder / "b.txt")])
    assert done.exit_code == 0, done.output
    return path


def test_model_file_keeps_its_budget(hybrid_file):
    assert hybrid_file.stat().st_size <= 60_000
    model = api.load_model(hybrid_file)
    assert model.name == "hybrid" and model.network.net_config.context_size == 3
    assert model.prior.config()["preset"] == 6  # the default level's engine 3 runs the network stage


def test_engine3_refuses_a_mixer_it_would_index_out_of_bounds(hybrid_file):
    model = api.load_model(hybrid_file)
    session = model.prior.session()
    for mixer in (np.zeros(95, dtype=np.int32), np.zeros(96, dtype=np.int64)):
        with pytest.raises(ValueError, match="final mixer"):
            session.mix_network(model._kernel_network, mixer, 12)


def test_network_rows_in_the_kernel_are_the_exact_tables(hybrid_file):
    from deepcompress.models import _network_kernels as N
    from deepcompress.models.context import context_windows

    model = api.load_model(hybrid_file)
    data = np.frombuffer(TEXT[40_000:41_000], dtype=np.uint8)
    expected = model.network.frequencies(context_windows(data.astype(np.int64), 3, 256))
    buf = np.concatenate([np.full(7, 65, dtype=np.uint8), data])  # 7 bytes of history before the stream
    pre, cum = np.empty(8, dtype=np.int64), np.empty(257, dtype=np.int64)
    for i in (0, 1, 2, 3, 500, len(data) - 1):
        N.network_row(buf, 7 + i, 7, *model._kernel_network, pre, cum)
        assert np.array_equal(np.diff(cum), expected[i]), i


@pytest.mark.parametrize("data", [b"", b"x", TEXT[41_000:49_000], bytes(range(256)) * 8])
def test_round_trip_and_nll(hybrid_file, data):
    model = api.load_model(hybrid_file)
    blob = api.compress(data, model=model)
    assert api.decompress(blob, model=model) == data
    assert api.decompress(blob, model=str(hybrid_file)) == data


def test_a_weak_network_costs_little(hybrid_file):
    # The mixer starts from the engine's prediction alone (network weight 0), so a network
    # trained for one epoch on 40 KB, which knows little, costs at most a few percent.
    model = api.load_model(hybrid_file)
    held = TEXT[41_000:49_000]
    assert len(api.compress(held, model=model)) <= 1.02 * len(api.compress(held, model=model.prior))


def test_a_stream_needs_its_own_hybrid(hybrid_file):
    model = api.load_model(hybrid_file)
    blob = api.compress(TEXT[:3000], model=model)
    with pytest.raises(ModelMismatchError):
        api.decompress(blob, model=model.prior)
    other = type(model)(model.prior, model.network, mixer_lr=3)
    with pytest.raises(ModelMismatchError):
        api.decompress(blob, model=other)


def test_networks_a_hybrid_cannot_run_are_refused(hybrid_file):
    model = api.load_model(hybrid_file)
    with pytest.raises(ValueError, match="mixer"):
        type(model)(model.prior, model.network, mixer=np.zeros(5, dtype=np.int32))
    with pytest.raises(TypeError, match="adaptive-prior"):
        type(model)(model.network, model.network)
