"""Stored experiments: computed once, read back while the configuration is the same."""

from __future__ import annotations

import json

import pytest

from tsc.experiments import base as experiments


@pytest.fixture
def registry(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "RESULTS", tmp_path)
    for name in list(experiments.EXPERIMENTS):  # the registry emptied in place (restored after the test)
        monkeypatch.delitem(experiments.EXPERIMENTS, name)
    calls = []

    @experiments.experiment("toy", describe="squares", size=3)
    def toy(*, size):
        calls.append(size)
        return {"squares": [i * i for i in range(size)]}

    return calls


def test_computes_once_then_reads_back(registry, tmp_path):
    assert experiments.run("toy") == {"squares": [0, 1, 4]}
    assert experiments.run("toy") == {"squares": [0, 1, 4]}
    assert registry == [3]
    record = json.loads((tmp_path / "toy.json").read_text())
    assert record["config"] == {"size": 3} and record["describe"] == "squares" and "seconds" in record


def test_a_new_configuration_or_refresh_recomputes(registry):
    experiments.run("toy")
    assert experiments.run("toy", size=2) == {"squares": [0, 1]}
    experiments.run("toy", size=2)
    experiments.run("toy", size=2, refresh=True)
    assert registry == [3, 2, 2]


def test_bad_names_and_options_are_clear(registry):
    with pytest.raises(ValueError, match="unknown experiment 'nope'.*toy"):
        experiments.run("nope")
    with pytest.raises(ValueError, match="no option.*colour.*takes size"):
        experiments.run("toy", colour=1)


def test_a_damaged_result_is_recomputed(registry, tmp_path):
    (tmp_path / "toy.json").write_text("{not json")
    assert experiments.run("toy") == {"squares": [0, 1, 4]}
    assert registry == [3]


def test_a_result_built_from_cached_rows_records_the_compute_of_the_whole(tmp_path, monkeypatch):
    """A rerun that reads every row back from the cache is fast, but the record must still
    say what the result cost: the seconds each cached row took when it was computed."""
    import time

    from tsc.analysis import SweepCache

    monkeypatch.setattr(experiments, "RESULTS", tmp_path / "results")
    for name in list(experiments.EXPERIMENTS):  # the registry emptied in place (restored after the test)
        monkeypatch.delitem(experiments.EXPERIMENTS, name)
    rows = tmp_path / "rows.jsonl"

    @experiments.experiment("slow", describe="two slow rows, cached", rows=2)
    def slow(*, rows: int):
        store = SweepCache(tmp_path / "rows.jsonl")
        out = []
        for i in range(rows):
            key = f"row{i}"
            row = store.get(key)
            if row is None:  # the pattern of the chapters' experiments: miss, compute, append
                time.sleep(0.2)
                row = {"i": i}
                store.append(key, {"i": i}, row)
            out.append(row["i"])
        return out

    experiments.run("slow")
    first = json.loads((tmp_path / "results" / "slow.json").read_text())
    assert first["seconds"] >= 0.4 and "cached_rows" not in first
    assert all(json.loads(line)["seconds"] >= 0.2 for line in rows.read_text().splitlines())
    experiments.run("slow", refresh=True)  # every row from the cache now
    again = json.loads((tmp_path / "results" / "slow.json").read_text())
    assert again["cached_rows"] == 2 and again["seconds_this_run"] < 0.2
    assert again["seconds"] >= 0.4  # the whole result's compute, not the cache hit's
    # a row stored without its time (an older cache) is counted as untimed, not as zero
    rows.write_text(rows.read_text() + json.dumps({"key": "row2", "config": {}, "row": {"i": 2}}) + "\n")
    experiments.run("slow", rows=3)
    third = json.loads((tmp_path / "results" / "slow.json").read_text())
    assert third["cached_rows"] == 3 and third["cached_rows_untimed"] == 1


def test_cached_rows_computed_in_the_same_run_count_once(tmp_path):
    from tsc.analysis import SweepCache, reused_compute

    with reused_compute() as reused:
        store = SweepCache(tmp_path / "rows.jsonl")
        store.fetch({"a": 1}, lambda: {"x": 1})
        assert SweepCache(tmp_path / "rows.jsonl").fetch({"a": 1}, dict) == {"x": 1}  # read back, computed here
    assert reused.rows == 0 and reused.seconds == 0
    with reused_compute() as reused:
        SweepCache(tmp_path / "rows.jsonl").fetch({"a": 1}, dict)
        SweepCache(tmp_path / "rows.jsonl").fetch({"a": 1}, dict)  # the same row twice: counted once
    assert reused.rows == 1 and reused.untimed == 0


def test_cli_lists_and_runs(registry, capsys):
    from tsc.cli import main

    assert main(["experiment", "--list"]) == 0
    assert "toy" in capsys.readouterr().out
    assert main(["experiment", "toy"]) == 0
    assert main(["experiment", "nope"]) == 2
    assert "unknown experiment" in capsys.readouterr().err


# Results computed before attention was counted twice (QK^T and AV, `tsc.compute.FLOPS_CONVENTION`).
# Each chapter's third edition recomputes its own (`python -m tsc experiment NAME --refresh`) and
# removes it here; the list must end empty.
STALE_FLOPS: set[str] = set()


def test_every_shipped_result_counts_flops_one_way():
    import json

    from tsc.compute import FLOPS_CONVENTION
    from tsc.experiments import RESULTS

    for path in sorted(RESULTS.glob("*.json")):
        record = json.loads(path.read_text())
        recounted = record.get("flops_convention") == FLOPS_CONVENTION
        if path.stem in STALE_FLOPS:
            assert not recounted, f"{path.stem} was recomputed: remove it from STALE_FLOPS"
        else:
            assert recounted, f"{path.stem} counts FLOPs another way: recompute it (python -m tsc experiment {path.stem} --refresh)"
