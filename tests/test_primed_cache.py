"""The disk cache of primed priors' start states (`models.primed_cache`): entries load back exactly
or not at all, and a prior restored from one codes as the prior primed anew, across processes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deepcompress
from deepcompress import modelfile
from deepcompress.models import _cm3_kernels as K3
from deepcompress.models import primed_cache, prior

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_PRIMED = ROOT / "tests" / "golden" / "prior3_primed_tiny.dcm"
DATA = (ROOT / "samples" / "sample.txt").read_bytes()[:3000]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "primed"
    monkeypatch.setenv(primed_cache.ENVIRONMENT, str(folder))
    return folder


def _arrays() -> dict[str, np.ndarray]:
    return {"counts": np.arange(10, dtype=np.uint32) * 7919, "grid": np.arange(-3, 3, dtype=np.int16).reshape(2, 3),
            "empty": np.zeros(0, dtype=np.uint8), "no_rows": np.zeros((0, 3), dtype=np.int32),
            "wide": np.array([2**62, -1], dtype=np.int64)}


def _spec(arrays: dict[str, np.ndarray]) -> dict:
    return {name: (array.dtype, array.shape) for name, array in arrays.items()}


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.state")) if folder.is_dir() else []


def test_stored_arrays_load_back_exactly_and_writable(cache):
    arrays = _arrays()
    primed_cache.store("k" * 64, arrays)
    loaded = primed_cache.load("k" * 64, _spec(arrays))
    assert loaded is not None and list(loaded) == list(arrays)
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        assert np.array_equal(loaded[name], array)
        assert loaded[name].flags.writeable and loaded[name].flags.aligned
    assert [path.name for path in _entries(cache)] == ["k" * 64 + ".state"]


@pytest.mark.parametrize("change", ["dtype", "shape", "name missing", "name added", "key"])
def test_an_entry_is_loaded_only_as_the_arrays_it_holds(cache, change):
    arrays = _arrays()
    primed_cache.store("k" * 64, arrays)
    spec, key = _spec(arrays), "k" * 64
    if change == "dtype":
        spec["counts"] = (np.dtype(np.int32), (10,))
    elif change == "shape":
        spec["grid"] = (np.dtype(np.int16), (3, 2))
    elif change == "name missing":
        del spec["wide"]
    elif change == "name added":
        spec["more"] = (np.dtype(np.uint8), (1,))
    else:
        key = "j" * 64
    assert primed_cache.load(key, spec) is None


@pytest.mark.parametrize("damage", ["payload bit", "digest bit", "header bit", "truncated", "appended"])
def test_a_damaged_entry_is_not_loaded(cache, damage):
    arrays = _arrays()
    primed_cache.store("k" * 64, arrays)
    path = _entries(cache)[0]
    raw = bytearray(path.read_bytes())
    if damage == "payload bit":
        raw[-40] ^= 1  # in the last array, before the digest
    elif damage == "digest bit":
        raw[-1] ^= 0x80
    elif damage == "header bit":
        raw[2] ^= 4
    elif damage == "truncated":
        raw = raw[:-1]
    else:
        raw += b"\0"
    path.write_bytes(bytes(raw))
    assert primed_cache.load("k" * 64, _spec(arrays)) is None


def test_off_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(primed_cache.ENVIRONMENT, "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert primed_cache.cache_dir() is None
    primed_cache.store("k" * 64, _arrays())
    assert primed_cache.load("k" * 64, _spec(_arrays())) is None
    assert list(tmp_path.iterdir()) == []


def test_the_default_folder_is_under_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv(primed_cache.ENVIRONMENT, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert primed_cache.cache_dir() == tmp_path / "deepcompress" / "primed"


def test_a_folder_that_cannot_be_made_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"not a folder")
    monkeypatch.setenv(primed_cache.ENVIRONMENT, str(blocker / "primed"))
    primed_cache.store("k" * 64, _arrays())
    assert primed_cache.load("k" * 64, _spec(_arrays())) is None
    assert blocker.read_bytes() == b"not a folder"


def test_an_entry_over_the_bound_is_neither_stored_nor_read(cache, monkeypatch):
    monkeypatch.setattr(primed_cache, "MAX_ENTRY_BYTES", 4096)
    big = {"big": np.zeros(4096, dtype=np.uint8)}
    primed_cache.store("k" * 64, big)
    assert _entries(cache) == []
    monkeypatch.setattr(primed_cache, "MAX_ENTRY_BYTES", 1 << 20)
    primed_cache.store("k" * 64, big)
    monkeypatch.setattr(primed_cache, "MAX_ENTRY_BYTES", 4096)
    assert primed_cache.load("k" * 64, _spec(big)) is None


def test_the_least_recently_used_entries_go(cache, monkeypatch):
    monkeypatch.setattr(primed_cache, "MAX_ENTRIES", 3)
    arrays = _arrays()
    for i, key in enumerate(("a", "b", "c")):
        primed_cache.store(key * 64, arrays)
        os.utime(cache / (key * 64 + ".state"), ns=(10**9 * (i + 1), 10**9 * (i + 1)))  # long ago, in this order
    assert primed_cache.load("a" * 64, _spec(arrays)) is not None  # used now: the most recent
    primed_cache.store("d" * 64, arrays)
    assert [path.name[0] for path in _entries(cache)] == ["a", "c", "d"]
    # and no more bytes than MAX_CACHE_BYTES in all: the newest entry alone here
    monkeypatch.setattr(primed_cache, "MAX_CACHE_BYTES", _entries(cache)[0].stat().st_size)
    primed_cache.store("e" * 64, arrays)
    assert [path.name[0] for path in _entries(cache)] == ["e"]


def test_a_writers_old_leftover_goes_and_a_recent_one_stays(cache):
    cache.mkdir()
    old, recent = cache / f".{'a' * 64}.x1y2z3.tmp", cache / f".{'b' * 64}.x1y2z3.tmp"
    for path in (old, recent):
        path.write_bytes(b"partial")
    past = time.time() - 7200
    os.utime(old, (past, past))
    primed_cache.store("c" * 64, _arrays())
    assert not old.exists() and recent.exists()


def test_files_the_cache_did_not_write_are_never_removed(cache, monkeypatch):
    """$DEEPCOMPRESS_PRIMED_CACHE may name a folder others use: only entry and leftover names are touched."""
    monkeypatch.setattr(primed_cache, "MAX_ENTRIES", 1)
    cache.mkdir()
    others = [cache / name for name in ("notes.state", "A" * 64 + ".state", ".old.tmp", ".x.y.tmp", "data.bin")]
    past = time.time() - 7200
    for path in others:
        path.write_bytes(b"someone else's")
        os.utime(path, (past, past))
    for key in ("a", "b", "c"):
        primed_cache.store(key * 64, _arrays())
    assert all(path.read_bytes() == b"someone else's" for path in others)
    assert [path.name for path in _entries(cache) if path not in others] == ["c" * 64 + ".state"]


def test_entry_keys_name_their_parts_and_this_code(monkeypatch):
    key = primed_cache.entry_key(["a", "b"])
    assert len(key) == 64 and set(key) <= set("0123456789abcdef")
    assert key == primed_cache.entry_key(["a", "b"])
    assert len({key, primed_cache.entry_key(["a"]), primed_cache.entry_key(["ab"]), primed_cache.entry_key(["b", "a"])}) == 4
    monkeypatch.setattr(primed_cache, "_SOURCES_DIGEST", "another version's sources")
    assert primed_cache.entry_key(["a", "b"]) != key


def test_a_package_whose_sources_cannot_be_read_has_no_cache(cache, monkeypatch):
    assert primed_cache._sources_digest() == primed_cache._SOURCES_DIGEST is not None
    monkeypatch.setattr(primed_cache, "_SOURCES_DIGEST", None)
    assert primed_cache.entry_key(["a"]) is None
    blob = deepcompress.compress(DATA, model=_golden_primed())
    assert _entries(cache) == [] and deepcompress.decompress(blob, model=_golden_primed()) == DATA


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "No", "none"])
def test_off_in_any_spelling(monkeypatch, value):
    monkeypatch.setenv(primed_cache.ENVIRONMENT, value)
    assert primed_cache.cache_dir() is None


def test_a_relative_user_cache_folder_is_ignored(tmp_path, monkeypatch):
    monkeypatch.delenv(primed_cache.ENVIRONMENT, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert primed_cache.cache_dir() == tmp_path / ".cache" / "deepcompress" / "primed"


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_an_entry_that_is_not_a_regular_file_is_not_read(cache, kind):
    cache.mkdir()
    path = cache / ("k" * 64 + ".state")
    if kind == "folder":
        path.mkdir()
    else:
        os.mkfifo(path)
    assert primed_cache.load("k" * 64, _spec(_arrays())) is None  # returns: no wait on a FIFO's writer
    primed_cache.store("k" * 64, _arrays())
    if kind == "folder":  # os.replace fails over a folder: not an error, the folder stays
        assert path.is_dir()
    else:  # a FIFO is replaced by the entry, as any other file there
        assert stat.S_ISREG(path.stat().st_mode) and primed_cache.load("k" * 64, _spec(_arrays())) is not None
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []  # nothing left behind


def test_a_store_is_skipped_while_another_process_writes_the_entry(cache):
    cache.mkdir()
    writing = cache / (".%s.abc123.tmp" % ("k" * 64))
    writing.write_bytes(b"partial")
    primed_cache.store("k" * 64, _arrays())
    assert _entries(cache) == []
    past = time.time() - 2 * primed_cache.WRITER_GRACE_S  # a writer that stopped long ago does not
    os.utime(writing, (past, past))
    primed_cache.store("k" * 64, _arrays())
    assert len(_entries(cache)) == 1


def _golden_primed() -> prior.PriorModel:
    return modelfile.load_model(GOLDEN_PRIMED)[0]


def test_a_restored_prior_codes_as_the_primed_one(cache, monkeypatch):
    first = _golden_primed()
    blob = deepcompress.compress(DATA, model=first)
    assert len(_entries(cache)) == 1  # primed once, kept

    def no_priming(*_args):
        raise AssertionError("primed again although the cache holds the state")

    monkeypatch.setattr(prior.PriorModel, "_start_session", no_priming)
    second = _golden_primed()
    assert deepcompress.compress(DATA, model=second) == blob
    assert deepcompress.decompress(blob, model=second) == DATA


def test_a_prior_primes_as_before_with_the_cache_off(cache, monkeypatch):
    blob = deepcompress.compress(DATA, model=_golden_primed())
    monkeypatch.setenv(primed_cache.ENVIRONMENT, "off")
    assert deepcompress.compress(DATA, model=_golden_primed()) == blob
    assert deepcompress.decompress(blob, model=_golden_primed()) == DATA


@pytest.mark.parametrize("forge", ["bucket state past the last", "match position past the history", "check bytes"])
def test_a_forged_entry_with_a_valid_digest(cache, forge):
    """An entry whose digest matches but whose values the kernel must not index with is primed
    anew (and rewritten); values that are only values (check bytes) are taken: the cache is as
    trusted as the package's own folder, and a stream coded from them still fails elsewhere."""
    model = _golden_primed()
    blob = deepcompress.compress(DATA, model=model)
    entry = _entries(cache)[0]
    variant = model.sized_for(len(DATA))
    spec = variant.base.learned_spec()
    arrays = primed_cache.load(entry.stem, spec)
    assert arrays is not None
    if forge == "bucket state past the last":
        arrays["t_hash"][17] = K3.N_STATES
    elif forge == "match position past the history":
        arrays["mtab"][5] = variant.hyperparameters()["history_bytes"] + 1
    else:
        arrays["t_hash"][0::16] ^= 0x5A
    primed_cache.store(entry.stem, arrays)
    again = deepcompress.compress(DATA, model=_golden_primed())
    if forge == "check bytes":
        assert deepcompress.decompress(again, model=_golden_primed()) == DATA  # the same forged state both ways
    else:
        assert again == blob
        restored = primed_cache.load(entry.stem, spec)
        assert restored is not None and K3.learned_state_is_safe(restored, variant.hyperparameters()["history_bytes"])


