"""Surprisal maps: per-symbol bits, segment sums, top segments, and the `surprisal` command."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from deepcompress import api, cli, surprisal
from deepcompress.models import BUILTIN_MODELS, HistogramModel

# Read by path, never copied into the repository (the layout benchmarks/corpus.py uses).
BOOK1 = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "calgary" / "book1"
# A prefix keeps slow models merged later within seconds; histograms would manage all of book1.
BOOK1_PREFIX = 200_000
RANDOM_BLOCK = 2048


def _mixed_bytes(n: int, seed: int = 0) -> bytes:
    """Text-like bytes with a burst of uniform random bytes in the middle."""
    rng = np.random.default_rng(seed)
    text = rng.choice(np.frombuffer(b"etaoin shrdlu", dtype=np.uint8), size=n)
    text[n // 2 : n // 2 + n // 10] = rng.integers(0, 256, size=n // 10)
    return text.astype(np.uint8).tobytes()


MODEL_SPECS = [
    *BUILTIN_MODELS,
    HistogramModel(256, adaptive=True),
    HistogramModel.fit(np.frombuffer(_mixed_bytes(5000, seed=1), dtype=np.uint8)),
]


@pytest.mark.parametrize("model", MODEL_SPECS, ids=lambda spec: spec if isinstance(spec, str) else f"instance-{spec.mode}")
def test_symbol_bits_sum_to_stream_nll(model):
    data = _mixed_bytes(20_000)
    block_size = 4096  # several blocks: state carries over, static counts are refitted
    bits = api.symbol_bits(data, model, block_size=block_size)
    stats = api.compress_stream(io.BytesIO(data), io.BytesIO(), model, block_size=block_size)
    assert bits.dtype == np.float64 and bits.shape == (len(data),)
    assert (bits >= 0).all()
    assert bits.sum() == pytest.approx(stats.nll_bits, rel=1e-12)


@pytest.mark.parametrize("n, length", [(0, 4), (1, 4), (10, 1), (10, 3), (12, 4), (5, 100)])
def test_segment_bits_are_exact_slice_sums(n, length):
    bits = np.random.default_rng(n).integers(0, 40, size=n) / 8  # dyadic: sums exact in any order
    sums = surprisal.segment_bits(bits, length)
    expected = [bits[start : start + length].sum() for start in range(0, n, length)]
    assert sums.dtype == np.float64 and sums.shape == (-(-n // length),)
    assert sums.tolist() == expected


def test_segment_bits_of_real_bits_partition_the_total():
    bits = api.symbol_bits(_mixed_bytes(10_000), "histogram")
    sums = surprisal.segment_bits(bits, 1000)
    assert sums == pytest.approx([bits[i : i + 1000].sum() for i in range(0, 10_000, 1000)], rel=1e-12)
    assert sums.sum() == pytest.approx(bits.sum(), rel=1e-12)


def test_top_segments_rank_by_bits_with_short_last_segment():
    bits = np.array([1.0, 1.0, 5.0, 5.0, 1.0, 1.0, 9.0])  # segments of 2: sums 2, 10, 2, 9
    top = surprisal.top_segments(bits, segment_length=2, k=3)
    assert [(s.offset, s.length, s.bits) for s in top] == [(2, 2, 10.0), (6, 1, 9.0), (0, 2, 2.0)]
    assert top[1].bits_per_symbol == 9.0
    assert len(surprisal.top_segments(bits, 2, k=10)) == 4
    with pytest.raises(ValueError):
        surprisal.segment_bits(bits, 0)


def test_smooth_is_a_moving_mean():
    smoothed = surprisal.smooth(np.array([0.0, 0.0, 6.0, 0.0, 0.0]), window=3)
    assert smoothed.tolist() == [0.0, 2.0, 2.0, 2.0, 0.0]


def _invoke(*args: str):
    return CliRunner().invoke(cli.main, ["surprisal", *args])


@pytest.fixture
def spliced_book1(tmp_path) -> tuple[Path, int]:
    """A prefix of book1 with RANDOM_BLOCK random bytes spliced in at a seeded offset."""
    if not BOOK1.is_file():
        pytest.skip(f"corpus file {BOOK1} is absent")
    text = BOOK1.read_bytes()[:BOOK1_PREFIX]
    rng = np.random.default_rng(7)
    offset = int(rng.integers(0, len(text)))
    path = tmp_path / "book1-spliced"
    path.write_bytes(text[:offset] + rng.bytes(RANDOM_BLOCK) + text[offset:])
    return path, offset


@pytest.mark.parametrize("model", list(BUILTIN_MODELS))
def test_spliced_random_block_is_the_top_segment(model, spliced_book1):
    path, true_offset = spliced_book1
    result = _invoke("-m", model, "--segment", str(RANDOM_BLOCK), "--top", "1", "--json", str(path))
    assert result.exit_code == 0, result.stderr
    [line] = result.stdout.splitlines()
    top = json.loads(line)
    assert abs(top["offset"] - true_offset) < RANDOM_BLOCK
    mean = api.nll_bits(path.read_bytes(), model) / path.stat().st_size
    assert top["bits_per_symbol"] > mean


@pytest.fixture
def sample_file(tmp_path) -> Path:
    path = tmp_path / "sample.bin"
    path.write_bytes(_mixed_bytes(5000))
    return path


def test_cli_json_lines_have_the_segment_keys(sample_file):
    result = _invoke("--json", "--top", "3", "--segment", "500", str(sample_file))
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 3
    assert all(set(record) == {"offset", "length", "bits", "bits_per_symbol"} for record in records)
    assert [record["bits"] for record in records] == sorted((record["bits"] for record in records), reverse=True)


def test_cli_table_lists_top_segments(sample_file):
    result = _invoke("--top", "2", str(sample_file))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "mean" in lines[0] and lines[1].split() == ["offset", "length", "bits", "bits/symbol"]
    assert len(lines) == 4


def test_cli_out_round_trips_with_numpy(sample_file, tmp_path):
    out = tmp_path / "bits.npy"
    result = _invoke("-m", "histogram", "--out", str(out), str(sample_file))
    assert result.exit_code == 0, result.stderr
    saved = np.load(out)
    assert saved.dtype == np.float64
    np.testing.assert_array_equal(saved, api.symbol_bits(sample_file.read_bytes(), "histogram"))


def test_cli_plot_writes_a_png(sample_file, tmp_path):
    pytest.importorskip("matplotlib", reason="--plot needs matplotlib (the 'plot' extra)")
    png = tmp_path / "map.png"
    result = _invoke("--plot", str(png), "--segment", "256", str(sample_file))
    assert result.exit_code == 0, result.stderr
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_cli_plot_without_matplotlib_is_one_line_error(sample_file, tmp_path, monkeypatch):
    for name in ["matplotlib", *(name for name in sys.modules if name.startswith("matplotlib."))]:
        monkeypatch.setitem(sys.modules, name, None)  # `import matplotlib...` now raises ImportError
    result = _invoke("--plot", str(tmp_path / "map.png"), str(sample_file))
    assert result.exit_code == 1
    assert result.stderr == f"deepcompress: {sample_file}: plotting needs matplotlib: pip install 'deepcompress[plot]'\n"
    assert result.stdout == ""


def test_cli_missing_file_is_one_line_error(tmp_path):
    missing = tmp_path / "missing"
    result = _invoke(str(missing))
    assert result.exit_code == 1
    assert result.stderr == f"deepcompress: {missing}: No such file or directory\n"


def test_cli_empty_file_is_one_line_error(tmp_path):
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    result = _invoke(str(empty))
    assert result.exit_code == 1
    assert result.stderr == f"deepcompress: {empty}: empty input\n"


def test_cli_measures_a_0_d_array_as_one_element(tmp_path):
    path = tmp_path / "scalar.npy"
    np.save(path, np.array(5, dtype=np.int16))
    result = _invoke("-m", "histogram-adaptive", str(path))
    assert result.exit_code == 0, result.output
    assert f"{path}: 1 symbols" in result.output
