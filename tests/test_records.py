"""Integer arrays beyond bytes: array round trips (API and CLI) and the record model."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepcompress import api, codec
from deepcompress.cli import main
from deepcompress.errors import ModelFileError
from deepcompress.modelfile import load_model, model_from_bytes, model_to_bytes, save_model
from deepcompress.models.exact import (
    FLOAT32_EXACT,
    ROW_SUM_LIMIT,
    check_exactness_bounds,
    exp_shift,
    quantize_stack,
)
from deepcompress.models.records import RecordConfig, RecordModel, RecordNet
from deepcompress.symbols import array_layout, storage_order_bytes
from deepcompress.train import TrainConfig, fit_record_mlp

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
WORKER = ROOT / "tests" / "records_worker.py"
GOLDEN_FINGERPRINT = "9721fccf9c1359f2fc9afccb0ec2e3ad"
GOLDEN_DCZ_SHA256 = "ddd9fd34655b148481dee4bd2cdbd732f9470e505e683bb6a8c740641c0319e8"
GOLDEN_NPY_SHA256 = "cf45d67e51d19e62275ad233a9f293e1ee7908de29b242a0f56572aa568b62fa"

DTYPES = [np.dtype(f"{order}{kind}{size}") for kind in "iu" for size in (1, 2, 4, 8)
          for order in (("|",) if size == 1 else ("<", ">"))]


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


@st.composite
def integer_arrays(draw) -> np.ndarray:
    """Any integer dtype and byte order, 0-d to 3-D (empty included), C or Fortran order;
    values span 1 to 65,536 consecutive values anywhere in the dtype's range."""
    dtype = draw(st.sampled_from(DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
    info = np.iinfo(dtype)
    span = draw(st.sampled_from([1, 2, 17, 256, 257, 65_536]))
    span = min(span, int(info.max) - int(info.min) + 1)
    low = draw(st.integers(int(info.min), int(info.max) - span + 1))
    size = int(np.prod(shape, dtype=np.int64))
    seed = draw(st.integers(0, 2**32 - 1))
    values = np.random.default_rng(seed).integers(0, span, size=size, dtype=np.uint64)
    if size >= 2:     # pin the span: the extremes occur
        values[0], values[-1] = 0, span - 1
    as_python = [low + int(v) for v in values]
    array = np.array(as_python, dtype=object).astype(dtype).reshape(shape) if size else np.zeros(shape, dtype)
    if draw(st.booleans()) and array.ndim >= 2:
        array = np.asfortranarray(array)
    return array


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(integer_arrays())
def test_array_round_trip_is_byte_identical(array):
    blob = api.compress_array(array)
    back = api.decompress_array(blob)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.isfortran(back) == np.isfortran(array)
    assert npy_bytes(back) == npy_bytes(array)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(array=integer_arrays())
def test_npy_file_round_trip_through_the_cli(tmp_path_factory, array):
    directory = tmp_path_factory.mktemp("cli")
    (directory / "a.npy").write_bytes(npy_bytes(array))
    runner = CliRunner()
    previous = os.getcwd()
    os.chdir(directory)
    try:
        assert runner.invoke(main, ["compress", "a.npy"], catch_exceptions=False).exit_code == 0
        os.unlink("a.npy")
        assert runner.invoke(main, ["decompress", "a.npy.dcz"], catch_exceptions=False).exit_code == 0
    finally:
        os.chdir(previous)
    assert (directory / "a.npy").read_bytes() == npy_bytes(array)


def test_alphabets_of_one_and_65536_values():
    for array in (np.full((7, 3), -5, np.int32), np.arange(65_536, dtype=">u4").reshape(256, 256) + 10**9):
        blob = api.compress_array(array)
        assert npy_bytes(api.decompress_array(blob)) == npy_bytes(array)
    assert len(api.compress_array(np.full(100_000, 3, np.int8))) < 1000   # one value: no payload to speak of


def test_non_integer_arrays_are_refused_clearly(tmp_path):
    for array in (np.zeros(3), np.array([True, False]), np.array(["a"]), np.zeros(2, np.complex64)):
        with pytest.raises(ValueError, match="only integer arrays"):
            api.compress_array(array)
    np.save(tmp_path / "f.npy", np.zeros((4, 4), np.float32))
    done = CliRunner().invoke(main, ["compress", "--as", "npy", str(tmp_path / "f.npy")])
    assert done.exit_code == 1 and "only integer arrays can be coded" in done.output
    done = CliRunner().invoke(main, ["train", "--model", "record-mlp", "-o", str(tmp_path / "m.dcm"),
                                     str(tmp_path / "f.npy")])
    assert done.exit_code == 1 and "integer .npy arrays only" in done.output


# --- the record model -------------------------------------------------------------------------


def records(n: int, seed: int, d: int = 3, levels: int = 5) -> np.ndarray:
    """Correlated records in [0, levels): each dimension near the previous one."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(-1, 2, size=(n, d))
    steps[:, 0] = rng.integers(0, levels, n)
    return np.clip(np.cumsum(steps, axis=1), 0, levels - 1)


def random_model(config: RecordConfig, sharpen: float = 8.0, seed: int = 0, n_records: int = 300) -> RecordModel:
    torch.manual_seed(seed)
    net = RecordNet(config).eval()
    with torch.no_grad():
        net.output.weight.mul_(sharpen)
        net.position.weight.normal_()
    rng = np.random.default_rng(seed)
    symbols = rng.integers(0, config.alphabet_size, size=n_records * config.record_size)
    return RecordModel.from_net(net, config.inputs(symbols))


@pytest.fixture(scope="module")
def peaked() -> RecordModel:
    return random_model(RecordConfig(17, 10, (64, 32), embed_dim=4))


def test_tables_are_batch_independent_and_equal_the_integer_reference(peaked):
    symbols = np.random.default_rng(1).integers(0, 17, size=10 * 50 + 7)
    inputs = peaked.net_config.inputs(symbols)
    batched = peaked.frequencies(inputs)
    assert batched.dtype == np.int64 and batched.shape == (len(inputs), 17) and batched.min() >= 1
    assert batched.sum(axis=1).max() < ROW_SUM_LIMIT
    one_by_one = np.concatenate([peaked.frequencies(inputs[i:i + 1]) for i in range(len(inputs))])
    assert np.array_equal(batched, one_by_one)
    assert np.array_equal(batched, peaked.network.reference_frequencies(inputs))


@pytest.mark.parametrize("environment", [
    {"ATEN_CPU_CAPABILITY": "default"},
    {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "COMPATIBLE", "DEEPCOMPRESS_THREADS": "2"},
])
def test_tables_equal_in_another_process(tmp_path, peaked, environment):
    if environment.get("ATEN_CPU_CAPABILITY") == "avx2" and "avx2" not in Path("/proc/cpuinfo").read_text():
        pytest.skip("no AVX2 on this CPU")
    symbols = np.random.default_rng(2).integers(0, 17, size=10 * 200)
    inputs = peaked.net_config.inputs(symbols)
    save_model(peaked, tmp_path / "m.dcm")
    np.save(tmp_path / "inputs.npy", inputs)
    env = {**os.environ, **environment}
    subprocess.run([sys.executable, str(WORKER), str(tmp_path / "m.dcm"), str(tmp_path / "inputs.npy"),
                    str(tmp_path / "out.npy")], env=env, check=True, timeout=120)
    assert np.array_equal(np.load(tmp_path / "out.npy"), peaked.frequencies(inputs))


@pytest.mark.parametrize("block_size", [1, 7, 30, 1 << 20])
@pytest.mark.parametrize("coder", ["range", "ans"])
def test_record_model_round_trip_across_blocks(peaked, block_size, coder):
    data = np.random.default_rng(3).integers(0, 17, size=(23, 10)).astype(">i2")
    data[-1, -3:] = 16
    sink = io.BytesIO()
    stats = api.compress_stream(io.BytesIO(storage_order_bytes(data)), sink, peaked, coder, block_size,
                                array_layout(data, (0, 17)))
    assert npy_bytes(api.decompress_array(sink.getvalue(), peaked)) == npy_bytes(data)
    # the NLL of the coded stream is the model's, whatever the blocks
    assert stats.nll_bits == pytest.approx(float(peaked.symbol_bits(data.reshape(-1)).sum()), rel=1e-3)
    assert stats.payload_bits - stats.nll_bits <= 1e-4 * stats.nll_bits + 128 * (-(-data.size // block_size))


def test_check_inverse_with_records_split_across_blocks(peaked):
    data = records(45, 3, d=10, levels=17).reshape(-1)[:447]      # 44.7 records: the last one partial
    codec.check_inverse(peaked, data, blocks=4)                    # blocks of 112 elements split records


def test_record_model_codes_any_shape_and_order(peaked):
    for data in (np.arange(7 * 10, dtype=np.uint8).reshape(7, 10) % 17,
                 np.asfortranarray(np.arange(60, dtype="<u8").reshape(6, 10) % 17),
                 np.zeros((2, 5, 3), np.int64), np.array(4, np.int8), np.zeros((0, 10), np.uint16)):
        blob = api.compress_array(data, peaked)
        assert npy_bytes(api.decompress_array(blob, peaked)) == npy_bytes(data)
    with pytest.raises(ValueError, match=r"outside the alphabet \[0, 17\)"):
        api.compress_array(np.array([[0, 17]]), peaked)


def test_decision_order_and_symbol_bits(peaked):
    data = np.random.default_rng(4).integers(0, 17, size=95)          # 9.5 records
    bits = api.symbol_bits(data, peaked)        # the coder's 24-bit quantisation of the same tables
    assert np.allclose(bits, peaked.symbol_bits(data), atol=1e-3)
    session = peaked.session()
    list(session.encode_block(data[:13], 1))
    positions = session.decision_positions(13, 1)
    assert sorted(positions.tolist()) == list(range(13))
    # dimension-major within a group: the first record's 10 dims are not consecutive decisions
    assert positions[:2].tolist() == [0, 10]


def test_sampling_is_deterministic_and_follows_the_tables():
    model = random_model(RecordConfig(3, 2, (16,), embed_dim=2), sharpen=3.0, seed=5)
    samples = model.sample(20_000, seed=7)
    assert samples.shape == (20_000, 2) and samples.min() >= 0 and samples.max() < 3
    assert np.array_equal(samples, model.sample(20_000, seed=7))
    grid = np.zeros((1, 2), np.int64)
    first = model.frequencies(model.net_config.element_inputs(grid, np.zeros(1, np.int64), np.zeros(1, np.int64)))[0]
    observed = np.bincount(samples[:, 0], minlength=3) / len(samples)
    assert np.allclose(observed, first / first.sum(), atol=0.015)


def test_training_learns_the_structure_and_model_files_round_trip(tmp_path):
    data = records(1500, 0)
    config = RecordConfig(5, 3, (32,), embed_dim=3)
    fitted = fit_record_mlp([data.reshape(-1)], config, TrainConfig(epochs=4, batch_size=64, learning_rate=1e-2,
                                                                    seed=0, threads=1))
    independent = np.log2(5) + 2 * np.log2(3)        # entropy of the generator, roughly: x1 uniform, steps of 3
    assert fitted.integer_validation_bits * 3 < independent + 0.4
    blob = model_to_bytes(fitted.model)
    loaded, _ = model_from_bytes(blob)
    assert loaded.fingerprint() == fitted.model.fingerprint() and loaded.name == "record-mlp"
    assert len(blob) < 20_000
    damaged = bytearray(blob)
    damaged[-10] ^= 1
    with pytest.raises(ModelFileError):
        model_from_bytes(bytes(damaged))


def test_golden_record_model_decodes_to_known_bytes():
    model, _ = load_model(GOLDEN / "records_k5_d3.dcm")
    assert model.fingerprint() == GOLDEN_FINGERPRINT
    blob = (GOLDEN / "records_k5_d3.dcz").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == GOLDEN_DCZ_SHA256
    decoded = api.decompress(blob, model)
    assert hashlib.sha256(decoded).hexdigest() == GOLDEN_NPY_SHA256
    array = np.load(io.BytesIO(decoded))
    assert array.shape == (41, 3) and array.dtype == np.int16
    # the frozen v1 stream above still decodes; the encoder writes format 3, pinned by the v3 golden
    # stream (scripts/make_golden_format.py), which names the model by fingerprint and decodes alike
    sink = io.BytesIO()
    api.compress_stream(io.BytesIO(storage_order_bytes(array)), sink, model, "range", 50, array_layout(array, (0, 5)))
    assert sink.getvalue() == (GOLDEN / "v3" / "records_k5_d3.dcz").read_bytes()
    assert api.decompress(sink.getvalue(), model) == decoded


def test_exactness_bounds_hold_for_wide_records_and_large_alphabets():
    # many input columns: the first-layer scale keeps columns * max|table| below 2**24
    config = RecordConfig(3, 1500, (8,), embed_dim=2)
    model = random_model(config, sharpen=1.0, n_records=3)
    table_bound = len(config.column_sizes) * int(np.abs(model.network.first_table.astype(np.int64)).max())
    assert table_bound < FLOAT32_EXACT
    # large alphabets: the softmax table is shifted so that rows stay below 2**31
    assert exp_shift(511) == 0 and exp_shift(512) == 1 and exp_shift(4096) == 4
    big = random_model(RecordConfig(4096, 2, (16,), embed_dim=4), sharpen=1.0)
    freqs = big.frequencies(big.net_config.inputs(np.arange(40) * 97 % 4096))
    assert freqs.min() >= 1 and freqs.sum(axis=1).max() < ROW_SUM_LIMIT
    data = (np.arange(64) * 331 % 4096).reshape(32, 2).astype(np.uint16)
    assert np.array_equal(api.decompress_array(api.compress_array(data, big), big), data)
    # a network whose dot products could exceed 2**24 (600-wide hidden layer) is refused
    with pytest.raises(ValueError, match="2\\*\\*24"):
        quantize_stack((3,), torch.ones(3, 600), torch.zeros(600),
                       [(torch.ones(4, 600), torch.zeros(4))], [1.0])
    check_exactness_bounds(big.network)


# --- the CLI on arrays ---------------------------------------------------------------------------


def test_cli_train_compress_decompress_nll_sample(tmp_path, monkeypatch):
    np.save(tmp_path / "train.npy", records(800, 1).astype(np.uint8))
    test = records(50, 2).astype(np.int32)
    np.save(tmp_path / "test.npy", test)
    bad = test.copy()
    bad[3, 1] = 5
    np.save(tmp_path / "bad.npy", bad)

    def run(*args: str, ok: int = 0):
        done = CliRunner().invoke(main, list(args), catch_exceptions=False)
        assert done.exit_code == ok, done.output
        return done

    monkeypatch.chdir(tmp_path)
    run("train", "--model", "record-mlp", "--hidden", "16", "--embed", "2", "--epochs", "2", "-q",
        "train.npy", "-o", "m.dcm")
    run("train", "--model", "histogram", "-q", "train.npy", "-o", "h.dcm")
    assert load_model("m.dcm")[0].alphabet_size == 5 and load_model("h.dcm")[0].alphabet_size == 5
    run("compress", "-m", "m.dcm", "test.npy")
    os.unlink("test.npy")
    run("decompress", "-m", "m.dcm", "test.npy.dcz")
    assert Path("test.npy").read_bytes() == npy_bytes(test)
    for model in ("m.dcm", "h.dcm"):
        line = run("nll", "-m", model, "test.npy").output
        assert "bits/record" in line and "bits/symbol" in line
    failed = run("compress", "-m", "m.dcm", "bad.npy", ok=1)
    assert failed.output.strip().count("\n") == 0
    assert "outside the model's alphabet [0, 5)" in failed.output
    run("sample", "-m", "m.dcm", "-n", "12", "-o", "s.npy")
    samples = np.load("s.npy")
    assert samples.shape == (12, 3) and samples.max() < 5


def test_cli_runs_as_a_real_process_on_arrays(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    data = np.asfortranarray(np.arange(-40, 80, dtype=">i8").reshape(10, 12))
    np.save(tmp_path / "a.npy", data)
    for args in (["compress", "a.npy"], ["decompress", "-f", "a.npy.dcz"],
                 ["compress", "-f", "-m", str(GOLDEN / "records_k5_d3.dcm"), "a.npy"]):
        done = subprocess.run([sys.executable, "-m", "deepcompress", *args], cwd=tmp_path, env=env,
                              capture_output=True, timeout=60, check=False)
        if args[-2].endswith(".dcm"):
            assert done.returncode == 1 and b"Traceback" not in done.stderr
            assert done.stderr.decode().strip() == ("deepcompress: a.npy: array values [-40, 79] lie outside "
                                                    "the model's alphabet [0, 5)")
        else:
            assert done.returncode == 0, done.stderr
    assert (tmp_path / "a.npy").read_bytes() == npy_bytes(data)
