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
from contextlib import contextmanager
from pathlib import Path

from tsc.io import how_to_fix

ASSETS = Path(__file__).resolve().parent.parent / "assets"  # the bundled models, one folder each
WEIGHTS = "model.safetensors"
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def sha256_of(path: str | Path) -> str:
    """Hex sha256 of a file."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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


@contextmanager
def quiet_loading():
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            logging.enable_progress_bar()


def bundled_models(kind: str | None = "policy") -> dict[str, Path]:
    """Name → folder of every model shipped in ``tsc/assets`` of ``kind``: ``"policy"`` (the
    causal LMs `load_policy` takes; the default), ``"orm"`` or ``"prm"`` (reward models, see
    `tsc.lm.reward`), or None for all of them. A folder's kind is its card's ``kind``."""
    folders = {p.name: p for p in sorted(ASSETS.iterdir()) if (p / "config.json").exists()} if ASSETS.exists() else {}
    return {name: p for name, p in folders.items() if kind is None or card_kind(p) == kind}


def card_kind(folder: Path) -> str:
    """The ``kind`` on a folder's card; a folder without a readable card holds a policy."""

    try:
        return json.loads((folder / "card.json").read_text(encoding="utf-8")).get("kind") or "policy"
    except (OSError, ValueError, AttributeError):
        return "policy"
