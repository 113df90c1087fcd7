"""The README's Python examples run as written (in a scratch directory holding the samples)."""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path

import pytest

import deepcompress
from deepcompress import models

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """A working directory with the repository's samples; models the examples register are forgotten after."""
    folder = tmp_path_factory.mktemp("readme")
    (folder / "samples").symlink_to(ROOT / "samples")
    previous, names = os.getcwd(), set(models.registered())
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(previous)
        for name in set(models.registered()) - names:
            models.unregister(name)


@pytest.fixture(scope="module")
def outcomes(scratch) -> list[str | None]:
    """Each block's traceback (None: it ran), running them once, in order, in one namespace:
    later blocks build on earlier ones (imports), as a reader would run them."""
    namespace: dict = {}
    results: list[str | None] = []
    names = set(models.registered())
    for index, block in enumerate(BLOCKS):
        if results and results[-1] is not None:
            results.append(f"not run: block {index - 1} failed")
            continue
        try:
            exec(compile(block, f"README.md python block {index}", "exec"), namespace)  # noqa: S102
            results.append(None if os.getcwd() == str(scratch) else f"block {index} changed the directory")
        except Exception:  # noqa: BLE001 -- reported by that block's test
            results.append(traceback.format_exc())
    for name in set(models.registered()) - names:  # so that a later test can register them anew
        models.unregister(name)
    return results


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, outcomes):
    assert outcomes[index] is None, outcomes[index]


def test_readme_user_model_runs_on_its_own(scratch):
    """The 'Your own model' example: a model written outside the package, at most 40 lines,
    compresses, decompresses and round-trips through a .dcm by its registered name."""
    (block,) = [block for block in BLOCKS if "class Order2Model(Model)" in block]
    assert len(block.splitlines()) <= 40
    names = set(models.registered())
    namespace: dict = {}
    exec(compile(block, "README.md user model", "exec"), namespace)  # noqa: S102
    try:
        assert (scratch / "order2.dcm").is_file() and "order2" in models.registered()
        model = deepcompress.load_model(str(scratch / "order2.dcm"))
        assert type(model).__name__ == "Order2Model" and model.fingerprint() == namespace["Order2Model"](
            namespace["counts"]).fingerprint()
        assert deepcompress.decompress(namespace["blob"], model) == namespace["data"]
    finally:
        for name in set(models.registered()) - names:
            models.unregister(name)
