"""What prefix reuse saves in tree search: each strategy run twice on the same held-out
problems, once reading every text whole (the policy re-encodes each prompt, the partial
solution included; the PRM reads each candidate from its first token), and once inside the
prefix caches the searches open: the policy continues the keys and values of the sequences
earlier calls wrote (`Policy.prefix_cache`), and the PRM, whose frozen trunk is the policy's
own layers, takes the trunk's hidden states from the policy and its own top layers' keys,
values and scores from what it scored before (`RewardModel.prefix_cache(share=policy)`).

    python benchmarks/prefix_reuse.py [--problems 40] [--json]

Prints, per strategy, the prefill tokens (prompt tokens computed) and policy FLOPs per
problem both ways, the tokens reused, the wall time, and how many answers agree (reuse
changes only the order of floating-point sums, so a sample can, rarely, differ).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import tsc
import tsc.strategies
from tsc.strategies import solve_many
from tsc.strategies.reuse import without_reuse
from tsc.tasks import countdown
from tsc.verifiers.learned import PRM

STRATEGIES = {
    "best_of_n (16 samples)": ("best_of_n", {"n": 16}),
    "beam (width 4, 4 expansions)": ("beam", {"beam_width": 4, "expansions": 4}),
    "dvts (4 subtrees)": ("dvts", {"subtrees": 4, "expansions": 4}),
    "tot_bfs (breadth 5)": ("tot_bfs", {"breadth": 5, "expansions": 4}),
    "dfs": ("dfs", {"expansions": 4}),
    "mcts (16 simulations)": ("mcts", {"simulations": 16, "expansions": 4}),
}


def measure(strategy: str, knobs: dict, problems, policy, verifier) -> dict:
    search = tsc.strategies.get_strategy(strategy)
    out = {}
    for mode, model, judge in (("reencode", without_reuse(policy), without_reuse(verifier)), ("reuse", policy, verifier)):
        started = time.perf_counter()
        results = solve_many(search, problems, model, seed=0, verifier=judge, **knobs)
        out[mode] = {
            "seconds": time.perf_counter() - started,
            "prefill_tokens": np.mean([r.ledger.prompt_tokens for r in results]),
            "reused_tokens": np.mean([r.ledger.reused_tokens for r in results]),
            "generated_tokens": np.mean([r.ledger.generated_tokens for r in results]),
            "policy_flops": np.mean([r.ledger.policy_flops for r in results]),
            "verifier_tokens": np.mean([r.ledger.verifier_tokens for r in results]),
            "verifier_flops": np.mean([r.ledger.verifier_flops for r in results]),
            "answers": [r.answer for r in results],
            "correct": np.mean([r.correct for r in results]),
        }
    out["same_answers"] = sum(a == b for a, b in zip(out["reencode"]["answers"], out["reuse"]["answers"]))
    for mode in ("reencode", "reuse"):
        del out[mode]["answers"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    problems = countdown.generate(args.problems, seed=5150)
    policy, verifier = tsc.load_policy(), PRM()
    rows = {name: measure(strategy, knobs, problems, policy, verifier) for name, (strategy, knobs) in STRATEGIES.items()}
    if args.json:
        print(json.dumps(rows, indent=2, default=float))
        return
    print(f"{args.problems} held-out problems, bundled policy and PRM; means per problem\n")
    print("Policy: prompt tokens computed (prefill) and FLOPs; verifier: tokens read and FLOPs. Re-encoding → reusing.\n")
    print(
        "| strategy | prefill tokens | tokens reused | generated tokens | policy FLOPs | saved "
        "| verifier tokens | verifier FLOPs | saved | all FLOPs saved | wall s | same answers |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        a, b = row["reencode"], row["reuse"]
        total_a, total_b = a["policy_flops"] + a["verifier_flops"], b["policy_flops"] + b["verifier_flops"]
        print(
            f"| {name} | {a['prefill_tokens']:.0f} → {b['prefill_tokens']:.0f} | {b['reused_tokens']:.0f} | {b['generated_tokens']:.0f} "
            f"| {a['policy_flops']:.2e} → {b['policy_flops']:.2e} | {1 - b['policy_flops'] / a['policy_flops']:.0%} "
            f"| {a['verifier_tokens']:.0f} → {b['verifier_tokens']:.0f} | {a['verifier_flops']:.2e} → {b['verifier_flops']:.2e} "
            f"| {1 - b['verifier_flops'] / a['verifier_flops']:.0%} | {1 - total_b / total_a:.0%} "
            f"| {a['seconds']:.1f} → {b['seconds']:.1f} | {row['same_answers']}/{args.problems} |"
        )


if __name__ == "__main__":
    main()
