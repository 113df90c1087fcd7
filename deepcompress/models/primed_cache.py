"""A disk cache of primed priors' start states, so that priming is paid once, not in every process.

A primed prior (`models.prior`) starts each stream where the engine stands after running over
the end of its history: ~1.2 s for the default 512 KiB, in every process that codes with it, while
a small file takes ~0.1 s to code. This module keeps that state on disk between processes. It only
stores and returns arrays; what they mean, and which values a kernel may be fed, the caller checks
(`adaptive.BlockSession.restored`).

Where: $DEEPCOMPRESS_PRIMED_CACHE (a folder; "off" disables the cache), else deepcompress/primed
under $XDG_CACHE_HOME (if absolute) or ~/.cache. A folder that cannot be made or written is not an
error: the state is then computed as without a cache.

Names: `entry_key(parts)`, a sha256 over every source file of this package (read as it is
imported; a package without its sources has no cache), numpy's version, the byte order, and the
caller's parts (the prior's fingerprint: its config, table sizes and snapshot). Any change to the
code that computes the state, or to the prior, names another entry; an entry is never trusted by
its name alone.

Trust: the sha256 catches damage, not forgery. Whoever can write the folder can write entries
whose values differ from a real priming (as they could edit the installed package); the caller
refuses values that would make the kernel read out of bounds, and a stream coded from other
values fails its CRC on any machine that primes correctly.

Entry file (`<key>.state`, little-endian):

    magic b"DCPS\\x01" | u32 n | n bytes of JSON: [[name, dtype, shape], ...]
    | each array's raw bytes, in that order | 32 bytes: sha256 of everything before

`load` reads an entry only if its size is what its list of arrays says and at most
MAX_ENTRY_BYTES, its sha256 matches, and its arrays are exactly the names, dtypes and shapes the
caller expects; otherwise (damaged, truncated, of another version) it returns None and the caller
recomputes. Writes go to a temporary file in the folder, then `os.replace`, so a reader never
sees a partial entry, and a process skips writing an entry that another began writing under
WRITER_GRACE_S ago; at most MAX_ENTRIES entries and MAX_CACHE_BYTES are kept (the least recently
used go; writers' leftovers after an hour).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import struct
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

ENVIRONMENT = "DEEPCOMPRESS_PRIMED_CACHE"
OFF_VALUES = frozenset({"off", "0", "false", "no", "none"})
WRITER_GRACE_S = 120  # a store of an entry that another process began writing this recently is skipped
MAGIC = b"DCPS\x01"
MAX_ENTRIES = 8
MAX_ENTRY_BYTES = 1 << 26  # 64 MiB: a default prior's primed tables for inputs up to 128 KiB (~30 MB up to 32 KiB)
MAX_CACHE_BYTES = 1 << 28  # all entries together
_U32 = struct.Struct("<I")
_DIGEST_BYTES = 32
_SUFFIX = ".state"
_ENTRY_NAME = re.compile(r"[0-9a-f]{64}\.state")
_TEMPORARY_NAME = re.compile(r"\.[0-9a-f]{64}\.[A-Za-z0-9_]+\.tmp")  # mkstemp's names in `store`

# what one entry holds: name -> (dtype, shape)
Spec = Mapping[str, tuple[np.dtype, tuple[int, ...]]]


def cache_dir() -> Path | None:
    """The cache's folder, or None when the cache is off: $DEEPCOMPRESS_PRIMED_CACHE is one of
    OFF_VALUES (any case), or it is unset and no absolute user cache folder is known."""
    chosen = os.environ.get(ENVIRONMENT, "")
    if chosen.lower() in OFF_VALUES:
        return None
    if chosen:
        return Path(chosen)
    cache = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(cache):  # the XDG rule: a relative value is ignored
        home = os.path.expanduser("~")
        if not os.path.isabs(home):  # no home folder known: never a folder under the working one
            return None
        cache = os.path.join(home, ".cache")
    return Path(cache) / "deepcompress" / "primed"


def _sources_digest() -> str | None:
    """sha256 of every source file of this package, or None when they cannot all be read (a
    package installed without its sources, or changed under us): the cache is then off, since
    nothing else would tell one version's states from another's."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    try:
        paths = sorted(package.rglob("*.py"))
        if Path(__file__).resolve() not in paths:
            return None
        for path in paths:
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    return digest.hexdigest()


# taken as the package is imported: the code that computes the states is the code of this process
_SOURCES_DIGEST = _sources_digest()


