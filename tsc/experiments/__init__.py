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
    python -m tsc experiment NAME --install  # fit what a strategy ships from the stored result

An experiment is a function of keyword-only configuration returning JSON-able data (dicts,
lists, numbers, strings), registered with `experiment`; long ones resume by passing a
``runs/`` cache to `tsc.analysis.sweep`. Chapter modules live beside this one (``ch02``,
``ch04``, ...), register with `tsc.experiments.base`, and are imported here.
"""

# chapter modules register their experiments on import
from tsc.experiments import ch02, ch03, ch04, ch05, ch06, ch07, ch08, ch09  # noqa: E402,F401
from tsc.experiments.base import EXPERIMENTS, RESULTS, Experiment, experiment, installs, path_of, resolve_knobs, run, stored

__all__ = ["EXPERIMENTS", "RESULTS", "Experiment", "experiment", "installs", "path_of", "resolve_knobs", "run", "stored"]
