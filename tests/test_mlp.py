"""The autoregressive MLP: exact integer tables, lanes, training, model files."""

import hashlib
import os
import struct
import subprocess
import sys
import zlib
from decimal import Decimal, getcontext
from pathlib import Path

import numpy as np
import pytest
import torch

from deepcompress import codec
from deepcompress.errors import ModelFileError
from deepcompress.modelfile import load_model, model_from_bytes, model_to_bytes, save_model
from deepcompress.models.exp_table import EXP_BITS, EXP_CAP, EXP_TABLE, LOGIT_ONE
from deepcompress.models.lanes import choose_lanes, lane_lengths
from deepcompress.models.mlp import MLPConfig, MLPModel, MLPNet
from deepcompress.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "mlp_toy_k1.dcm"
WORKER = ROOT / "tests" / "mlp_worker.py"
SAMPLE_TEXT = (ROOT / "samples" / "sample.txt").read_bytes()


class FixedLanes:
    """Stands in for a model in `codec.encode_block`: a fixed lane count."""

    self_coder = None

    def __init__(self, lanes: int) -> None:
        self.lanes = lanes

    def choose_lanes(self, n_symbols: int) -> int:
        return self.lanes


def text_symbols(data: bytes = SAMPLE_TEXT) -> np.ndarray:
    return np.frombuffer(data, np.uint8).astype(np.int64)


@pytest.fixture(scope="module")
def peaked_model() -> MLPModel:
    """Random-weight MLP with a 512-wide first layer, follower features and peaked outputs."""
    torch.manual_seed(0)
    config = MLPConfig(256, context_size=8, embed_dim=16, hidden=(512, 64),
                       follower_orders=(2, 4, 8), follower_table_bits=14)
    net = MLPNet(config).eval()
    with torch.no_grad():
        net.output.weight.mul_(40.0)
    return MLPModel.from_net(net, config.inputs(text_symbols()))


@pytest.fixture(scope="module")
def peaked_data(peaked_model) -> np.ndarray:
    return np.concatenate([text_symbols()[:1200], peaked_model.sample(300, seed=3)])


def test_exp_table_is_its_definition():
    getcontext().prec = 50
    expected = [max(1, int((Decimal(2) ** EXP_BITS * (Decimal(-i) / LOGIT_ONE).exp()).to_integral_value()))
                for i in range(EXP_CAP + 1)]
    assert list(EXP_TABLE) == expected and EXP_TABLE[-1] == 1 and EXP_TABLE[-2] > 1


def test_frequencies_equal_integer_reference_for_any_batch(peaked_model, peaked_data):
    inputs = peaked_model.mlp_config.inputs(peaked_data)
    batched = peaked_model.frequencies(inputs)
    assert batched.dtype == np.int64 and batched.shape == (len(inputs), 256) and batched.min() >= 1
    assert batched.sum(axis=1).max() < 2**31
    assert np.array_equal(batched[::4], peaked_model.network.reference_frequencies(inputs[::4]))
    one_by_one = np.concatenate([peaked_model.frequencies(inputs[i:i + 1]) for i in range(100)])
    assert np.array_equal(batched[:100], one_by_one)
    assert np.array_equal(batched, np.concatenate([peaked_model.frequencies(inputs[i:i + 97])
                                                   for i in range(0, len(inputs), 97)]))


def test_matmul_bound_refuses_too_wide_layer():
    config = MLPConfig(16, context_size=2, embed_dim=4, hidden=(600, 8))
    with pytest.raises(ValueError, match="2\\*\\*24"):
        MLPModel.from_net(MLPNet(config).eval(), np.zeros((10, 2), np.int64))


@pytest.mark.parametrize("lanes", [1, 7, 64, 5000])
def test_lanes_round_trip_through_range_coder(peaked_model, peaked_data, lanes):
    block = codec.encode_block(FixedLanes(lanes), peaked_model.session(), peaked_data)
    assert np.array_equal(codec.decode_block(peaked_model, peaked_model.session(), block), peaked_data)
    assert block.payload_bits - block.nll_bits <= 1e-4 * block.nll_bits + 128


