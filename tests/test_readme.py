"""The README's Python examples run as written (from the repository root)."""

from __future__ import annotations

import os
import re
import traceback
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.fixture(scope="module")
def outcomes() -> list[str | None]:
    """Each block's traceback (None: it ran), running them once, in order, in one namespace:
    later blocks build on earlier ones (imports), as a reader would run them."""
    previous = os.getcwd()
    os.chdir(ROOT)
    namespace: dict = {}
    results: list[str | None] = []
    try:
        for index, block in enumerate(BLOCKS):
            if results and results[-1] is not None:
                results.append(f"not run: block {index - 1} failed")
                continue
            try:
                exec(compile(block, f"README.md python block {index}", "exec"), namespace)  # noqa: S102
                results.append(None if os.getcwd() == str(ROOT) else f"block {index} changed the directory")
            except Exception:  # noqa: BLE001 -- reported by that block's test
                results.append(traceback.format_exc())
    finally:
        os.chdir(previous)
    return results


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, outcomes):
    assert outcomes[index] is None, outcomes[index]
