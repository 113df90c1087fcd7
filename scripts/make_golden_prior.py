#!/usr/bin/env python3
"""Regenerate tests/golden/prior_tiny.{dcm,dcz}: a tiny trained prior and a stream coded with it.

The prior is trained (`train_prior`, level 5, budget 16000 bytes) on TRAINING below; the stream is
SAMPLE compressed with it. Only with DEEPCOMPRESS_REGEN=1: the files pin the prior's stored form
and the bitstream a prior starts; regenerate on purpose, then update the hashes in
tests/test_prior.py, which this prints.
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


def main() -> None:
    if os.environ.get("DEEPCOMPRESS_REGEN") != "1":
        sys.exit("set DEEPCOMPRESS_REGEN=1 to overwrite the golden prior")
    model = prior.train_prior(TRAINING, 5, 16000)
    blob = api.model_file_bytes(model, {"script": "scripts/make_golden_prior.py"})
    (GOLDEN / "prior_tiny.dcm").write_bytes(blob)
    stream = api.compress(SAMPLE, model)
    (GOLDEN / "prior_tiny.dcz").write_bytes(stream)
    print("model fingerprint:", model.fingerprint())
    print("dcm sha256:", hashlib.sha256(blob).hexdigest())
    print("dcz sha256:", hashlib.sha256(stream).hexdigest())


if __name__ == "__main__":
    main()