def test_a_restored_session_is_the_primed_one_array_by_array(cache):
    primed_model = _golden_primed().sized_for(len(DATA))
    primed = primed_model._primed_session()
    restored_model = _golden_primed().sized_for(len(DATA))
    restored = restored_model._primed_session()
    assert restored is not primed and primed_model.fingerprint() == restored_model.fingerprint()
    assert list(restored.tables) == list(primed.tables)
    for name, table in primed.tables.items():
        assert restored.tables[name].dtype == table.dtype and np.array_equal(restored.tables[name], table), name
    assert restored.size == primed.size == primed_model.hyperparameters()["history_bytes"]
    assert np.array_equal(restored.buf[: restored.size], primed.buf[: primed.size])
    assert not restored.buf[restored.size:].any()


def test_each_table_size_of_a_prior_is_an_entry_of_its_own(cache):
    model = _golden_primed()
    small, large = DATA, (DATA * 20)[:40_000]  # a 40 KB input takes larger hashed tables (`sized_for`)
    assert model.sized_for(len(large)).config()["hash_bits"] > model.sized_for(len(small)).config()["hash_bits"]
    blobs = [deepcompress.compress(data, model=model) for data in (small, large)]
    assert len(_entries(cache)) == 2
    again = _golden_primed()
    assert [deepcompress.decompress(blob, model=again) for blob in blobs] == [small, large]


