"""What the golden-file scripts share: the entries of expected.json, and writing what they
derive or checking it is current.

`sync(files, folders, hint)` with DEEPCOMPRESS_REGEN=1 removes the `.dcz` files of `folders`
that `files` no longer names, writes `files` and returns 0; otherwise it prints each file that
is missing or differs and returns 1 if any does (with `hint` on how to rewrite them), else 0.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def valid_entry(name: str, data: bytes, model: object, coder: str, block_size: int, blob: bytes) -> dict:
    """expected.json's entry for the valid stream `blob` of `data` (model: a name or a model)."""
    return {"file": f"{name}.dcz", "model": model if isinstance(model, str) else model.name, "coder": coder,
            "block_size": block_size, "original_bytes": len(data), "output_sha256": sha256(data),
            "dcz_sha256": sha256(blob)}


def add_corrupt(files: dict[Path, bytes], expected: dict, folder: Path,
                streams: dict[str, tuple[bytes, str, str]]) -> None:
    """Add damaged streams (name -> (stream, error class, damage)) under `folder` (the valid
    streams' folder's corrupt/) to `files`, and their entries to `expected["corrupt"]`."""
    for name, (blob, error, description) in streams.items():
        files[folder / f"{name}.dcz"] = blob
        expected["corrupt"][name] = {"file": f"corrupt/{name}.dcz", "error": error, "damage": description,
                                     "dcz_sha256": sha256(blob)}


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