def entry_key(parts: Sequence[str]) -> str | None:
    """64 hex digits naming the entry of a state computed by this package's code from `parts`;
    None when the package's sources could not be read (no entry is then loaded or stored)."""
    if _SOURCES_DIGEST is None:
        return None
    digest = hashlib.sha256()
    for part in (_SOURCES_DIGEST, np.__version__, sys.byteorder, *parts):
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


def _entry_header(spec: Spec) -> bytes:
    """An entry's bytes before its arrays: magic, the length of the array list, the list."""
    listed = json.dumps([[name, np.dtype(dtype).str, list(shape)] for name, (dtype, shape) in spec.items()]).encode()
    return MAGIC + _U32.pack(len(listed)) + listed


def _entry_bytes(header: bytes, spec: Spec) -> int:
    """The size of an entry of `spec` after `header`: the header, every array, the digest."""
    arrays = sum(np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64)) for dtype, shape in spec.values())
    return len(header) + arrays + _DIGEST_BYTES


def load(key: str, spec: Spec) -> dict[str, np.ndarray] | None:
    """The arrays stored under `key`, new and writable, exactly as `spec` names them; None when
    there is no such entry, the cache is off or unreadable, or the entry is not intact and of this spec."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / (key + _SUFFIX)
    header = _entry_header(spec)
    size = _entry_bytes(header, spec)
    if size > MAX_ENTRY_BYTES:
        return None
    digest = hashlib.sha256()
    arrays = {}
    try:
        # non-blocking: a FIFO put there must not hang the reader (it is refused as not regular)
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)),
                       "rb") as entry:
            status = os.fstat(entry.fileno())
            if not stat.S_ISREG(status.st_mode) or status.st_size != size or entry.read(len(header)) != header:
                return None
            digest.update(header)
            for name, (dtype, shape) in spec.items():
                array = np.empty(shape, dtype=dtype)
                raw = array.reshape(-1).view(np.uint8)  # the array's own bytes (any shape, empty too)
                if entry.readinto(raw) != len(raw):
                    return None
                digest.update(raw)
                arrays[name] = array
            if entry.read(_DIGEST_BYTES) != digest.digest():
                return None
            try:
                os.utime(entry.fileno())  # recently used: kept when older entries are evicted
            except OSError:  # a read-only folder: the entry is still good
                pass
    except OSError:
        return None
    return arrays


def store(key: str, arrays: Mapping[str, np.ndarray]) -> None:
    """Keep `arrays` (contiguous, any dtype) under `key`; does nothing when the cache is off, the
    entry would exceed MAX_ENTRY_BYTES or the folder cannot be written."""
    folder = cache_dir()
    if folder is None:
        return
    spec = {name: (array.dtype, array.shape) for name, array in arrays.items()}
    header = _entry_header(spec)
    if _entry_bytes(header, spec) > MAX_ENTRY_BYTES:
        return
    digest = hashlib.sha256()
    temporary = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if _being_written(folder, key):
            return  # by another process that primed the same prior: one copy in flight, not one per process
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{key}.", suffix=".tmp")
        with os.fdopen(handle, "wb") as entry:
            for part in (header, *(np.ascontiguousarray(array).reshape(-1).view(np.uint8) for array in arrays.values())):
                digest.update(part)
                entry.write(part)
            entry.write(digest.digest())
        os.replace(temporary, folder / (key + _SUFFIX))
        temporary = None
        _evict(folder)
    except OSError:
        pass
    finally:
        if temporary is not None:
            _unlink(Path(temporary))


def _being_written(folder: Path, key: str) -> bool:
    for path in folder.glob(f".{key}.*.tmp"):
        try:
            if time.time() - path.stat().st_mtime < WRITER_GRACE_S:
                return True
        except OSError:
            continue
    return False


def _evict(folder: Path) -> None:
    """Remove the least recently used entries beyond MAX_ENTRIES or MAX_CACHE_BYTES in all, and
    temporary files a writer left over an hour ago (a killed process)."""
    entries = []
    for path in folder.iterdir():
        entry, leftover = _ENTRY_NAME.fullmatch(path.name), _TEMPORARY_NAME.fullmatch(path.name)
        if not (entry or leftover):  # a folder shared with other files: only ours are touched
            continue
        try:
            status = path.stat()
        except OSError:
            continue
        if entry:
            entries.append((status.st_mtime_ns, status.st_size, path))
        elif time.time() - status.st_mtime > 3600:
            _unlink(path)
    kept_bytes = 0
    for rank, (_, size, path) in enumerate(sorted(entries, reverse=True)):
        kept_bytes += size
        if rank >= MAX_ENTRIES or kept_bytes > MAX_CACHE_BYTES:
            _unlink(path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
