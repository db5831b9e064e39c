"""What `python -m tsc solve` costs against one batched sampler call over the same prompts.

    python benchmarks/solve_batching.py [--problems 240] [--repeats 3]

For greedy decoding over held-out Countdown problems it times, in one process (median of
``--repeats`` runs each, the model loaded once beforehand):

* one `Policy.sample` call over all the problems' prompts (the floor);
* the strategy run one problem at a time (what `solve` did before it batched);
* `tsc.strategies.solve_many`, which batches the parallel strategies across problems;
* `python -m tsc solve` end to end in this process (reading and writing the files
  included, loading the model excluded: it is timed apart).

It also checks that the batched answers equal the one-at-a-time answers, and does the same
for majority voting over 8 samples. The target (issue 13): `solve --strategy greedy` at most
3x the single sampler call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tsc  # noqa: E402
from tsc.cli import main  # noqa: E402
from tsc.core import problem_seed  # noqa: E402
from tsc.strategies import greedy, majority_vote, solve_many  # noqa: E402
from tsc.tasks import countdown  # noqa: E402


def median_seconds(run, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main_benchmark() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    policy = tsc.load_policy("countdown", device="cpu")  # the first load also imports transformers
    load = median_seconds(lambda: tsc.load_policy("countdown", device="cpu"), args.repeats)  # what solve spends loading
    problems = countdown.generate(args.problems, seed=2026)
    prompts = [policy.format(p) for p in problems]
    policy.sample(prompts[:8], n=1, temperature=0.0)  # warm up the kernels

    floor = median_seconds(lambda: policy.sample(prompts, n=1, temperature=0.0, max_new_tokens=64), args.repeats)
    one_by_one = median_seconds(lambda: [greedy(p, policy) for p in problems], args.repeats)
    batched = median_seconds(lambda: solve_many(greedy, problems, policy), args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "in.jsonl", Path(folder) / "out.jsonl"
        source.write_text("".join(json.dumps(p.to_json()) + "\n" for p in problems))
        cli = median_seconds(lambda: main(["solve", "--device", "cpu", "--input", str(source), "--output", str(output)]), args.repeats)

    same_greedy = [r.answer for r in solve_many(greedy, problems, policy)] == [greedy(p, policy).answer for p in problems]
    voted = solve_many(majority_vote, problems, policy, n=8, seed=1)
    alone = [majority_vote(p, policy, n=8, seed=problem_seed(1, p)) for p in problems]
    same_vote = [(r.answer, r.candidates) for r in voted] == [(r.answer, r.candidates) for r in alone]

    rows = [
        ("one Policy.sample call over every prompt", floor),
        ("greedy, one problem at a time (before)", one_by_one),
        ("greedy through solve_many (batched)", batched),
        ("python -m tsc solve --strategy greedy (in process, loading apart)", cli - load),
    ]
    print(
        f"{args.problems} held-out problems, greedy, {tsc.__name__} on {torch_threads()} torch thread(s); median of {args.repeats} runs\n"
    )
    print("| what | seconds | × one sampler call |")
    print("|---|---:|---:|")
    for name, seconds in rows:
        print(f"| {name} | {seconds:.2f} | {seconds / floor:.1f}× |")
    print(f"\nloading the model: {load:.2f} s (excluded above)")
    print(f"batched answers equal one-at-a-time answers: greedy {same_greedy}, majority of 8 {same_vote}")


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


if __name__ == "__main__":
    main_benchmark()
