"""The README's Python examples run as written (in a scratch directory holding the samples)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import deepcompress
from deepcompress import models

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """A working directory with the repository's samples; models the examples register are forgotten after."""
    (tmp_path / "samples").symlink_to(ROOT / "samples")
    monkeypatch.chdir(tmp_path)
    names = set(models.registered())
    yield tmp_path
    for name in set(models.registered()) - names:
        models.unregister(name)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, scratch):
    namespace: dict = {}
    # Later blocks build on earlier ones (imports), as a reader would run them in order.
    for block in BLOCKS[: index + 1]:
        exec(compile(block, f"README.md python block {index}", "exec"), namespace)
    assert os.getcwd() == str(scratch)


def test_readme_user_model_runs_on_its_own(scratch):
    """The 'Your own model' example: a model written outside the package, at most 40 lines,
    compresses, decompresses and round-trips through a .dcm by its registered name."""
    (block,) = [block for block in BLOCKS if "class Order2Model(Model)" in block]
    assert len(block.splitlines()) <= 40
    namespace: dict = {}
    exec(compile(block, "README.md user model", "exec"), namespace)
    assert (scratch / "order2.dcm").is_file() and "order2" in models.registered()
    model = deepcompress.load_model(str(scratch / "order2.dcm"))
    assert type(model).__name__ == "Order2Model" and model.fingerprint() == namespace["Order2Model"](
        namespace["counts"]).fingerprint()
    assert deepcompress.decompress(namespace["blob"], model) == namespace["data"]
