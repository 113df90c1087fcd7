#!/usr/bin/env python3
"""Regenerate tests/golden/{prior,prior3_rounded,prior3_primed,hybrid,hybrid3}_tiny.{dcm,dcz}: tiny trained priors and hybrids, and a stream coded with each.

The prior is trained (`train_prior`, preset 2, budget 16000 bytes) on TRAINING below, prior3_rounded
(the default level's engine 3, preset 6, budget 12000 bytes, too small for its tables whole and
all the history, so they are rounded: `prior.round_tables3`; unprimed) on the same files, prior3_primed
(the default level's as `train_prior` makes it by default: primed, 12000 bytes) too; prior3_tiny.{dcm,dcz}
is frozen, what `--prior3` wrote at 40000 bytes before training rounded tables (a model file of an
earlier release, which must keep decoding; training at 40000 bytes still gives its state); the hybrids
(`train.fit_hybrid`: a byte MLP of context 3, 8 hidden units, embeddings of 4, one epoch, seed 0,
and a prior, within 40000 bytes; hybrid: an engine-2 prior, preset 2, as hybrids were trained
before engine 3 took them; hybrid3: the default level's) on the same files; each stream is
SAMPLE (the others': HYBRID_SAMPLE) compressed with its model. Only with DEEPCOMPRESS_REGEN=1
(`--prior`, `--prior3`, `--prior3-primed`, `--hybrid`, `--hybrid3`: only those files): the files pin the models' stored forms and the
bitstreams they start; regenerate on purpose, then update the hashes in tests/test_prior.py and
tests/test_hybrid.py, which this prints. The network's training runs in floating point, so a
regenerated hybrid may differ from machine to machine; its stream never does.
"""

import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deepcompress import api
from deepcompress.models import prior

GOLDEN = ROOT / "tests" / "golden"
TRAINING = [b"# Copyright (c) %d The Authors\n# SPDX-License-Identifier: MIT\nimport os\nimport sys\n\n"
            b"def main(argv):\n    return %d\n" % (year, year % 7) for year in range(1990, 2030)]
SAMPLE = b"# Copyright (c) 2031 The Authors\n# SPDX-License-Identifier: MIT\nimport os\n\ndef main(argv):\n    return 3\n"
# The hybrid's stream: longer, with lines the training never saw, so that the mixer and the network code many bits.
HYBRID_SAMPLE = SAMPLE + b"".join(b"def helper_%d(x):\n    return x * %d - %d\n" % (i, i * 7 % 13, i) for i in range(60))


def hybrid_model(preset: int | None = None):
    from deepcompress import train

    options = train.ModelOptions("mlp", 3, (8,), 4, 0.0, 256, (), False)
    config = train.config_for("mlp", 1, None, seed=0, threads=1)
    return train.fit_hybrid(TRAINING, options, config, 5, 40000, preset=preset, prime_bytes=0).model


def write(name: str, model, sample: bytes) -> None:
    blob = api.model_file_bytes(model, {"script": "scripts/make_golden_prior.py"})
    (GOLDEN / f"{name}.dcm").write_bytes(blob)
    stream = api.compress(sample, model)
    (GOLDEN / f"{name}.dcz").write_bytes(stream)
    print(f"{name}: model fingerprint:", model.fingerprint())
    print(f"{name}: dcm sha256:", hashlib.sha256(blob).hexdigest())
    print(f"{name}: dcz sha256:", hashlib.sha256(stream).hexdigest())


def main() -> None:
    if os.environ.get("DEEPCOMPRESS_REGEN") != "1":
        sys.exit("set DEEPCOMPRESS_REGEN=1 to overwrite the golden prior and hybrid")
    chosen = [arg for arg in sys.argv[1:] if arg.startswith("--")] or ["--prior", "--prior3", "--prior3-primed", "--hybrid",
                                                                         "--hybrid3"]
    if "--prior" in chosen:
        write("prior_tiny", prior.train_prior(TRAINING, 5, 16000, preset=prior.PRIOR_ENGINE2_PRESET), SAMPLE)
    if "--prior3" in chosen:
        model = prior.train_prior(TRAINING, 5, 12000, prime_bytes=0)
        if model.config()["preset"] != 6:
            raise AssertionError("the engine-3 golden prior must run preset 6")
        write("prior3_rounded_tiny", model, HYBRID_SAMPLE)
    if "--prior3-primed" in chosen:
        model = prior.train_prior(TRAINING, 5, 12000)
        if model.config()["preset"] != 6 or not model.config().get("prime_bytes"):
            raise AssertionError("the primed golden prior must run preset 6, primed")
        write("prior3_primed_tiny", model, HYBRID_SAMPLE)
    if "--hybrid" in chosen:
        write("hybrid_tiny", hybrid_model(prior.PRIOR_ENGINE2_PRESET), HYBRID_SAMPLE)
    if "--hybrid3" in chosen:
        model = hybrid_model()
        if model.prior.config()["preset"] != 6:
            raise AssertionError("the engine-3 golden hybrid's prior must run preset 6")
        write("hybrid3_tiny", model, HYBRID_SAMPLE)


if __name__ == "__main__":
    main()
