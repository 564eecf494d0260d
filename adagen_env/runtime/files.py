"""Files read without running code, and written so that a crash, a full disk or a second writer never
leaves a half file behind.

Every ``.pt`` file is read with ``torch.load(weights_only=True)`` (:func:`read_torch_file`): a file can
hold tensors and plain data, never code; whatever goes wrong while reading is one line naming the file.

Every save goes to a unique temporary file in the target's own folder, is flushed to disk, then
renamed over the target in one step: readers see the old file or the new one, never a mix, and
two writers of one path cannot trip over each other's temporary file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
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
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        cause = next((e for e in (error, error.__context__, error.__cause__) if isinstance(e, OSError)), None)
        if cause is not None and cause.strerror:  # a full disk, a size limit: one line, and the old file stands
            kept = "the previous file is kept" if path.exists() else "nothing was written"
            raise ValueError(f"cannot write {path} ({cause.strerror}); {kept}") from error
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


def one_line(message: str) -> str:
    """The first line of ``message``, whitespace collapsed (error messages stay one line)."""
    return " ".join(message.strip().splitlines()[0].split()) if message.strip() else message


def read_torch_file(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)``; ``FileNotFoundError`` or a one-line ``ValueError`` naming the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no file at {path}")
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a .pt file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Detected pickle protocol 4": irrelevant to the user
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling, zip, EOF and key errors all mean "cannot read this file"
        text = str(e)
        unsafe = re.search(
            r"\bGLOBAL ([\w.]+)", text
        )  # "Unsupported global: GLOBAL x", "unsupported GLOBAL x whose module"
        if unsafe:
            raise ValueError(
                f"{path}: refused to load: it asks to run Python code ({unsafe.group(1)}), and files of this "
                "project hold only tensors and plain data; it is corrupt, malicious or not one of ours"
            ) from e
        if "central directory" in text or isinstance(e, EOFError):
            raise ValueError(f"{path}: truncated or corrupt (not a complete torch file)") from e
        detail = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
        detail = detail.group(1) if detail else f"{type(e).__name__}: {one_line(text) or 'no details'}"
        raise ValueError(f"{path}: not a readable torch file ({detail})") from e
