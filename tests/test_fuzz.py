"""A short pass of the decoder fuzzer (`scripts/fuzz_decoder.py`), its judge, and its saved regressions."""

import io
import sys
from pathlib import Path

import pytest

import deepcompress
from deepcompress import api

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fuzz_decoder

PER_MODEL = 300  # the full run (scripts/fuzz_decoder.py) does 10,000 per model


def test_short_fuzz_pass_has_no_crash_hang_or_wrong_output(tmp_path):
    models = fuzz_decoder.fuzz_models()
    report = fuzz_decoder.run(
        models,
        PER_MODEL,
        workers=2,
        settings=fuzz_decoder.Settings(timeout_s=30),
        save_dir=tmp_path,
    )
    assert report.failures == []
    assert list(tmp_path.iterdir()) == []
    assert set(report.by_model) == set(models)
    for counts in report.by_model.values():
        assert sum(counts.values()) == PER_MODEL
        # the mutants got past the first checks into every kind of rejection
        assert (
            counts["CorruptStreamError"] > 0
            and counts["TruncatedStreamError"] > 0
            and counts["ModelMismatchError"] > 0
        )


@pytest.mark.parametrize("model", fuzz_decoder.fuzz_models())
def test_seeds_follow_the_documented_layout(model):
    for seed in fuzz_decoder.make_seeds(model):
        assert fuzz_decoder.parse(seed.blob).to_bytes() == seed.blob
        assert seed.boundaries[-1] == len(seed.blob)


def _raise(error):
    def decode(blob):
        raise error

    return decode


@pytest.mark.parametrize(
    "decode, outcome",
    [
        (lambda blob: b"seed data", fuzz_decoder.ORIGINAL),
        (lambda blob: b"donor data", fuzz_decoder.DONOR),
        (lambda blob: b"other data", fuzz_decoder.WRONG),
        (_raise(deepcompress.TruncatedStreamError("short")), "TruncatedStreamError"),
        (_raise(IndexError("bad index")), fuzz_decoder.CRASH),
        (_raise(MemoryError()), fuzz_decoder.CRASH),
        (_raise(RecursionError()), fuzz_decoder.CRASH),
    ],
)
def test_judge_tells_each_outcome(decode, outcome):
    seed = fuzz_decoder.Seed("seed", "histogram", b"seed data", b"", (0,))
    donor = fuzz_decoder.Seed("donor", "histogram", b"donor data", b"", (0,))
    mutant = fuzz_decoder.Mutant(b"mutant", "splice", seed, donor)
    assert fuzz_decoder.judge(mutant, decode, lambda blob: None)[0] == outcome


def test_judge_counts_an_untyped_error_from_read_info_as_a_crash():
    seed = fuzz_decoder.Seed("seed", "histogram", b"seed data", b"", (0,))
    outcome, detail = fuzz_decoder.judge(
        fuzz_decoder.Mutant(b"", "k", seed), lambda blob: b"seed data", _raise(KeyError("x"))
    )
    assert outcome == fuzz_decoder.CRASH and detail.startswith("read_info")


def test_an_input_over_the_time_limit_is_a_hang_and_is_saved(tmp_path):
    settings = fuzz_decoder.Settings(timeout_s=1e-6)  # no worker answers within a microsecond
    report = fuzz_decoder.run(["histogram"], 2, workers=1, settings=settings, save_dir=tmp_path)
    assert report.by_model["histogram"][fuzz_decoder.HANG] == 2
    assert len(list(tmp_path.glob("header--histogram-*.dcz"))) >= 1


REGRESSIONS = sorted(fuzz_decoder.REGRESSION_DIR.glob("*.dcz"))


@pytest.mark.parametrize("path", REGRESSIONS, ids=[path.name for path in REGRESSIONS])
def test_saved_fuzz_input_is_rejected_with_a_typed_error(path):
    blob = path.read_bytes()
    with pytest.raises(deepcompress.DeepCompressError):
        deepcompress.decompress(
            blob, fuzz_decoder.decode_argument(fuzz_decoder.decode_key_of_saved(path))
        )
    try:
        api.read_info(io.BytesIO(blob))
    except deepcompress.DeepCompressError:
        pass


def test_judge_accepts_whole_members_one_after_another():
    """Concatenated streams decode to the concatenation: a mutant made of whole seeds is no failure."""
    seed = fuzz_decoder.Seed("seed", "histogram", b"seed data", b"SEED", (0,))
    donor = fuzz_decoder.Seed("donor", "histogram", b"donor data", b"DONOR", (0,))
    mutant = fuzz_decoder.Mutant(b"SEEDDONORSEED", "splice", seed, donor)
    assert fuzz_decoder.judge(mutant, lambda blob: b"seed datadonor dataseed data", lambda blob: None)[0] == "members"
    assert fuzz_decoder.judge(mutant, lambda blob: b"seed data", lambda blob: None)[0] == fuzz_decoder.ORIGINAL
    assert fuzz_decoder.judge(mutant, lambda blob: b"seed datadonor data", lambda blob: None)[0] == fuzz_decoder.WRONG
