"""Experiments too slow for a chapter's 150 s, computed once and shipped with their results.

A chapter that needs a grid of hours (every checkpoint of the family at every budget, an
RL run's held-out curve, pass@256 of two models) calls a registered experiment: the first
call computes it and stores the result as ``tsc/assets/results/NAME.json``; later calls, in
the book build, in CI or in Colab, read that file back as long as the experiment's
configuration is unchanged. The result file records the configuration, the wall time, the
machine and the package versions it was computed with, so a reader can see what it is and
recompute it. Its ``seconds`` is the compute of the whole result: rows that a resumable cache
(`tsc.analysis.SweepCache`) gave back count with the time they took when they were computed
(``seconds_this_run`` is the wall time of the run that stored it):

    python -m tsc experiment --list
    python -m tsc experiment NAME            # compute (or read back) and print a summary
    python -m tsc experiment NAME --refresh  # compute again and store the new result

An experiment is a function of keyword-only configuration returning JSON-able data (dicts,
lists, numbers, strings), registered with `experiment`; long ones resume by passing a
``runs/`` cache to `tsc.analysis.sweep`. Chapter modules live beside this one (``ch02``,
``ch04``, ...) and are imported at the end of this file.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tsc.compute import FLOPS_CONVENTION

RESULTS = Path(__file__).resolve().parent.parent / "assets" / "results"


@dataclass(frozen=True)
class Experiment:
    name: str
    compute: Callable[..., object]
    config: dict  # the default configuration; the stored result says which one it was computed with
    describe: str


EXPERIMENTS: dict[str, Experiment] = {}


def experiment(name: str, *, describe: str, **config) -> Callable:
    """Register ``compute(**config)`` as the experiment ``name`` (a decorator)."""

    def register(compute: Callable) -> Callable:
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered twice")
        EXPERIMENTS[name] = Experiment(name, compute, dict(config), describe)
        return compute

    return register


def path_of(name: str) -> Path:
    return RESULTS / f"{name}.json"


def stored(name: str) -> dict | None:
    """The stored record of ``name`` (config, data, provenance), or None if there is none or
    it cannot be read."""
    try:
        record = json.loads(path_of(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "data" in record else None


def run(name: str, *, refresh: bool = False, progress: bool = False, **overrides):
    """The data of experiment ``name``: read back when a stored result has the same
    configuration (and ``refresh`` is False), else computed now and stored (when the package
    folder is writable; in a read-only install the result is returned without storing)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(sorted(EXPERIMENTS)) or '(none)'}")
    spec = EXPERIMENTS[name]
    unknown = sorted(set(overrides) - set(spec.config))
    if unknown:
        raise ValueError(f"experiment {name!r} has no option(s) {', '.join(unknown)}; it takes {', '.join(sorted(spec.config))}")
    config = {**spec.config, **overrides}
    record = None if refresh else stored(name)
    if record is not None and record.get("config") == json.loads(json.dumps(config)):
        return record["data"]
    if progress:
        print(f"computing experiment {name} ({spec.describe})", flush=True)
    from tsc.analysis import reused_compute

    with reused_compute() as reused:
        started = time.perf_counter()
        data = spec.compute(**config)
        wall = time.perf_counter() - started
    record = {
        "name": name,
        "describe": spec.describe,
        "config": config,
        # the compute of the whole result: this run's wall time plus what the cached rows it
        # read back had cost when they were computed (a cache hit alone would say seconds)
        "seconds": round(wall + reused.seconds, 1),
        "seconds_this_run": round(wall, 1),
        **({"cached_rows": reused.rows} if reused.rows else {}),
        **({"cached_rows_untimed": reused.untimed} if reused.untimed else {}),
        "computed": time.strftime("%Y-%m-%d"),
        "machine": _machine(),
        "flops_convention": FLOPS_CONVENTION,
        "data": data,
    }
    try:
        from tsc.lm.checkpoint import write_atomic

        RESULTS.mkdir(parents=True, exist_ok=True)
        write_atomic(path_of(name), json.dumps(record, indent=1, sort_keys=False) + "\n")
    except OSError:  # a read-only install (site-packages): the result is still returned
        pass
    return json.loads(json.dumps(data))  # what a read-back would return (tuples as lists, keys as strings)


def resolve_knobs(knobs: dict, policy) -> dict:
    """A strategy's knobs as an experiment stores them (JSON: a verifier or a reviser by name)
    turned into what the strategy takes: ``verifier`` through `tsc.verifiers.get_verifier`
    (``"self"`` judges with ``policy``), ``reviser`` loaded with `tsc.load_policy`."""
    options = dict(knobs)
    if "verifier" in options:
        from tsc.verifiers import get_verifier

        options["verifier"] = get_verifier(options["verifier"], policy=policy)
    if "reviser" in options:
        from tsc.lm.policy import load_policy

        options["reviser"] = load_policy(options["reviser"])
    return options


def _machine() -> dict:
    import torch

    import tsc

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "processor": platform.machine(),
        "tsc": getattr(tsc, "__version__", "0"),
    }


# chapter modules register their experiments on import (keep this at the end)
# from tsc.experiments import ch02, ch04  # noqa: E402,F401
from tsc.experiments import ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09  # noqa: E402,F401
