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
STALE_FLOPS = {
    "budget_forcing_curve",
    "budget_forcing_wait",
    "ch04-grid",
    "ch05-search-vs-best-of-n",
    "ch06-best-of-many",
    "ch06-sequential",
    "ch07-early-stop",
    "ch07-family",
    "ch07-frontier",
    "ch08_arithmetic",
    "ch08_countdown",
    "ch08_fit",
    "ch09-map",
    "ch09-thinker",
    "parallel_samples",
    "rl_pass_at_k",
}


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
