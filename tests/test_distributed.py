"""Training from streamed pieces and with DistributedDataParallel (torchrun, gloo on the CPU)."""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import deepcompress
from deepcompress import train
from deepcompress.cli import main
from deepcompress.modelfile import load_model
from deepcompress.models.mlp import MLPConfig, MLPNet

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "samples" / "sample.txt").read_bytes()
# 12 kB of text: sample.txt's words in a seeded random order
WORDS = b" ".join(np.random.default_rng(0).choice(TEXT.split(), 2400))[:12000]
TINY = MLPConfig(256, context_size=3, embed_dim=4, hidden=(16,), follower_orders=(2,))
TINY_FLAGS = ["--context", "3", "--hidden", "16", "--embed", "4", "--followers", "2", "--epochs", "1",
              "--batch-size", "256"]


def test_shard_is_complete_disjoint_balanced_and_deterministic():
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in rng.integers(0, 5000, 37)]
    for world in (1, 2, 3, 8):
        shards = [train.shard(lengths, rank, world) for rank in range(world)]
        assert sorted(i for s in shards for i in s) == list(range(len(lengths)))
        loads = [sum(lengths[i] for i in s) for s in shards]
        assert max(loads) - min(loads) <= max(lengths)
        assert shards == [train.shard(lengths, rank, world) for rank in range(world)]
    assert train.shard([10, 1], 1, 4) == [1] and train.shard([10, 1], 3, 4) == []


def test_source_pieces_cover_the_file_in_order(tmp_path):
    (tmp_path / "t.txt").write_bytes(TEXT)
    sources = [train.ByteSource.of_path(tmp_path / "t.txt"), train.ByteSource.of_bytes(TEXT[:999])]
    pieces = train.source_pieces(sources, piece_bytes=1000)
    assert [p.length for p in pieces] == [1000] * (len(TEXT) // 1000) + [len(TEXT) % 1000, 999]
    loaded = np.concatenate([p.load() for p in pieces])
    assert loaded.dtype == np.int64 and bytes(loaded.astype(np.uint8)) == TEXT + TEXT[:999]


def test_a_pass_yields_every_training_row_once(monkeypatch):
    monkeypatch.setattr(train, "SHUFFLE_ROWS", 700)    # several shuffles per pass, rows carried between them
    net = MLPNet(TINY)
    pieces = train.source_pieces([train.ByteSource.of_bytes(TEXT)], piece_bytes=1500)
    data = train.TrainingData(net, pieces, train.TrainConfig(validation_fraction=0.1, row_cache_bytes=0))
    assert data._cache is None and data.n_train == sum(p.length - round(p.length * 0.1) for p in pieces)
    batches = data.batches(64, np.random.default_rng(1))
    one_pass = [next(batches) for _ in range(-(-data.n_train // 64))]
    assert [len(t) for _, t in one_pass[:-1]] == [64] * (len(one_pass) - 1)
    seen = np.concatenate([np.concatenate([i, t[:, None]], axis=1) for i, t in one_pass])
    rows = [data.rows(j) for j in range(len(pieces))]
    expected = np.concatenate([np.concatenate([i[:cut], t[:cut, None]], axis=1)
                               for (i, t), cut in zip(rows, data.cuts)])
    assert np.array_equal(seen[np.lexsort(seen.T)], expected[np.lexsort(expected.T)])  # the same rows, once each


def test_streamed_rows_train_exactly_like_cached_rows():
    def fit(cache_bytes: int) -> tuple[bytes, float]:
        config = train.TrainConfig(epochs=1, batch_size=128, seed=3, threads=1, row_cache_bytes=cache_bytes)
        pieces = train.source_pieces([train.ByteSource.of_bytes(TEXT)], piece_bytes=2000)
        fitted = train.fit_mlp(pieces, TINY, config)
        return b"".join(p.detach().numpy().tobytes() for p in fitted.network.parameters()), fitted.integer_validation_bits
    assert fit(0) == fit(1 << 28)


def run_torchrun(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    if torchrun is None:
        pytest.skip("torchrun is not installed beside this Python")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    # A session of its own: on a timeout the ranks are killed with torchrun, not left waiting on each other.
    with subprocess.Popen([torchrun, "--standalone", "--nproc_per_node=2", "-m", "deepcompress", *args], cwd=tmp_path,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as process:
        try:
            stdout, stderr = process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_two_processes_train_a_model_that_round_trips(tmp_path):
    (tmp_path / "a.txt").write_bytes(WORDS[:11000])  # one piece: cut in two, one for each process
    done = run_torchrun(tmp_path, "train", "-q", *TINY_FLAGS, "-o", "m.dcm", "a.txt")
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    model, metadata = load_model(tmp_path / "m.dcm")
    assert metadata["training"]["processes"] == 2 and metadata["training"]["files"] == ["a.txt"]
    # One process with the same options writes the same kind of model file (config, arrays, metadata keys).
    single = CliRunner(catch_exceptions=False).invoke(main, ["train", "-q", *TINY_FLAGS, "-o", str(tmp_path / "s.dcm"),
                                                            str(tmp_path / "a.txt")])
    assert single.exit_code == 0
    alone, alone_metadata = load_model(tmp_path / "s.dcm")
    assert alone.config() == model.config() and alone_metadata.keys() == metadata.keys()
    assert {k: v.shape for k, v in alone.parameter_arrays().items()} == {k: v.shape for k, v in model.parameter_arrays().items()}
    assert alone_metadata["training"]["processes"] == 1 and alone.fingerprint() != model.fingerprint()
    data = WORDS[2000:9000]
    blob = deepcompress.compress(data, model=str(tmp_path / "m.dcm"))
    assert deepcompress.decompress(blob, model=str(tmp_path / "m.dcm")) == data and len(blob) < len(data)


def test_processes_launched_together_refuse_standard_input(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    done = CliRunner().invoke(main, ["train", "-q", "-o", str(tmp_path / "m.dcm"), "-"], input=TEXT)
    assert done.exit_code == 2 and "standard input" in done.output
    assert not torch.distributed.is_initialized() and not (tmp_path / "m.dcm").exists()


def test_every_second_lf_text_piece_trains_with_crlf_line_ends():
    texts = [b"one\ntwo\n", b"three\n", b"dos\r\nline\r\n", b"\x00\x01binary", b"four\nfive\n", b"six\n"]
    pieces = train.crlf_variants(train.source_pieces([train.ByteSource.of_bytes(t) for t in texts]))
    loaded = [bytes(p.load().astype(np.uint8)) for p in pieces]
    assert loaded == [b"one\ntwo\n", b"three\r\n", b"dos\r\nline\r\n", b"\x00\x01binary", b"four\nfive\n", b"six\r\n"]
    assert [p.length for p in pieces] == [len(t) for t in loaded]
