"""The Calgary and Canterbury corpora: round trips and code-length bounds on real files.

The corpus lives outside the repository (../shared/corpus); these tests skip without it.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

import deepcompress
from deepcompress import api, container
from deepcompress.models.histogram import pack_counts

# ../shared/corpus relative to the repository root, as in conftest.py
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

MODELS = ["histogram", "histogram-adaptive"]


def corpus_files(collection: str) -> list[Path]:
    folder = CORPUS / collection
    if not folder.is_dir():
        return []
    return sorted(path for path in folder.iterdir() if path.is_file() and path.name not in {"SHA256SUMS", "README.md"})


def file_ids(paths: list[Path]) -> list[str]:
    return [f"{path.parent.name}/{path.name}" for path in paths]


ALL_FILES = corpus_files("calgary") + corpus_files("canterbury")
CANTERBURY = corpus_files("canterbury")


def h0_bits(data: bytes) -> float:
    """n * H0: the empirical order-0 entropy of the whole file, in bits."""
    counts = np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256)
    counts = counts[counts > 0]
    return float(-(counts * np.log2(counts / counts.sum())).sum())


_CACHE: dict[tuple[Path, str], tuple[bytes, api.Stats]] = {}


def compressed(path: Path, model: str) -> tuple[bytes, api.Stats]:
    """Compress once per (file, model) for all tests of this module."""
    if (path, model) not in _CACHE:
        sink = io.BytesIO()
        stats = api.compress_stream(io.BytesIO(path.read_bytes()), sink, model)
        _CACHE[path, model] = (sink.getvalue(), stats)
    return _CACHE[path, model]


def test_corpus_is_complete_and_intact(corpus):
    """The published file counts, and every file matches its SHA256SUMS line."""
    assert len(corpus_files("calgary")) == 18
    assert len(corpus_files("canterbury")) == 11
    for collection in ("calgary", "canterbury"):
        for line in (corpus / collection / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split(maxsplit=1)
            data = (corpus / collection / name.lstrip("*")).read_bytes()
            assert hashlib.sha256(data).hexdigest() == digest, name


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("path", ALL_FILES, ids=file_ids(ALL_FILES))
def test_corpus_round_trip_and_overhead(corpus, path, model):
    data = path.read_bytes()
    blob, stats = compressed(path, model)
    assert deepcompress.decompress(blob) == data
    assert stats.compressed_bytes == len(blob)
    assert stats.payload_bits - stats.nll_bits <= 1e-4 * stats.nll_bits + 128
    assert stats.payload_bits >= stats.nll_bits - 32


def test_adaptive_within_half_a_percent_of_order0_entropy(corpus):
    """Adaptive coding learns the order-0 statistics for (almost) free: whole files, container included."""
    total = sum(len(compressed(path, "histogram-adaptive")[0]) for path in CANTERBURY)
    entropy_bytes = sum(h0_bits(path.read_bytes()) for path in CANTERBURY) / 8
    assert total <= 1.005 * entropy_bytes, (total, entropy_bytes)


def test_static_costs_entropy_plus_tables_plus_container(corpus):
    """Static coding spends n*H0 per block; stored tables, container and coder overhead are all it adds.

    Coder overhead: the range coder loses ~1e-4 bits per symbol to its 24-bit arithmetic
    (up to ~140 bits on a 1 MB file), the allowance `test_corpus_round_trip_and_overhead` checks.
    """
    total = stored_tables = containers = 0
    entropy_bits = coder_allowance_bits = 0.0
    for path in ALL_FILES:
        data = path.read_bytes()
        assert len(data) <= api.DEFAULT_BLOCK_SIZE  # one block per file: the block's H0 is the file's
        blob, stats = compressed(path, "histogram")
        file_h0 = h0_bits(data)
        side = pack_counts(np.bincount(np.frombuffer(data, dtype=np.uint8), minlength=256))
        assert side in blob
        # header + one block record (fields + CRC; format 3: varints) + end record (of one coded
        # block: its marker alone)
        source = container.MemberSource(io.BytesIO(blob))
        header = container.read_header(source)
        record = container.read_block(source, header)
        assert container.read_block(source, header).of_one_block
        fields = len(container.encode_block(record)) - len(side) - 4 * len(record.words)  # payload: stats.payload_bits
        structure = len(container.encode_header(header)) + fields + 1
        assert stats.header_bytes == structure + len(side)
        allowance = 1e-4 * file_h0 + 128
        assert len(blob) <= file_h0 / 8 + len(side) + structure + allowance / 8, path.name
        total += len(blob)
        entropy_bits += file_h0
        stored_tables += len(side)
        containers += structure
        coder_allowance_bits += allowance
    assert total <= entropy_bits / 8 + stored_tables + containers + coder_allowance_bits / 8
    assert total >= entropy_bits / 8 + stored_tables + containers  # n*H0 is a lower bound for the payload


def test_adaptive_beats_static_on_canterbury(corpus):
    adaptive = sum(len(compressed(path, "histogram-adaptive")[0]) for path in CANTERBURY)
    static = sum(len(compressed(path, "histogram")[0]) for path in CANTERBURY)
    assert adaptive < static
