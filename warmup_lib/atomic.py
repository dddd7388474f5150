"""Atomic writes: a reader sees the old file or the new one, never half of one.

Every file the library writes (store records, caches, figures, executed notebooks) goes through
:func:`atomic_write`: the content is written to a temporary file in the target's folder, which then
replaces the target with ``os.replace`` (atomic on POSIX and Windows within one file system).  A
process killed mid-write leaves at most a ``.<name>.*.tmp`` file, never a damaged target.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_json"]


def atomic_write(path: str | Path, write: Callable[[IO], Any], binary: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, then move it onto ``path``.

    Args:
        path: the file to (re)place; its folder is created if missing.
        write: writes the content to the open handle it is given.
        binary: open the temporary file in binary mode (``"wb"``) instead of text (``"w"``, UTF-8).

    Returns:
        ``path`` as a Path.  The file keeps the permission bits of the file it replaces (0o644 for a
        new one): ``mkstemp`` alone would leave it readable by its owner only.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(temporary, mode)
        with os.fdopen(handle, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as stream:
            write(stream)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, value: Any) -> Path:
    """Write ``value`` as JSON (indent 1, sorted keys, as every cache in results/ is written), atomically.

    Args:
        path: the JSON file.
        value: anything ``json.dump`` accepts; other objects are written as ``str(object)``.

    Returns:
        ``path`` as a Path.
    """
    return atomic_write(path, lambda stream: json.dump(value, stream, indent=1, sort_keys=True, default=str))
