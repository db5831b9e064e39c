"""Files written whole or not at all, and the cards that describe what is stored (the ground
floor: no torch, nothing else of the package)."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, content: str | bytes) -> None:
    """Write ``content`` (text, or bytes) to a temporary file beside ``path`` and rename it into
    place, so a card, a result or a cache is never left half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if isinstance(content, bytes) else "w") as handle:
            handle.write(content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def how_to_fix(card: dict) -> str:
    """One sentence on how to get an intact copy of a stored model back."""
    reproduce = card.get("reproduce") if isinstance(card, dict) else None
    retrain = f"retrain it with `{reproduce}`" if reproduce else "save or download it again"
    return f"reinstall the package (pip install --force-reinstall) if it is a bundled model, or {retrain}"


def read_card(folder: str | Path) -> dict:
    """The folder's ``card.json`` ({} if there is none); a ValueError naming it if it is broken."""
    card_file = Path(folder) / "card.json"
    if not card_file.exists():
        return {}
    try:
        card = json.loads(card_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise ValueError(f"{card_file} is damaged (not valid JSON: {error}); {how_to_fix({})}") from None
    if not isinstance(card, dict):
        raise ValueError(f"{card_file} is damaged (expected a JSON object, found {type(card).__name__}); {how_to_fix({})}")
    return card


def read_json_cache(path: str | Path | None, fields: dict | None = None) -> dict | None:
    """A cache written by `write_json_cache` (gzip-compressed JSON), or None when there is
    none, it cannot be read, or it was made for other ``fields`` (its stored ``fields``)."""
    if path is None or not Path(path).exists():
        return None
    try:
        data = json.loads(gzip.decompress(Path(path).read_bytes()))
    except (OSError, ValueError, EOFError):  # cut short, or not ours: rebuild it
        return None
    if not isinstance(data, dict) or (fields is not None and data.get("fields") != fields):
        return None
    return data


def write_json_cache(path: str | Path | None, data: dict) -> None:
    """Store ``data`` as gzip-compressed JSON, atomically, so an interrupted run never leaves a
    half-written cache behind."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, gzip.compress(json.dumps(data).encode()))
