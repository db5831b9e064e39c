"""The README's `solve` table: every strategy through `python -m tsc solve` on one set of
held-out problems, with 95 % bootstrap intervals, wall time and FLOPs per problem.

    python benchmarks/solve_table.py [--problems 1000] [--seed 0] [--only majority,beam]

The problems are `countdown.generate(N, seed=20261130)` (held-out, uniform over solvable
ones, sizes 3 to 5); each problem gets its own seed from ``--seed`` (`tsc.core.problem_seed`).
Each row runs the command in this process (the model files are read again by each run; the
wall time includes that, not Python's start). Rows are cached in ``runs/solve_table/`` so an
interrupted run resumes; ``--fresh`` recomputes. Then the paired comparisons. The table is
printed and written to ``benchmarks/results/solve_table.md``, which the book's page "What we
measured" shows.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tsc.analysis import bootstrap, paired  # noqa: E402
from tsc.cli import main  # noqa: E402
from tsc.compute import FLOPS_CONVENTION  # noqa: E402
from tsc.io import write_atomic  # noqa: E402
from tsc.tasks import countdown  # noqa: E402

ROWS = [
    ("greedy", ["--strategy", "greedy"]),
    ("sample", ["--strategy", "sample"]),
    ("majority --n 16", ["--strategy", "majority", "--n", "16"]),
    ("majority --n 16 --temperature 0.8", ["--strategy", "majority", "--n", "16", "--temperature", "0.8"]),
    ("majority --n 64", ["--strategy", "majority", "--n", "64"]),
    ("best_of_n --n 32 --verifier oracle", ["--strategy", "best_of_n", "--n", "32", "--verifier", "oracle"]),
    ("best_of_n --n 16 --verifier orm", ["--strategy", "best_of_n", "--n", "16", "--verifier", "orm"]),
    ("best_of_n --n 16 --verifier prm", ["--strategy", "best_of_n", "--n", "16", "--verifier", "prm"]),
    ("weighted_vote --n 16 --verifier oracle", ["--strategy", "weighted_vote", "--n", "16", "--verifier", "oracle"]),
    ("weighted_vote --n 16 --verifier prm", ["--strategy", "weighted_vote", "--n", "16", "--verifier", "prm"]),
    ("self_refine --rounds 4", ["--strategy", "self_refine", "--rounds", "4"]),
    ("self_refine --rounds 8", ["--strategy", "self_refine", "--rounds", "8"]),
    ("self_refine --verifier step_oracle --rounds 4", ["--strategy", "self_refine", "--verifier", "step_oracle", "--rounds", "4"]),
    ("revise --rounds 4", ["--strategy", "revise", "--rounds", "4"]),
    ("beam --beam-width 4 --expansions 2", ["--strategy", "beam", "--beam-width", "4", "--expansions", "2"]),
    ("beam --beam-width 4 --expansions 4", ["--strategy", "beam", "--beam-width", "4", "--expansions", "4"]),
    ("dvts --subtrees 4 --expansions 2", ["--strategy", "dvts", "--subtrees", "4", "--expansions", "2"]),
    ("tot_bfs --breadth 1", ["--strategy", "tot_bfs", "--breadth", "1"]),
    ("tot_bfs --breadth 5", ["--strategy", "tot_bfs", "--breadth", "5"]),
    ("dfs", ["--strategy", "dfs"]),
    ("mcts --simulations 16", ["--strategy", "mcts", "--simulations", "16"]),
    ("particle_filter --particles 6", ["--strategy", "particle_filter", "--particles", "6"]),
    ("compute_optimal --flops 7e8", ["--strategy", "compute_optimal", "--flops", "7e8"]),
    ("thinker --flops 7e8", ["--strategy", "thinker", "--flops", "7e8"]),
]
PAIRS = [
    ("best_of_n --n 16 --verifier prm", "majority --n 16"),
    ("best_of_n --n 16 --verifier prm", "weighted_vote --n 16 --verifier prm"),
    ("self_refine --rounds 4", "greedy"),
    ("self_refine --rounds 8", "greedy"),
    ("beam --beam-width 4 --expansions 2", "majority --n 16"),
    ("beam --beam-width 4 --expansions 2", "best_of_n --n 16 --verifier prm"),
    ("tot_bfs --breadth 5", "greedy"),
    ("mcts --simulations 16", "greedy"),
    ("tot_bfs --breadth 1", "greedy"),
    ("particle_filter --particles 6", "beam --beam-width 4 --expansions 2"),
    ("thinker --flops 7e8", "beam --beam-width 4 --expansions 2"),
    ("thinker --flops 7e8", "compute_optimal --flops 7e8"),
    ("thinker --flops 7e8", "best_of_n --n 16 --verifier prm"),
]


def sci(x: float) -> str:
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa} × 10" + str(int(exponent)).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def signed(share: float) -> str:
    """A difference in points, its sign printed as the book prints it (+1.2, −3.4)."""
    return f"{100 * share:+.1f}".replace("-", "−")


def run_row(name: str, options: list[str], source: Path, out: Path, seed: int) -> dict:
    started = time.perf_counter()
    code = main(["solve", "--device", "cpu", "--seed", str(seed), *options, "--input", str(source), "--output", str(out)])
    seconds = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"{name}: solve exited {code}")
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return {
        "name": name,
        "seconds": round(seconds, 1),
        "correct": [bool(r["correct"]) for r in records],
        "flops": float(np.mean([r["flops"] for r in records])),
        "verifier_flops": float(np.mean([r["verifier_flops"] for r in records])),
    }


def main_table() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="comma-separated strategy names (first words of the rows) to run")
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_args()
    folder = Path("runs/solve_table")
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / f"problems-{args.problems}.jsonl"
    source.write_text("".join(json.dumps(p.to_json()) + "\n" for p in countdown.generate(args.problems, seed=20261130)))
    wanted = set(filter(None, args.only.split(",")))
    rows = {}
    for name, options in ROWS:
        if wanted and name.split()[0] not in wanted:
            continue
        cache = folder / f"{name.replace(' ', '_').replace('-', '')}-{args.problems}-{args.seed}.json"
        if cache.exists() and not args.fresh:
            rows[name] = json.loads(cache.read_text())
        else:
            rows[name] = run_row(name, options, source, folder / "out.jsonl", args.seed)
            cache.write_text(json.dumps(rows[name]))
        print(f"{name}: {np.mean(rows[name]['correct']):.1%} in {rows[name]['seconds']} s", file=sys.stderr, flush=True)
    lines = [
        f"Measured {time.strftime('%d %b %Y')} on {args.problems:,} problems, one thread (wall times are rough: other jobs "
        f"may share the machine). FLOPs: {FLOPS_CONVENTION}.",
        "",
        "| strategy | solved (95 % interval) | wall time | FLOPs per problem (verifier's share) |",
        "|---|---|---|---|",
    ]
    for name, row in rows.items():
        mean, low, high = bootstrap(np.array(row["correct"], dtype=float))
        share = f" ({sci(row['verifier_flops'])})" if row["verifier_flops"] else ""
        solved = f"{100 * mean:.1f} % ({100 * low:.1f}–{100 * high:.1f} %)"
        lines.append(f"| `{name}` | {solved} | {row['seconds']:.0f} s | {sci(row['flops'])}{share} |")
    lines += ["", "Compared problem by problem (paired bootstrap over the problems):", ""]
    for a, b in PAIRS:
        if a in rows and b in rows:
            mean, low, high = paired(rows[a]["correct"], rows[b]["correct"])
            lines.append(f"- `{a}` − `{b}`: {signed(mean)} points ({signed(low)} to {signed(high)})")
    text = "\n".join(lines) + "\n"
    print(text)
    if not wanted:  # the whole table: what the book shows
        write_atomic(Path(__file__).resolve().parent / "results" / "solve_table.md", text)


if __name__ == "__main__":
    main_table()
