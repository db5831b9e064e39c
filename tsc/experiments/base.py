"""The experiments' registry: `experiment` registers one, `run` computes it or reads its stored
result back, `installs` registers what fits a strategy's shipped table from it."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path

from tsc.analysis import reused_compute
from tsc.compute import FLOPS_CONVENTION
from tsc.io import write_atomic

RESULTS = Path(__file__).resolve().parent.parent / "assets" / "results"


@dataclass(frozen=True)
class Experiment:
    name: str
    compute: Callable[..., object]
    config: dict  # the default configuration; the stored result says which one it was computed with
    describe: str
    install: Callable[[], Path] | None = None  # fits what a strategy ships from the stored result (`installs`)


EXPERIMENTS: dict[str, Experiment] = {}


def experiment(name: str, *, describe: str, **config) -> Callable:
    """Register ``compute(**config)`` as the experiment ``name`` (a decorator)."""

    def register(compute: Callable) -> Callable:
        if name in EXPERIMENTS:
            raise ValueError(f"experiment {name!r} is registered twice")
        EXPERIMENTS[name] = Experiment(name, compute, dict(config), describe)
        return compute

    return register


def installs(name: str) -> Callable:
    """Register ``install()`` as what ``python -m tsc experiment NAME --install`` runs: it fits,
    from the stored result of ``name``, what a strategy ships (a decorator)."""

    def register(install: Callable) -> Callable:
        EXPERIMENTS[name] = replace(EXPERIMENTS[name], install=install)
        return install

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


def key_ids(keys) -> list[int]:
    """Each sample's answer key as a small integer, in order of first appearance (the first key
    seen is 0; -1: malformed), how results store a problem's answers compactly."""
    ids: dict[str, int] = {}
    return [-1 if k is None else ids.setdefault(k, len(ids)) for k in keys]


def _machine() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "processor": platform.machine(),
        "tsc": metadata.version("tsc"),
    }
