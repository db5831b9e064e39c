"""The instructors' guide lists every exercise of every chapter, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tsc.cli import main
from tsc.exercises.catalog import CATALOG, END, KINDS, LEVELS, START, exercise_table, exercises_in, render_guide

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def test_every_exercise_has_an_entry_and_every_entry_an_exercise():
    labels = [label for chapter in CHAPTERS for label, _ in exercises_in(chapter)]
    assert labels and len(labels) == len(set(labels)), "exercise labels must be unique across the book"
    assert set(labels) == set(CATALOG), f"missing from CATALOG: {set(labels) - set(CATALOG)}; stale: {set(CATALOG) - set(labels)}"
    for chapter in CHAPTERS:
        number = int(chapter.name[:2])
        assert all(label.startswith(f"ex-{number}-") for label, _ in exercises_in(chapter)), chapter.name


def test_entries_are_well_formed():
    for label, info in CATALOG.items():
        assert info.difficulty in LEVELS and info.kind in KINDS and 0 < info.minutes <= 120, label
        assert len(info.mistakes) >= 3, f"{label}: name the three mistakes its checker is tested on"


def test_the_guide_is_current():
    guide = (ROOT / "book" / "instructors.md").read_text(encoding="utf-8")
    assert render_guide(guide, ROOT / "book") == guide, "run python -m tsc instructors --write"


def test_a_missing_entry_is_named(tmp_path):
    nb = {
        "cells": [{"cell_type": "markdown", "source": "```{exercise} New\n:label: ex-9-9\n\nText.\n```"}],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "09_new.ipynb").write_text(json.dumps(nb))
    with pytest.raises(KeyError, match="ex-9-9 in 09_new.ipynb"):
        exercise_table(tmp_path)
    with pytest.raises(ValueError, match="no generated table"):
        render_guide("no markers here", tmp_path)


def test_cli_reports_an_out_of_date_table(tmp_path, monkeypatch, capsys):
    (tmp_path / "book").mkdir()
    for chapter in CHAPTERS:
        (tmp_path / "book" / chapter.name).write_bytes(chapter.read_bytes())
    (tmp_path / "book" / "instructors.md").write_text(f"# Guide\n\n{START}\nold\n{END}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["instructors"]) == 1 and "out of date" in capsys.readouterr().err
    assert main(["instructors", "--write"]) == 0
    assert main(["instructors"]) == 0 and "ex-1-1" in (tmp_path / "book" / "instructors.md").read_text()
    (tmp_path / "book" / "instructors.md").unlink()
    assert main(["instructors"]) == 2 and "not found" in capsys.readouterr().err
