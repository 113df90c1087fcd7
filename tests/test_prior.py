"""Trained priors of the adaptive engine (`models.prior`, `deepcompress train --model adaptive`)."""

from __future__ import annotations

import hashlib
import json
import lzma
import struct
import zlib
from pathlib import Path

import make_golden_prior as GOLDEN_SCRIPT
import numpy as np
import pytest
from dcz_layout import as_version_3

import deepcompress
from deepcompress import api, modelfile
from deepcompress.errors import ModelFileError, ModelMismatchError
from deepcompress.models import _cm3_kernels as K3
from deepcompress.models import prior
from deepcompress.models.adaptive import AdaptiveModel

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
# printed by scripts/make_golden_prior.py when the golden prior was written
GOLDEN_FINGERPRINT = "a8c3845ba7cda6730a6944f0a1101b77"
GOLDEN_DCM_SHA256 = "485122ff5a1de1582cf267a7790c67071467243b9d6108aa08a8a856f3082408"
GOLDEN_DCZ_SHA256 = "7af588c4fd97d8b550906d13e253601f1c8ec85efbf2cd30f6f2331a9e212070"


# Small files of one kind: a shared licence header, then a few lines of their own.
HEADER = b"".join(b"# line %d of the licence: Permission is hereby granted, free of charge\n" % i for i in range(12))


def small_file(i: int) -> bytes:
    return HEADER + b"".join(b"def function_%d_%d(x):\n    return x * %d + %d\n" % (i, j, i, j) for j in range(1 + i % 5))


TRAINING = [small_file(i) for i in range(0, 60, 2)]
HELD_OUT = [small_file(i) for i in range(1, 60, 2)]


@pytest.fixture(scope="module", params=[prior.PRIOR_ENGINE2_PRESET, 6], ids=["engine2", "engine3"])
def trained(request) -> prior.PriorModel:
    """A prior of each engine that takes one: preset 2 (engine 2) and the default, preset 6 (engine 3)."""
    return prior.train_prior(TRAINING, 5, 32_000, preset=request.param)


def test_round_trip_through_the_api_file_api_and_incremental_objects(trained, tmp_path):
    path = tmp_path / "prior.dcm"
    path.write_bytes(api.model_file_bytes(trained))
    data = HELD_OUT[3] * 3
    for model in (trained, path, str(path)):
        blob = deepcompress.compress(data, model=model)
        assert deepcompress.decompress(blob, model=model) == data
    compressor = deepcompress.Compressor(model=path)
    blob = compressor.compress(data[:100]) + compressor.compress(data[100:]) + compressor.flush()
    assert blob == deepcompress.compress(data, model=path)
    assert deepcompress.Decompressor(model=path).decompress(blob) == data
    with deepcompress.open(tmp_path / "x.dcz", "wb", model=path) as f:
        f.write(data)
    with deepcompress.open(tmp_path / "x.dcz", "rb", model=path) as f:
        assert f.read() == data


def test_inputs_larger_than_the_training_files_get_larger_tables(trained, tmp_path):
    """Hashed tables are not stored, so they grow with the input as the default level's do; the
    decoder, given the model file, finds the sized variant from the header."""
    path = tmp_path / "prior.dcm"
    path.write_bytes(api.model_file_bytes(trained))
    data = b"".join(small_file(i) for i in range(1000, 1300))  # ~500 kB
    sized = trained.sized_for(len(data))
    default = AdaptiveModel(preset=trained.base.preset).sized_for(len(data)).hyperparameters()["hash_bits"]
    assert sized.config()["hash_bits"] == default > trained.config()["hash_bits"]
    assert sized.fingerprint() != trained.fingerprint()
    blob = deepcompress.compress(data, model=path)
    assert deepcompress.decompress(blob, model=path) == data
    for n in (1, 1000, 1024, 1025, 70_000):
        assert trained.sized_for(n).fingerprint() == trained.sized_for(1 << (n - 1).bit_length()).fingerprint()


