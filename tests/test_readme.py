"""The README's Python examples run as written (from the repository root)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 3


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    # Later blocks build on earlier ones (imports), as a reader would run them in order.
    for block in BLOCKS[: index + 1]:
        exec(compile(block, f"README.md python block {index}", "exec"), namespace)
    assert os.getcwd() == str(ROOT)
