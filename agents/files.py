"""Files the agents read and write: checkpoints loaded without running code, paths checked before work.

Every ``.pt`` file is read with ``torch.load(weights_only=True)``: a file can hold tensors and
plain data (dicts, lists, numbers, strings), never code, so a malicious file cannot run
anything. Whatever goes wrong while reading (a missing, empty, truncated, corrupt or
malicious file, or a file of another kind) is a one-line error that names the file.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

# The kinds of .pt file this project writes, by the keys that identify them.
GENERATOR_KEYS = frozenset({"config", "state_dict"})
POLICY_KEYS = frozenset({"config", "actor", "card"})
CHECKPOINT_KEYS = POLICY_KEYS | {"critic", "optimizer", "updates", "episodes", "seconds", "noise"}


def describe(contents: Any) -> str:
    """What a loaded ``.pt`` file looks like, for 'wrong kind of file' messages."""
    if not isinstance(contents, dict):
        return f"it holds a {type(contents).__name__}, not a dict"
    keys = set(contents)
    if CHECKPOINT_KEYS <= keys:
        return "it is a PPO training checkpoint"
    if POLICY_KEYS <= keys or {"config", "actor", "metadata"} <= keys:
        return "it is an exported policy (actor only, no critic or optimizer)"
    if GENERATOR_KEYS <= keys:
        return "it looks like generator weights (config and state_dict)"
    shown = ", ".join(sorted(map(str, keys))[:8]) or "none"
    return f"its keys are {shown}"


def check_writable_file(path: str | Path, flag: str) -> Path:
    """Make sure a file can be written at ``path`` (creating its folders); ``ValueError`` (one line) if not."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory; give a file path")
    _probe_folder(path.parent, flag, path)
    return path


def check_output(
    path: str | Path,
    flag: str,
    inputs: dict[str, str | Path | None],
    overwrite: bool = False,
    resumed: str | Path | None = None,
    suffixes: tuple[str, ...] = (),
    beside: tuple[str, ...] = (),
    resumable: bool = False,
) -> Path:
    """An output file checked before any work: writable; of a kind the command writes (``suffixes``);
    not one of the command's ``inputs`` (by flag) nor inside an input folder; and not an existing
    file (nor one of the files written ``beside`` it, by suffix) unless ``overwrite``, or unless it
    is the file being ``resumed`` (a ``resumable`` command says so). ``ValueError`` (one line) otherwise."""
    path = check_writable_file(path, flag)
    for input_flag, value in inputs.items():
        if value is None:
            continue
        source = Path(value)
        if same_file(path, source) or any(same_file(path.with_suffix(s), source) for s in beside):
            raise ValueError(
                f"{flag} {path} is this command's {input_flag}: writing it would destroy that input; "
                "choose another path"
            )
        if source.is_dir() and path.resolve().is_relative_to(source.resolve()):
            raise ValueError(f"{flag} {path} is inside {input_flag} {source}; write it elsewhere")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ValueError(f"{flag} {path}: the file it writes is {' or '.join(suffixes)}; give a path ending so")
    if resumed is not None and same_file(path, resumed):
        return path
    for existing in (path, *(path.with_suffix(s) for s in beside)):
        if existing.exists() and not overwrite:
            also = f", or --resume {path} to continue it" if resumable else ""
            raise ValueError(f"{flag} {path}: {existing} exists; give --overwrite to replace it{also}")
    return path


def resumed_path(resumed: str | Path) -> Path:
    """Where a resumed run writes when no ``--out`` is given: beside the file it resumes, as
    ``STEM-resumed``, then ``STEM-resumed-2`` when that one is resumed, and so on. The resumed file
    stays as it was, so a run continued with other settings (or stopped again) loses nothing;
    ``--out`` naming the resumed file itself continues it in place."""
    resumed = Path(resumed)
    counted = re.fullmatch(r"(.*)-resumed(?:-(\d+))?", resumed.stem)
    if counted is None:
        stem = f"{resumed.stem}-resumed"
    else:
        stem = f"{counted.group(1)}-resumed-{int(counted.group(2) or 1) + 1}"
    return resumed.with_name(stem + resumed.suffix)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file (links and relative paths resolved)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def check_writable_folder(path: str | Path, flag: str) -> Path:
    """Make sure ``path`` is (or can be made) a folder we can write to; ``ValueError`` (one line) if not."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is an existing file, not a folder")
    _probe_folder(path, flag, path)
    return path


def _probe_folder(folder: Path, flag: str, shown: Path) -> None:
    for parent in (folder, *folder.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{flag} {shown}: cannot write there, {parent} is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".adagen-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise ValueError(f"{flag} {shown}: cannot write there ({e.strerror or e})") from None
