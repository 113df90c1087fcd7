"""A short pass of the decoder fuzzer (`scripts/fuzz_decoder.py`), its judge, and its saved regressions."""

import io
import sys
from pathlib import Path

import pytest

import deepcompress
from deepcompress import api

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import fuzz_decoder

PER_MODEL = 300  # the full run (scripts/fuzz_decoder.py) does 10,000 per model and file kind
# The rejection each file kind must reach (besides inputs that are still valid files).
FILE_REJECTIONS = {fuzz_decoder.NPY: "ValueError", fuzz_decoder.DCM: "ModelFileError"}


def test_short_fuzz_pass_has_no_crash_hang_wrong_output_or_excess(tmp_path):
    kinds = fuzz_decoder.fuzz_kinds()
    report = fuzz_decoder.run(
        kinds,
        PER_MODEL,
        workers=2,
        settings=fuzz_decoder.Settings(timeout_s=30),
        save_dir=tmp_path,
    )
    assert report.failures == []  # crashes, hangs, wrong outputs, over-memory, over-time
    assert list(tmp_path.iterdir()) == []
    assert set(report.by_model) == set(kinds) == set(fuzz_decoder.fuzz_models()) | set(FILE_REJECTIONS)
    for kind, counts in report.by_model.items():
        assert sum(counts.values()) == PER_MODEL
        assert 0 < report.max_rss_mb[kind] <= fuzz_decoder.MAX_RSS_MB  # measured, and within the bound
        assert report.max_cpu_s[kind] <= fuzz_decoder.MAX_CPU_S
        if kind in FILE_REJECTIONS:  # both refused and (still valid) accepted files occur
            assert counts[FILE_REJECTIONS[kind]] > 0 and counts[fuzz_decoder.ACCEPTED] > 0, counts
        else:  # the mutants got past the first checks into every kind of rejection
            assert (
                counts["CorruptStreamError"] > 0
                and counts["TruncatedStreamError"] > 0
                and counts["ModelMismatchError"] > 0
            )


@pytest.mark.slow
def test_longer_fuzz_pass(tmp_path):
    report = fuzz_decoder.run(fuzz_decoder.fuzz_kinds(), 2000, workers=2, save_dir=tmp_path)
    assert report.failures == []


@pytest.mark.parametrize("kind", fuzz_decoder.FILE_KINDS)
def test_file_seeds_are_accepted_and_forged_ones_rejected(kind):
    seeds = fuzz_decoder.make_file_seeds(kind)
    for seed in seeds:
        assert fuzz_decoder.judge_file(fuzz_decoder.Mutant(seed.blob, "seed", seed)) == (fuzz_decoder.ACCEPTED, "")
    outcomes = {fuzz_decoder.judge_file(fuzz_decoder.make_file_mutant(0, seeds, index))[0] for index in range(60)}
    assert FILE_REJECTIONS[kind] in outcomes and not outcomes & set(fuzz_decoder.FAILURES)


def test_worker_reports_an_input_over_the_memory_bound(tmp_path):
    settings = fuzz_decoder.Settings(timeout_s=60, max_rss_mb=1)  # every process is above 1 MB
    report = fuzz_decoder.run([fuzz_decoder.NPY], 2, workers=1, settings=settings, save_dir=tmp_path)
    assert report.by_model[fuzz_decoder.NPY][fuzz_decoder.OVER_MEMORY] == 2
    assert len(list(tmp_path.glob("header--npy-header-*.npy"))) >= 1


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
FILE_REGRESSIONS = sorted([*fuzz_decoder.REGRESSION_DIR.glob("*.npy"), *fuzz_decoder.REGRESSION_DIR.glob("*.dcm")])


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


@pytest.mark.parametrize("path", FILE_REGRESSIONS, ids=[path.name for path in FILE_REGRESSIONS])
def test_saved_fuzz_file_is_handled(path):
    kind = fuzz_decoder.NPY if path.suffix == ".npy" else fuzz_decoder.DCM
    seed = fuzz_decoder.Seed("saved", kind, b"", b"", (0,))
    assert fuzz_decoder.judge_file(fuzz_decoder.Mutant(path.read_bytes(), "saved", seed))[0] in (
        FILE_REJECTIONS[kind], fuzz_decoder.ACCEPTED)


def test_judge_accepts_whole_members_one_after_another():
    """Concatenated streams decode to the concatenation: a mutant made of whole seeds is no failure."""
    seed = fuzz_decoder.Seed("seed", "histogram", b"seed data", b"SEED", (0,))
    donor = fuzz_decoder.Seed("donor", "histogram", b"donor data", b"DONOR", (0,))
    mutant = fuzz_decoder.Mutant(b"SEEDDONORSEED", "splice", seed, donor)
    assert fuzz_decoder.judge(mutant, lambda blob: b"seed datadonor dataseed data", lambda blob: None)[0] == "members"
    assert fuzz_decoder.judge(mutant, lambda blob: b"seed data", lambda blob: None)[0] == fuzz_decoder.ORIGINAL
    assert fuzz_decoder.judge(mutant, lambda blob: b"seed datadonor data", lambda blob: None)[0] == fuzz_decoder.WRONG