def test_decoder_tables_equal_encoder_tables(peaked_model, peaked_data):
    encoded = list(peaked_model.session().encode_block(peaked_data, lanes=5))
    steps = peaked_model.session().decode_block(len(peaked_data), lanes=5)
    decisions = np.concatenate([d for d, _ in encoded])
    decoded_tables, at = [], 0
    chunk = next(steps)
    try:
        while True:
            decoded_tables.append(chunk.freqs)
            chunk = steps.send(decisions[at:at + chunk.count])
            at += len(decoded_tables[-1])
    except StopIteration as stop:
        assert np.array_equal(stop.value, peaked_data)
    assert np.array_equal(np.concatenate(decoded_tables), np.concatenate([c.freqs for _, c in encoded]))


def test_state_carries_across_blocks(peaked_model, peaked_data):
    encoder, decoder = peaked_model.session(), peaked_model.session()
    for block_symbols, lanes in [(peaked_data[:700], 5), (peaked_data[700:701], 1), (peaked_data[701:], 9)]:
        block = codec.encode_block(FixedLanes(lanes), encoder, block_symbols)
        assert np.array_equal(codec.decode_block(peaked_model, decoder, block), block_symbols)
    fresh = codec.encode_block(FixedLanes(9), peaked_model.session(), peaked_data[701:])
    assert not np.array_equal(fresh.words, block.words)        # the history was used


def test_lane_layout():
    assert list(lane_lengths(10, 4)) == [3, 3, 3, 1]
    assert list(lane_lengths(9, 4)) == [3, 3, 3, 0]
    assert all(lane_lengths(n, s).sum() == n for n in (0, 1, 5, 1000) for s in (1, 3, 64))
    assert choose_lanes(10) == 1
    lanes = [choose_lanes(n) for n in (10**3, 10**4, 10**5, 10**6, 10**7)]
    assert lanes == sorted(lanes) and lanes[-1] > 1


ENVIRONMENTS = {
    "1 thread": {"DEEPCOMPRESS_THREADS": "1"},
    "2 threads": {"DEEPCOMPRESS_THREADS": "2"},
    "ATen default": {"ATEN_CPU_CAPABILITY": "default"},
    "ATen avx2, MKL_CBWR=COMPATIBLE": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE"},
}


def run_worker(environment: dict, *args) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    subprocess.run([sys.executable, str(WORKER), *map(str, args)], env={**env, **environment},
                   check=True, timeout=120)