def test_prior_beats_the_untrained_default_on_files_of_its_kind(trained):
    with_prior = sum(len(deepcompress.compress(data, model=trained)) for data in HELD_OUT)
    default = sum(len(deepcompress.compress(data)) for data in HELD_OUT)
    assert with_prior < 0.8 * default, (with_prior, default)


def test_every_file_starts_from_the_same_state(trained):
    """The prior is copied, not shared: coding one stream leaves the next one unchanged."""
    first = deepcompress.compress(HELD_OUT[0], model=trained)
    deepcompress.compress(HELD_OUT[1], model=trained)
    assert deepcompress.compress(HELD_OUT[0], model=trained) == first


def test_a_stream_of_one_prior_is_refused_with_another_or_none(trained):
    other = prior.train_prior(TRAINING[:-1], 5, 32_000)
    blob = deepcompress.compress(HELD_OUT[0], model=trained)
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        deepcompress.decompress(blob, model=other)
    with pytest.raises(ModelMismatchError, match="pass it as model"):
        deepcompress.decompress(blob)
    with pytest.raises(ModelMismatchError):
        deepcompress.decompress(deepcompress.compress(HELD_OUT[0]), model=trained)


@pytest.mark.parametrize("budget", [40_000, 80_000])
def test_the_model_file_fits_its_budget_and_a_larger_budget_keeps_more_history(budget):
    files = [bytes(np.random.default_rng(i).integers(97, 123, 3000, dtype=np.uint8)) + HEADER for i in range(40)]
    model = prior.train_prior(files, 5, budget)
    assert len(api.model_file_bytes(model, {"training": {"files": 40}})) <= budget
    small = prior.train_prior(files, 5, budget // 2)
    assert small.hyperparameters()["history_bytes"] < model.hyperparameters()["history_bytes"]


def test_budget_too_small_for_the_tables_is_a_clear_error():
    with pytest.raises(ValueError, match="need more than 5000 bytes"):
        prior.train_prior(TRAINING, 5, 5000, preset=prior.PRIOR_ENGINE2_PRESET)
    with pytest.raises(ValueError, match="need more than 5000 bytes"):
        prior.train_prior(TRAINING, 5, 5000, stored=prior.TABLE_CHOICES[0])  # engine 3, every table


def _kept_tables(model: prior.PriorModel) -> list[str]:
    fresh = prior._fresh3({**model.base.hyperparameters(), "preset": model.config()["preset"]})
    return [name for name in fresh if not np.array_equal(model._initial[name], fresh[name])]


def test_the_default_level_measures_which_engine3_tables_to_keep():
    """`TABLE_CHOICES`, chosen on held-out training files: unprimed, at 4 KB only the last
    choice's tables fit; at 32 KB all of them fit and pay. Primed, storing none (all the room
    to history) is a choice too, and the one that pays on these files."""
    small, large = (prior.train_prior(TRAINING, 5, budget, prime_bytes=0) for budget in (prior.MIN_BUDGET, 32_000))
    primed = prior.train_prior(TRAINING, 5, 32_000)
    assert small.config()["preset"] == large.config()["preset"] == primed.config()["preset"] == 6
    assert len(api.model_file_bytes(small, {})) <= prior.MIN_BUDGET
    assert _kept_tables(small) == list(prior.TABLE_CHOICES[-1])
    assert _kept_tables(large) == list(prior.TABLE_CHOICES[0])
    assert _kept_tables(primed) == [] and primed.config()["prime_bytes"] > 0
    for model in (small, large, primed):
        assert deepcompress.decompress(deepcompress.compress(HELD_OUT[0], model), model=model) == HELD_OUT[0]
    with pytest.raises(ValueError, match="at least"):
        prior.train_prior(TRAINING, 5, 100)


def test_a_primed_prior_learns_its_history_once_and_codes_smaller(tmp_path):
    """Priming runs the engine over the history's end when the first session starts (once per
    process and variant: later sessions copy that state and never move it); the files it codes
    decode from the model file in a fresh process's way (a new PriorModel) and are smaller than
    with the same prior unprimed."""
    primed = prior.train_prior(TRAINING, 5, 32_000)
    unprimed = prior.PriorModel({k: v for k, v in primed.config().items() if k != "prime_bytes"},
                                primed.parameter_arrays()["snapshot"])
    assert primed.fingerprint() != unprimed.fingerprint()
    blobs = [deepcompress.compress(data, model=primed) for data in HELD_OUT]
    assert sum(map(len, blobs)) < 0.97 * sum(len(deepcompress.compress(data, model=unprimed)) for data in HELD_OUT)
    assert [deepcompress.compress(data, model=primed) for data in HELD_OUT] == blobs  # the primed state never moves
    path = tmp_path / "primed.dcm"
    path.write_bytes(api.model_file_bytes(primed))
    again = api.load_model(path)
    assert again._primed[0] is None  # loading primes nothing: the first session does
    assert [deepcompress.decompress(blob, model=again) for blob in blobs] == HELD_OUT
    with pytest.raises(ModelMismatchError, match="fingerprint"):
        deepcompress.decompress(blobs[0], model=unprimed)


@pytest.mark.parametrize("prime_bytes", [0, prior.MAX_PRIME_BYTES + 1, "many"])
def test_a_prime_length_out_of_bounds_is_refused(prime_bytes):
    primed = prior.train_prior(TRAINING, 5, 32_000)
    history = primed.hyperparameters()["history_bytes"]
    with pytest.raises(ValueError, match="prime_bytes|integers"):
        prior.PriorModel({**primed.config(), "prime_bytes": prime_bytes}, primed.parameter_arrays()["snapshot"])
    with pytest.raises(ValueError, match="exceeds the prior's history"):
        prior.PriorModel({**primed.config(), "prime_bytes": history + 1}, primed.parameter_arrays()["snapshot"])
    with pytest.raises(ValueError, match="primes 0 to"):
        prior.train_prior(TRAINING, 5, 32_000, preset=prior.PRIOR_ENGINE2_PRESET, prime_bytes=1000)


def test_golden_prior_decodes_its_stream_and_recompresses_identically():
    dcm = (GOLDEN / "prior_tiny.dcm").read_bytes()
    dcz = (GOLDEN / "prior_tiny.dcz").read_bytes()
    assert hashlib.sha256(dcm).hexdigest() == GOLDEN_DCM_SHA256, "golden prior changed on disk"
    assert hashlib.sha256(dcz).hexdigest() == GOLDEN_DCZ_SHA256, "golden stream changed on disk"
    model = api.load_model(GOLDEN / "prior_tiny.dcm")
    assert model.fingerprint() == GOLDEN_FINGERPRINT
    assert deepcompress.decompress(dcz, model=model) == GOLDEN_SCRIPT.SAMPLE
    assert deepcompress.compress(GOLDEN_SCRIPT.SAMPLE, model=model) == as_version_3(dcz)  # a v2 stream


# tests/golden/prior3_*.{dcm,dcz}: the default level's engine-3 priors (scripts/make_golden_prior.py --prior3,
# --prior3-primed): prior3_tiny (40 KB, tables whole) frozen, written before training rounded tables;
# prior3_rounded_tiny (12 KB, unprimed); prior3_primed_tiny (12 KB, primed, as training makes them by default).
GOLDEN3 = {"prior3_tiny": {"fingerprint": "da2dcb25a54417df149f246fd8d7a7b3",
                           "dcm": "8b82b3ba43e49d5cd2fc037b22b87dde7b7ac311fb79f63d288fdcdb2ebd8512",
                           "dcz": "a6556554fe0bde98f07b1a1ff52bed07b74bce6ba08680d817f24bed02b0b17e"},
           "prior3_rounded_tiny": {"fingerprint": "1d71cebdb661ae7c7576673bd1047ccc",
                                   "dcm": "7a5ac8f876dcddd6101df462a7622b4f971c942efd9b143968d1143f23426794",
                                   "dcz": "617c1e69e428acb9e0f261a24810db748cf49b26a2b2d116996a45f7e64677c9"},
           "prior3_primed_tiny": {"fingerprint": "d01cd4e3a4e566da5f17d2a12fb9202a",
                                  "dcm": "dfd27af30281f966214a89ac94186f42a213ea018fc0ae310a0e5d6bae0a6c12",
                                  "dcz": "bbe9e6bedb9e93e7771f0dbd5df2feb8cd58f64b0dc9b9e509ee801f0c4d0425"}}


@pytest.mark.parametrize("name", sorted(GOLDEN3))
def test_golden_engine3_prior_decodes_its_stream_and_recompresses_identically(name):
    dcm = (GOLDEN / f"{name}.dcm").read_bytes()
    dcz = (GOLDEN / f"{name}.dcz").read_bytes()
    assert hashlib.sha256(dcm).hexdigest() == GOLDEN3[name]["dcm"], "golden prior changed on disk"
    assert hashlib.sha256(dcz).hexdigest() == GOLDEN3[name]["dcz"], "golden stream changed on disk"
    model = api.load_model(GOLDEN / f"{name}.dcm")
    assert model.fingerprint() == GOLDEN3[name]["fingerprint"] and model.config()["preset"] == 6
    assert deepcompress.decompress(dcz, model=model) == GOLDEN_SCRIPT.HYBRID_SAMPLE
    assert deepcompress.compress(GOLDEN_SCRIPT.HYBRID_SAMPLE, model=model) == as_version_3(dcz)  # a v2 stream


@pytest.mark.parametrize(("name", "budget", "prime_bytes"),
                         [("prior3_tiny", 40_000, 0), ("prior3_rounded_tiny", 12_000, 0), ("prior3_primed_tiny", 12_000, None)])
def test_training_again_gives_the_golden_engine3_state(name, budget, prime_bytes):
    """Unprimed, at 40 KB the tables whole and all the history fit (stored whole, as before tables
    were rounded); at 12 KB they do not, and the tables are rounded. Primed (the default), the
    golden keeps what the measured choice keeps."""
    golden = api.load_model(GOLDEN / f"{name}.dcm")
    again = prior.train_prior(GOLDEN_SCRIPT.TRAINING, 5, budget, prime_bytes=prime_bytes)
    assert again.config() == golden.config()
    for table in (*K3.PRIOR_TABLES, "history"):
        assert np.array_equal(again._initial[table], golden._initial[table]), table


def test_rounded_tables_pack_smaller_and_stay_near_what_training_learned():
    """`round_tables3` on the frozen golden's tables (stored whole): it changes only what training
    moved, keeps every value in its table's range, leaves each counter's 12-bit probability (what
    the kernel reads) within half a 1/256 step and counts <= ROUND_COUNT_LIMIT, rounds mixer
    weights' and APM entries' changes from fresh to their grids, and packs several times smaller."""
    frozen = api.load_model(GOLDEN / "prior3_tiny.dcm")
    config = {**frozen.base.hyperparameters(), "preset": 6}
    tables = {name: frozen._initial[name] for name in K3.PRIOR_TABLES}
    again = prior.round_tables3(config, tables)
    assert 3 * len(prior._xz(prior.encode_tables3(config, again))) < len(prior._xz(prior.encode_tables3(config, tables)))
    fresh = prior._fresh3(config)
    for name, values in again.items():
        untouched = tables[name] == fresh[name]
        assert np.array_equal(values[untouched], tables[name][untouched]), name
        assert not np.array_equal(values, tables[name]), name
    bias = int(K3.CM_BIAS)
    for name, xor in (("t_direct", bias), ("t_match", bias), ("smap", 0)):
        before = (tables[name].astype(np.int64) ^ xor) >> 20
        after = (again[name].astype(np.int64) ^ xor) >> 20
        assert np.abs(after - before).max() <= 1 << (prior.ROUND_PROB_BITS - 11), name
        assert ((again[name].astype(np.int64) ^ xor) & 1023).max() <= prior.ROUND_COUNT_LIMIT, name
    assert again["apm"].min() >= 0 and again["apm"].max() < 1 << 16
    for name, bits in (("mix", prior.ROUND_WEIGHT_BITS), ("apm", prior.ROUND_APM_BITS)):
        change = again[name].astype(np.int64) - fresh[name]
        moved = (tables[name] != fresh[name]) & (again[name] < (1 << 16) - 1 if name == "apm" else True)
        assert np.all(change[moved] % (1 << bits) == 0), name
        assert np.all(np.abs(change - (tables[name].astype(np.int64) - fresh[name]))[moved] <= 1 << (bits - 1)), name


def test_training_again_gives_the_golden_state():
    """The trained integers are a pure function of the data (the xz bytes may vary with liblzma)."""
    golden = api.load_model(GOLDEN / "prior_tiny.dcm")
    again = prior.train_prior(GOLDEN_SCRIPT.TRAINING, 5, 16_000, preset=prior.PRIOR_ENGINE2_PRESET)
    assert again.config() == golden.config()
    for name in ("cm", "mw", "apm", "history"):
        assert np.array_equal(again._initial[name], golden._initial[name]), name


# ---------------------------------------------------------------- forged priors


def _forge(snapshot: bytes, config: dict | None = None) -> bytes:
    """The golden model file with another snapshot (and config), its CRC fixed."""
    blob = (GOLDEN / "prior_tiny.dcm").read_bytes()
    _, _, header_len = struct.unpack_from("<4sHI", blob)
    header = json.loads(blob[10:10 + header_len])
    header["arrays"] = [["snapshot", "|u1", [len(snapshot)]]]
    if config is not None:
        header["config"] = config
    head = json.dumps(header, sort_keys=True).encode()
    body = struct.pack("<4sHI", b"DCM\x00", 1, len(head)) + head + snapshot
    return body + struct.pack("<I", zlib.crc32(body))


def _sections(*parts: bytes) -> bytes:
    return struct.pack("<I", len(parts)) + b"".join(struct.pack("<I", len(p)) + p for p in parts)


def _golden_sections() -> list[bytes]:
    return prior._unpack(api.load_model(GOLDEN / "prior_tiny.dcm")._snapshot.tobytes())


@pytest.mark.parametrize("case", ["not_xz", "zero_sections", "truncated", "trailing", "bomb", "bad_counts",
                                  "index_out_of_range", "hash_bits_over_preset", "preset_1", "extra_config"])
def test_forged_prior_is_a_one_line_model_file_error(case):
    tables, history = _golden_sections()
    config = None
    if case == "not_xz":
        snapshot = _sections(b"not xz at all", history)
    elif case == "zero_sections":
        snapshot = struct.pack("<I", 0)
    elif case == "truncated":
        snapshot = _sections(tables, history)[:-10]
    elif case == "trailing":
        snapshot = _sections(tables, history) + b"x"
    elif case == "bomb":  # a history section past MAX_HISTORY: decompression stops at the bound
        snapshot = _sections(tables, lzma.compress(bytes(prior.MAX_HISTORY + 1), check=lzma.CHECK_NONE))
    elif case == "bad_counts":
        raw = lzma.decompress(tables)
        snapshot = _sections(prior._xz(struct.pack("<I", 2**31) + raw[4:]), history)
    elif case == "index_out_of_range":  # one counter, just past the end of the table
        shapes = prior.adaptive.state_shapes({"hash_bits": 17})
        forged = (struct.pack("<II", 1, 0) + prior._planes(np.array([shapes["cm"]], np.uint32))
                  + prior._planes(np.array([5], np.uint32)) + prior._planes(np.zeros(shapes["mw"], np.int32)))
        snapshot = _sections(prior._xz(forged), history)
    elif case == "hash_bits_over_preset":
        snapshot, config = _sections(tables, history), {"preset": 2, "hash_bits": 30, "match_bits": 18}
    elif case == "preset_1":
        snapshot, config = _sections(tables, history), {"preset": 1, "hash_bits": 17, "match_bits": 18}
    else:
        snapshot, config = _sections(tables, history), {"preset": 2, "hash_bits": 17, "match_bits": 18, "x": 1}
    with pytest.raises(ModelFileError) as caught:
        modelfile.model_from_bytes(_forge(snapshot, config))
    message = str(caught.value)
    assert "\n" not in message and len(message) < 300
    assert "CRC" not in message  # the check that caught it is the prior's own, not the file's checksum


def test_forged_snapshot_with_the_golden_sections_still_loads():
    """The forging helper itself is sound: the golden sections re-packed load to the golden model."""
    model, _ = modelfile.model_from_bytes(_forge(_sections(*_golden_sections())))
    assert model.fingerprint() == GOLDEN_FINGERPRINT


# ---------------------------------------------------------------- command line


def test_cli_train_compress_decompress(tmp_path):
    from click.testing import CliRunner

    from deepcompress.cli import main

    for i, data in enumerate(TRAINING):
        (tmp_path / f"t{i}.py").write_bytes(data)
    (tmp_path / "held.py").write_bytes(HELD_OUT[0])
    runner = CliRunner()
    training = [str(tmp_path / f"t{i}.py") for i in range(len(TRAINING))]
    done = runner.invoke(main, ["train", "--model", "adaptive", "--size", "30000", "-o", str(tmp_path / "p.dcm"),
                                *training], catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert (tmp_path / "p.dcm").stat().st_size <= 30000
    done = runner.invoke(main, ["compress", "-m", str(tmp_path / "p.dcm"), "-k", str(tmp_path / "held.py")],
                         catch_exceptions=False)
    assert done.exit_code == 0, done.output
    compressed = (tmp_path / "held.py.dcz").read_bytes()
    assert len(compressed) < len(deepcompress.compress(HELD_OUT[0]))
    (tmp_path / "held.py").unlink()
    done = runner.invoke(main, ["decompress", "-m", str(tmp_path / "p.dcm"), str(tmp_path / "held.py.dcz")],
                         catch_exceptions=False)
    assert done.exit_code == 0, done.output
    assert (tmp_path / "held.py").read_bytes() == HELD_OUT[0]
    # level 1's prior runs engine 2 (engine 4 takes none), whose tables need more than 4096 bytes
    done = runner.invoke(main, ["train", "--model", "adaptive", "--level", "1", "--size", "4096", "-o",
                                str(tmp_path / "q.dcm"), *training], catch_exceptions=False)
    assert done.exit_code == 1 and "need more than 4096 bytes" in done.output
    assert not (tmp_path / "q.dcm").exists()
    assert done.output.count("\n") == 1


def test_cli_refuses_a_stream_with_another_prior(tmp_path, trained):
    from click.testing import CliRunner

    from deepcompress.cli import main

    (tmp_path / "p.dcm").write_bytes(api.model_file_bytes(trained))
    (tmp_path / "x.dcz").write_bytes(deepcompress.compress(HELD_OUT[0], model=GOLDEN / "prior_tiny.dcm"))
    done = CliRunner().invoke(main, ["decompress", "-c", "-m", str(tmp_path / "p.dcm"), str(tmp_path / "x.dcz")],
                              catch_exceptions=False)
    assert done.exit_code == 1 and "fingerprint" in done.output
    assert "Traceback" not in done.output


def test_session_state_round_trips_through_the_tables_section(trained):
    """encode_tables/decode_tables (engine 3: encode_tables3/decode_tables3) are inverse on the stored state."""
    config = trained.base.hyperparameters()
    if "cm" in trained._initial:
        state = {name: trained._initial[name] for name in ("cm", "mw", "apm")}
        again = prior.decode_tables(config, prior.encode_tables(config, state))
    else:  # the fixture's prior is primed and stores no tables: one that stores them all
        every = prior.train_prior(TRAINING, 5, 32_000, stored=prior.TABLE_CHOICES[0], prime_bytes=0)
        state = {name: every._initial[name] for name in K3.PRIOR_TABLES}
        assert any(np.any(state[name] != fresh) for name, fresh in prior._fresh3(config).items())  # trained
        again = prior.decode_tables3(config, prior.encode_tables3(config, state))
    for name, array in state.items():
        assert again[name].dtype == array.dtype and np.array_equal(again[name], array)


def test_the_default_level_trains_an_engine_3_prior():
    model = prior.train_prior(TRAINING, 5, 32_000)
    assert model.config()["preset"] == 6 and "t_direct" in model._initial
    assert deepcompress.decompress(deepcompress.compress(HELD_OUT[0], model), model=model) == HELD_OUT[0]
