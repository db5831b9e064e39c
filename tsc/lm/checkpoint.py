"""Checkpoint integrity: weights only as safetensors, checked against the sha256 on the card.

A checkpoint folder holds ``config.json``, the tokenizer, ``model.safetensors`` and
``card.json``. `save_checkpoint` (in `tsc.lm.train`) records the weights' sha256 on the card
as ``weights_sha256``; `check_checkpoint` recomputes it before loading (about 10 ms for the
4 MB bundled model), so a file copied halfway or altered on disk is named in a clear error
instead of failing deep inside the loader, or worse, loading garbage. Pickle weights
(``pytorch_model.bin`` and friends) are refused: unpickling a file can run arbitrary code.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

WEIGHTS = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


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


def write_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place, so a card
    (or any file) is never left half-written."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it a normal file's mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json_cache(path: str | Path | None, fields: dict | None = None) -> dict | None:
    """A cache written by `write_json_cache` (gzip-compressed JSON), or None when there is
    none, it cannot be read, or it was made for other ``fields`` (its stored ``fields``)."""
    import gzip

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
    """Store ``data`` as gzip-compressed JSON, atomically (a temporary file renamed into
    place), so an interrupted run never leaves a half-written cache behind."""
    import gzip

    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(gzip.compress(json.dumps(data).encode()))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def how_to_fix(card: dict) -> str:
    """One sentence on how to get an intact copy of a checkpoint back."""
    reproduce = card.get("reproduce") if isinstance(card, dict) else None
    retrain = f"retrain it with `{reproduce}`" if reproduce else "save or download it again"
    return f"reinstall the package (pip install --force-reinstall) if it is a bundled model, or {retrain}"


def check_checkpoint(folder: str | Path, card: dict) -> None:
    """Raise a ValueError naming the file if ``folder``'s weights are missing, pickled, or do
    not match the sha256 recorded on ``card`` (cards without one are not checked)."""
    folder = Path(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        if (folder / f"{WEIGHTS}.index.json").is_file():
            return  # sharded safetensors (large Hugging Face models): the loader checks the shards' headers
        pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
        if pickled:
            raise ValueError(
                f"{folder} holds pickle weights ({', '.join(pickled)}) and no {WEIGHTS}: tsc loads safetensors only, "
                "because unpickling a file can run arbitrary code; convert them once with "
                "`AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)` on a trusted file"
            )
        raise ValueError(f"{folder} has no weights file {WEIGHTS}; {how_to_fix(card)}")
    expected = card.get("weights_sha256")
    if not expected:
        return
    actual = sha256_of(weights)
    if actual != expected:
        size = weights.stat().st_size
        raise ValueError(
            f"{weights} is damaged or truncated ({size:,} bytes, sha256 {actual[:12]}... but card.json records "
            f"{str(expected)[:12]}...); {how_to_fix(card)}"
        )


def load_checkpoint(path: Path, card: dict, auto_class: str, *, dtype=None, what: str = "checkpoint"):
    """(model, tokenizer) of a checkpoint folder, the one loader of policies and reward models:
    the weights checked first (`check_checkpoint`), then read by `transformers`' ``auto_class``
    (``"AutoModelForCausalLM"``, ``"AutoModelForTokenClassification"``) in ``dtype`` (default
    float32), quietly; anything that goes wrong is a ValueError naming the folder and the fix."""
    import torch
    import transformers

    from tsc.lm.policy import quiet_loading

    check_checkpoint(path, card)  # safetensors only; the sha256 on the card, if any
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True)
        with quiet_loading():  # a million parameters load in milliseconds: no progress bar
            model = getattr(transformers, auto_class).from_pretrained(
                path, local_files_only=True, use_safetensors=True, dtype=dtype or torch.float32
            )
    except Exception as error:  # safetensors' SafetensorError, a broken config or tokenizer file, ...
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ValueError(
            f"cannot load the {what} in {path} ({WEIGHTS}, config or tokenizer damaged?): {detail}; {how_to_fix(card)}"
        ) from error
    return model, tokenizer
