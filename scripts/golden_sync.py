"""The one step the golden-file scripts share: write what they derive, or check it is current.

`sync(files, folders, hint)` with DEEPCOMPRESS_REGEN=1 removes the `.dcz` files of `folders`
that `files` no longer names, writes `files` and returns 0; otherwise it prints each file that
is missing or differs and returns 1 if any does (with `hint` on how to rewrite them), else 0.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sync(files: dict[Path, bytes], folders: Iterable[Path], hint: str) -> int:
    """Write `files` (path -> content) under DEEPCOMPRESS_REGEN=1, else check them; exit status."""
    if os.environ.get("DEEPCOMPRESS_REGEN") == "1":
        folders = list(folders)
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        for path in {path for folder in folders for path in folder.glob("*.dcz")} - set(files):
            path.unlink()
        for path, content in files.items():
            path.write_bytes(content)
        print(f"wrote {len(files)} files under {os.path.commonpath([*map(str, files)]).removeprefix(str(ROOT) + os.sep)}")
        return 0
    differing = [path for path, content in files.items() if not path.exists() or path.read_bytes() != content]
    for path in differing:
        print(f"out of date: {path.relative_to(ROOT)}")
    if differing:
        print(f"set DEEPCOMPRESS_REGEN=1 to rewrite them{hint}")
        return 1
    print(f"all {len(files)} golden files are current")
    return 0
