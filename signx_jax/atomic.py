"""Atomic writes: a reader finds an output whole or not at all.

The main job resumes after a crash by skipping the steps whose outputs exist
(``signx_jax/main.py``), so an output must never exist half-written. Files and
directories are written under a temporary sibling name and renamed into place
(``os.replace``, atomic within one file system) once complete. The temporary
names are fixed, so the next write replaces what a killed one left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator
from typing import Any


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    path = os.fspath(path)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any, **dump_kwargs) -> None:
    """``json.dump(obj, **dump_kwargs)`` plus a final newline, atomically."""
    write_text(path, json.dumps(obj, **dump_kwargs) + "\n")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    """The JSON at ``path``, or ``default`` when nothing was written there yet."""
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


@contextlib.contextmanager
def directory(path: str | os.PathLike) -> Iterator[str]:
    """Build a directory in the yielded temporary sibling; on success it becomes
    ``path`` (replacing whatever was there), on an exception it is removed and
    ``path`` is left as it was."""
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    tmp = os.path.join(parent, f".{name}.partial")
    _remove(tmp)  # what a killed write left
    os.makedirs(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _remove(path)
    os.replace(tmp, path)
