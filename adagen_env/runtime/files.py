"""Writing files so that a crash, a full disk or a second writer never leaves a half file behind.

Every save goes to a unique temporary file in the target's own folder, is flushed to disk, then
renamed over the target in one step: readers see the old file or the new one, never a mix, and
two writers of one path cannot trip over each other's temporary file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write(file)`` on a fresh temporary file beside ``path``, fsync it, and rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj, path)``, atomically."""
    return atomic_write(path, lambda file: torch.save(obj, file))


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path``, atomically."""
    return atomic_write(path, lambda file: file.write(text.encode()))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON to ``path``, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")
