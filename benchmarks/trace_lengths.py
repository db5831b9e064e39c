"""How long the search traces of `tsc.tasks.trace` are, and how much thinking each needs.

For held-out problems (``countdown.generate(500, seed=1, split="test", sizes=...)``) it writes
every problem's depth-first-search trace (`dfs_trace`) and prints, per mix of sizes, the
length of the thinking in characters (= tokens of the character-level trace model; median,
90th and 95th percentile, max), the share of problems whose trace closes its thinking with a
solution within N thinking tokens (``#`` included: a budget of N lets the model write N
tokens before its answer, as `tsc.strategies.thinking.budget_forcing` counts) and the share
whose whole text (start token, prompt, trace, answer) fits a context of 1,152 tokens.

    python benchmarks/trace_lengths.py [--problems 500] [--sizes 3,4 3,4,5 ...]

A mix lists sizes as `countdown.generate` draws them, uniformly: ``3,4,4`` is one problem of
three numbers to two of four.

The shares within N are what a model that imitated the traces perfectly would solve with N
thinking tokens: an upper bound of the budget-forcing curve of a trained trace model.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from tsc.tasks import countdown
from tsc.tasks.trace import THINK_END, dfs_trace, split_trace

BUDGETS = (32, 64, 128, 256, 512, 1024)
CONTEXT = 1152  # a 1,024-token thinking budget plus the start token, a prompt (<= 16), "#" and an answer (<= 30)


def measure(sizes: tuple[int, ...], problems: int, seed: int) -> dict:
    """Length statistics and solved-within-N shares of the traces of one mix of sizes."""
    thinking_lengths, solved, whole = [], [], []
    for problem in countdown.generate(problems, seed=seed, split="test", sizes=sizes):
        trace = dfs_trace(problem)
        thinking, answer = split_trace(trace)
        thinking_lengths.append(len(thinking))
        solved.append(answer is not None and problem.check(answer))
        whole.append(1 + len(problem.prompt()) + len(trace))
    lengths = np.array(thinking_lengths)
    ok = np.array(solved)
    return {
        "sizes": sizes,
        "median": int(np.median(lengths)),
        "p90": int(np.percentile(lengths, 90)),
        "p95": int(np.percentile(lengths, 95)),
        "max": int(lengths.max()),
        "within": {n: float(np.mean(ok & (lengths + len(THINK_END) <= n))) for n in BUDGETS},
        "found": float(ok.mean()),
        "fits": float(np.mean(np.array(whole) <= CONTEXT)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sizes", nargs="+", default=["3", "4", "3,4", "3,4,4", "3,4,5"], help="mixes of sizes, e.g. 3,4")
    args = parser.parse_args()
    header = f"{'sizes':<8} {'median':>6} {'p90':>6} {'p95':>6} {'max':>7}  " + " ".join(f"{f'<={n}':>6}" for n in BUDGETS)
    print(f"thinking length in characters (= tokens) and share solved within N thinking tokens, {args.problems} held-out problems")
    print(header + f"  {'found':>6} {f'fits {CONTEXT}':>9}")
    started = time.perf_counter()
    for spec in args.sizes:
        row = measure(tuple(int(s) for s in spec.split(",")), args.problems, args.seed)
        within = " ".join(f"{row['within'][n]:>6.0%}" for n in BUDGETS)
        lengths = f"{row['median']:>6} {row['p90']:>6} {row['p95']:>6} {row['max']:>7}"
        print(f"{spec:<8} {lengths}  {within}  {row['found']:>6.0%} {row['fits']:>9.0%}")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
