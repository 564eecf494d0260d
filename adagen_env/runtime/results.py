"""The one writer of results files: JSON data and a Markdown page side by side, with provenance.

``adagen eval --json``, the experiment reports and every benchmark write through it, so every
results file says which commit, packages, threads, device and load produced it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adagen_env.runtime.files import atomic_write_json, atomic_write_text
from adagen_env.runtime.provenance import Provenance


def write_results(
    path: str | Path, data: dict[str, Any], provenance: Provenance | None = None, markdown: str | None = None
) -> list[Path]:
    """Write ``data`` plus its provenance to ``path`` (``.json`` added if missing) and, given, ``markdown``
    beside it (same name, ``.md``) with the provenance in a footer; atomically. Returns the paths written."""
    path = Path(path)
    path = path if path.suffix == ".json" else path.with_name(path.name + ".json")
    record = (provenance or Provenance()).record()
    written = [atomic_write_json(path, {**data, "provenance": record})]
    if markdown is not None:
        footer = (
            f"\n---\nWritten by `{record['command']}` at commit {record['commit'] or 'unknown'}"
            f"{' (with uncommitted changes)' if record['dirty'] else ''}; torch {record['versions']['torch']}, "
            f"{record['torch_threads']} thread(s) on {record['device']}, load {record['load_average_before']} "
            f"before, {record['load_average_after']} after; {record['wall_seconds']:.0f} s.\n"
        )
        written.append(atomic_write_text(path.with_suffix(".md"), markdown.rstrip() + "\n" + footer))
    return written