@pytest.fixture(scope="module")
def saved_peaked(peaked_model, peaked_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("exact")
    save_model(peaked_model, folder / "model.dcm")
    np.save(folder / "data.npy", peaked_data)
    return folder


def test_tables_identical_across_processes_and_environments(peaked_model, peaked_data, saved_peaked):
    expected = peaked_model.frequencies(peaked_model.mlp_config.inputs(peaked_data))
    for index, (name, environment) in enumerate(ENVIRONMENTS.items()):
        out = saved_peaked / f"tables{index}.npy"
        run_worker(environment, "tables", saved_peaked / "model.dcm", saved_peaked / "data.npy", out,
                   1 + 37 * index)
        assert np.array_equal(np.load(out), expected), name


def test_encode_in_one_environment_decode_in_another(peaked_data, saved_peaked):
    folder = saved_peaked
    run_worker(ENVIRONMENTS["ATen default"], "encode", folder / "model.dcm", folder / "data.npy", 16,
               folder / "words.npy")
    run_worker(ENVIRONMENTS["ATen avx2, MKL_CBWR=COMPATIBLE"] | {"DEEPCOMPRESS_THREADS": "2"}, "decode",
               folder / "model.dcm", folder / "words.npy", len(peaked_data), 16, folder / "decoded.npy")
    assert np.array_equal(np.load(folder / "decoded.npy"), peaked_data)


def test_toy_k1_model_trains_and_quantises_within_one_percent():
    """The lecture's toy model: p(x1) is the pad row, p(x_i | x_{i-1}) an MLP."""
    torch.manual_seed(0)
    net = MLPNet(MLPConfig(256, context_size=1, embed_dim=8, hidden=(32,)))
    symbols = text_symbols()
    reports = []
    result = train(net, [symbols] * 2, TrainConfig(epochs=3, batch_size=64, learning_rate=1e-2, seed=1),
                   on_progress=reports.append)
    assert reports and result.best_validation_bits < 4.0
    with torch.no_grad():
        float_bits = -float(net.log_prob(torch.from_numpy(net.inputs(symbols)),
                                         torch.from_numpy(symbols)).double().sum()) / np.log(2)
    model = MLPModel.from_net(net, net.inputs(symbols))
    assert model.nll_bits(symbols) <= 1.01 * float_bits
    # truncated windows teach the pad row the order-0 histogram
    first = model.frequencies(np.array([[256]]))[0]
    assert np.argmax(first) == np.argmax(np.bincount(symbols))


def test_training_is_deterministic_for_a_seed():
    def fit() -> bytes:
        torch.manual_seed(5)
        net = MLPNet(MLPConfig(256, context_size=3, embed_dim=4, hidden=(16,), follower_orders=(2,)))
        train(net, [text_symbols()], TrainConfig(epochs=1, batch_size=128, seed=7, threads=1))
        return b"".join(p.detach().numpy().tobytes() for p in net.parameters())
    assert fit() == fit()


def test_sample_is_deterministic_and_in_alphabet(peaked_model):
    first = peaked_model.sample(300, seed=11)
    assert np.array_equal(first, peaked_model.sample(300, seed=11))
    assert first.dtype == np.int64 and first.min() >= 0 and first.max() < 256
    assert not np.array_equal(first, peaked_model.sample(300, seed=12))


def test_model_file_round_trip(peaked_model, tmp_path):
    save_model(peaked_model, tmp_path / "m.dcm", metadata={"note": "test"})
    loaded, metadata = load_model(tmp_path / "m.dcm")
    assert metadata == {"note": "test"} and loaded.fingerprint() == peaked_model.fingerprint()
    inputs = peaked_model.mlp_config.inputs(text_symbols())
    assert np.array_equal(loaded.frequencies(inputs), peaked_model.frequencies(inputs))


def reseal(body: bytes) -> bytes:
    """A file body with a fresh CRC, to test checks behind the CRC."""
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("damage", ["flip", "truncate", "magic", "version", "not a model", "empty",
                                    "unknown model", "wrong fingerprint", "short array"])
def test_damaged_model_files_are_refused(peaked_model, damage):
    blob = model_to_bytes(peaked_model)
    header_len = struct.unpack_from("<I", blob, 6)[0]
    header = blob[10:10 + header_len]
    damaged = {
        "flip": blob[:500] + bytes([blob[500] ^ 1]) + blob[501:],
        "truncate": blob[:-1000],
        "magic": b"XYZ\x00" + blob[4:],
        "version": reseal(blob[:4] + struct.pack("<H", 99) + blob[6:-4]),
        "not a model": SAMPLE_TEXT,
        "empty": b"",
        "unknown model": reseal(blob[:10] + header.replace(b'"model": "mlp"', b'"model": "xyz"') + blob[10 + header_len:-4]),
        "wrong fingerprint": reseal(blob[:10] + header.replace(b'"fingerprint": "', b'"fingerprint": "0') + blob[10 + header_len:-4]),
        "short array": reseal(blob[:-8]),
    }[damage]
    with pytest.raises(ModelFileError):
        model_from_bytes(damaged)


def test_golden_model_tables_and_words_are_pinned():
    """tests/golden/mlp_toy_k1.dcm (scripts/make_golden_mlp.py): a bitstream change shows up here."""
    model, _ = load_model(GOLDEN)
    tables = model.frequencies(np.arange(257)[:, None])
    assert hashlib.sha256(tables.astype("<i8").tobytes()).hexdigest()[:16] == "22165ec2bd79f0b4"
    block = codec.encode_block(FixedLanes(3), model.session(), text_symbols())
    assert hashlib.sha256(block.words.astype("<u4").tobytes()).hexdigest()[:16] == "744d5b6b918fa96e"
    assert model.fingerprint() == "55526c5052db835c417cab98acab6688"