@pytest.mark.parametrize(("change", "safe"), [("state 254", True), ("state 255", False), ("position = size", True),
                                             ("position > size", False), ("position < 0", False)])
def test_which_values_a_restored_state_may_hold(change, safe):
    model = _golden_primed().sized_for(len(DATA))
    spec = model.base.learned_spec()
    tables = {name: np.zeros(shape, dtype=dtype) for name, (dtype, shape) in spec.items()}
    size = 1000
    if change.startswith("state"):
        tables["t_hash"][16 * 7 + 15] = int(change.split()[1])  # the last state of bucket 7
    else:
        tables["mtab"][-1] = {"position = size": size, "position > size": size + 1, "position < 0": -1}[change]
    assert K3.learned_state_is_safe(tables, size) is safe
    assert (model.base.restored_session(np.zeros(size, dtype=np.uint8), tables) is not None) is safe


def test_restoring_takes_only_arrays_of_the_engines_spec():
    model = _golden_primed().sized_for(len(DATA))
    base, history = model.base, np.zeros(100, dtype=np.uint8)
    spec = base.learned_spec()
    good = {name: np.zeros(shape, dtype=dtype) for name, (dtype, shape) in spec.items()}
    assert set(spec) == set(K3.state_spec(base.hyperparameters())) - set(K3.STREAM_STATE)
    session = base.restored_session(history, good)
    assert session is not None and session.size == 100 and all(session.tables[name] is good[name] for name in good)
    assert list(session.tables) == list(K3.state_spec(base.hyperparameters()))  # code_block's order
    assert base.restored_session(history, None) is None
    assert base.restored_session(history, {k: v for k, v in good.items() if k != "mix"}) is None
    assert base.restored_session(history, {**good, "mix": good["mix"].astype(np.int64)}) is None
    assert base.restored_session(history, {**good, "mtab": good["mtab"][:-1]}) is None


def test_training_keeps_no_trial_priors(cache):
    files = [b"# shared header of every file\n" + f"value_{i} = {i * i}\nname = 'file {i}'\n".encode() * 20
             for i in range(prior.CHOICE_FILES + 4)]
    trained = prior.train_prior(files, 5, 12_000)
    assert trained.config().get("prime_bytes", 0) > 0
    assert _entries(cache) == []
    deepcompress.compress(files[0], model=trained)  # the trained prior itself is kept once used
    assert len(_entries(cache)) == 1


def _cli(folder: str, *arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, primed_cache.ENVIRONMENT: folder}
    return subprocess.run([sys.executable, "-m", "deepcompress", *arguments], env=environment,
                          capture_output=True, check=True, timeout=600)


def test_processes_code_the_same_from_a_cold_a_warm_and_no_cache(cache, tmp_path):
    source = tmp_path / "data.txt"
    source.write_bytes(DATA)
    model = str(GOLDEN_PRIMED)
    cold = _cli(str(cache), "compress", "-c", "-m", model, str(source)).stdout
    (entry,) = _entries(cache)
    os.utime(entry, ns=(10**9, 10**9))
    inode = entry.stat().st_ino
    warm = _cli(str(cache), "compress", "-c", "-m", model, str(source)).stdout
    assert entry.stat().st_ino == inode and entry.stat().st_mtime_ns > 10**9  # read, not primed and written again
    off = _cli("off", "compress", "-c", "-m", model, str(source)).stdout
    assert cold == warm == off
    (tmp_path / "data.txt.dcz").write_bytes(warm)
    assert _cli(str(cache), "decompress", "-c", "-m", model, str(tmp_path / "data.txt.dcz")).stdout == DATA
