"""Chapter 7's experiments: what the book's strategies cost, many cheap samples against one
expensive one, and early stopping on stored samples.

``ch07-frontier``: every strategy of the book, at a few budgets, on the same held-out problems
of both tasks (Countdown with the default model, arithmetic with the arithmetic model), one
problem at a time or batched as `tsc.strategies.solve_many` does, each problem seeded by
`tsc.core.problem_seed`. Stored per configuration and problem: the oracle's verdict, the
ledger (prompt, reused, generated and verifier tokens; policy and verifier FLOPs) and the
problem's difficulty, so the chapter prices every run under any price model and draws the
Pareto frontier with bootstrap intervals over problems.

``ch07-family``: Large Language Monkeys' question on the Countdown family: each of the four
sizes draws ``samples`` completions of every problem and its greedy answer, and what is kept
per problem is how many samples were correct, the majority vote's success rate at each k,
whether the greedy answer was right, and the tokens and FLOPs of the prompt and of an
average sample, so coverage and voting at any k can be priced.

``ch07-early-stop``: the arithmetic model's 16 samples at the voting temperature for every
question of two disjoint held-out splits (one to choose the stopping rule's knobs on, one to
report), stored compactly (answer keys as small integers, tokens per sample); the stopping
rule's settings chosen on the first split (`tsc.economics.choose_stopping`: the fewest
generated tokens at most ``max_loss`` below majority of 16 there); and the live `early_stop`
strategy's own results on the report split with those settings, so the chapter can check
that replaying the rule on stored samples is exactly the strategy.

Each configuration is appended to a cache in ``runs/ch07/`` as it finishes
(`tsc.analysis.SweepCache`), so a stopped run resumes:

    python -m tsc experiment ch07-frontier
    python -m tsc experiment ch07-family
    python -m tsc experiment ch07-early-stop
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tsc.analysis import config_key
from tsc.experiments.base import experiment, key_ids, resolve_knobs, run

CACHE = Path("runs") / "ch07"
FAMILY = ("countdown-xs", "countdown-s", "countdown-m", "countdown")
VOTE_TEMPERATURE = 0.8  # the temperature the book votes at (the models' cards use it for majority@16)

# name -> strategy, its knobs (verifiers and models by name), and the model it runs on; first what both tasks run
NO_VERIFIER = {
    "greedy": ("greedy", {}),
    "sample": ("sample", {"temperature": 1.0}),
    "majority 4": ("majority", {"n": 4, "temperature": VOTE_TEMPERATURE}),
    "majority 16": ("majority", {"n": 16, "temperature": VOTE_TEMPERATURE}),
    "majority 64": ("majority", {"n": 64, "temperature": VOTE_TEMPERATURE}),
    "early_stop 16": ("early_stop", {"n": 16, "temperature": VOTE_TEMPERATURE}),
}
COUNTDOWN = {
    **NO_VERIFIER,
    "best_of_n 4 (oracle)": ("best_of_n", {"n": 4, "verifier": "oracle"}),
    "best_of_n 16 (oracle)": ("best_of_n", {"n": 16, "verifier": "oracle"}),
    "best_of_n 64 (oracle)": ("best_of_n", {"n": 64, "verifier": "oracle"}),
    "best_of_n 16 (orm)": ("best_of_n", {"n": 16, "verifier": "orm"}),
    "best_of_n 16 (prm)": ("best_of_n", {"n": 16, "verifier": "prm"}),
    "weighted_vote 16 (prm)": ("weighted_vote", {"n": 16, "verifier": "prm"}),
    "self_refine 4 (prm)": ("self_refine", {"rounds": 4, "verifier": "prm"}),
    "revise 4": ("revise", {"rounds": 4, "reviser": "revision"}),
    "beam 4x2 (prm)": ("beam", {"beam_width": 4, "expansions": 2, "verifier": "prm"}),
    "dvts 4x2 (prm)": ("dvts", {"subtrees": 4, "expansions": 2, "verifier": "prm"}),
    "tot_bfs 5 (prm)": ("tot_bfs", {"breadth": 5, "verifier": "prm"}),
    "dfs (prm)": ("dfs", {"verifier": "prm"}),
    "mcts 16 (prm)": ("mcts", {"simulations": 16, "verifier": "prm"}),
}
# budget forcing needs the trace model, trained on 3-number problems only: run on those
THINKING = {
    "budget_forcing 128": ("budget_forcing", {"thinking_tokens": 128}),
    "budget_forcing 512": ("budget_forcing", {"thinking_tokens": 512}),
}
# the step oracle on arithmetic checks each step's arithmetic: a calculator, no answer key
ARITHMETIC = {
    **NO_VERIFIER,
    "best_of_n 16 (self)": ("best_of_n", {"n": 16, "verifier": "self"}),
    "weighted_vote 16 (self)": ("weighted_vote", {"n": 16, "verifier": "self"}),
    "best_of_n 4 (calculator)": ("best_of_n", {"n": 4, "verifier": "step_oracle"}),
    "best_of_n 16 (calculator)": ("best_of_n", {"n": 16, "verifier": "step_oracle"}),
    "self_refine 4 (calculator)": ("self_refine", {"rounds": 4, "verifier": "step_oracle"}),
    "beam 4x2 (calculator)": ("beam", {"beam_width": 4, "expansions": 2, "verifier": "step_oracle"}),
}


def _records(problems: list, results: list) -> dict:
    """The per-problem columns the chapter prices: verdicts, ledgers, difficulty."""
    return {
        "correct": [int(r.correct) for r in results],
        "prompt_tokens": [r.ledger.prompt_tokens for r in results],
        "reused_tokens": [r.ledger.reused_tokens for r in results],
        "generated_tokens": [r.ledger.generated_tokens for r in results],
        "verifier_tokens": [r.ledger.verifier_tokens for r in results],
        "policy_flops": [r.ledger.policy_flops for r in results],
        "verifier_flops": [r.ledger.verifier_flops for r in results],
        "difficulty": [p.difficulty for p in problems],
    }


def _run(name: str, strategy: str, knobs: dict, problems: list, policy, seed: int) -> dict:
    from tsc.strategies import STRATEGIES, solve_many

    options = resolve_knobs(knobs, policy)
    started = time.perf_counter()
    results = solve_many(STRATEGIES[strategy], problems, policy, seed=seed, **options)
    row = _records(problems, results)
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["strategy"], row["knobs"] = strategy, knobs
    print(f"  {name}: {np.mean(row['correct']):.1%} solved, {row['seconds']:.0f} s", flush=True)
    return row


@experiment(
    "ch07-frontier",
    describe="every strategy of the book on both tasks: verdicts and ledgers per problem, to price and put on a frontier",
    per_size=60,
    seed=7000,
    countdown=sorted(COUNTDOWN),
    thinking=sorted(THINKING),
    arithmetic=sorted(ARITHMETIC),
)
def frontier(*, per_size: int, seed: int, countdown: list, thinking: list, arithmetic: list) -> dict:
    from tsc.analysis import SweepCache
    from tsc.lm.policy import load_policy
    from tsc.tasks import get_task

    store = SweepCache(CACHE / "frontier.jsonl")
    plan = [
        ("countdown", "countdown", (3, 4, 5), {n: COUNTDOWN[n] for n in countdown}),
        ("countdown", "trace", (3,), {n: THINKING[n] for n in thinking}),
        ("arithmetic", "arithmetic", (2, 3, 4), {n: ARITHMETIC[n] for n in arithmetic}),
    ]
    out: dict = {"countdown": {}, "arithmetic": {}, "models": {}}
    for task, model, sizes, configs in plan:
        problems = get_task(task).per_size(per_size, seed=seed, sizes=sizes)
        policy = None
        for name, (strategy, knobs) in configs.items():
            config = {
                "task": task,
                "model": model,
                "sizes": list(sizes),
                "per_size": per_size,
                "seed": seed,
                "strategy": strategy,
                "knobs": knobs,
            }
            key = config_key(config)
            row = store.get(key)
            if row is None:
                if policy is None:
                    policy = load_policy(model)
                    out["models"][model] = {"params": policy.n_params}
                    print(f"{task} with {model}: {len(problems)} problems", flush=True)
                row = _run(name, strategy, knobs, problems, policy, seed)
                store.append(key, config, row)
            out[task][name] = row
        if model not in out["models"]:
            out["models"][model] = {"params": load_policy(model).n_params}
    return out


@experiment(
    "ch07-family",
    describe="the Countdown family: coverage and majority vote from many samples of each size, priced per problem",
    models=list(FAMILY),
    per_size=100,
    samples=64,
    ks=[1, 2, 4, 8, 16, 32, 64],
    temperature=1.0,
    seed=7100,
)
def family(*, models: list, per_size: int, samples: int, ks: list, temperature: float, seed: int) -> dict:
    from tsc.analysis import SweepCache, draw, majority_accuracy
    from tsc.lm.policy import load_policy
    from tsc.tasks import TASKS

    store = SweepCache(CACHE / "family.jsonl")
    problems = TASKS["countdown"].per_size(per_size, seed=seed, sizes=(3, 4, 5))
    out = {"difficulty": [p.difficulty for p in problems], "models": {}}
    for model in models:
        config = {"model": model, "per_size": per_size, "samples": samples, "ks": ks, "temperature": temperature, "seed": seed}
        key = config_key(config)
        row = store.get(key)
        if row is None:
            started = time.perf_counter()
            policy = load_policy(model)
            table = draw(problems, policy, n=samples, temperature=temperature, seed=seed, one_stream=True)
            greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed, one_stream=True)
            votes = majority_accuracy(table, ks, trials=50, seed=seed)
            prompt_lengths = table.prompt_tokens.tolist()
            prompt_flops = [policy.flops(length, 0) for length in prompt_lengths]
            row = {
                "params": policy.n_params,
                "correct": table.correct.sum(axis=1).tolist(),
                "majority": np.round(votes["per_problem"], 3).tolist(),
                "prompt_tokens": prompt_lengths,
                "sample_tokens": np.round(table.tokens.mean(axis=1), 2).tolist(),
                "prompt_flops": prompt_flops,
                "sample_flops": round((table.ledger.policy_flops - sum(prompt_flops)) / table.correct.size, 1),  # writing one, on average
                "greedy": greedy.correct[:, 0].astype(int).tolist(),
                "greedy_tokens": greedy.tokens[:, 0].tolist(),
                "seconds": round(time.perf_counter() - started, 1),
            }
            print(f"  {model}: pass@1 {table.correct.mean():.1%}, {row['seconds']:.0f} s", flush=True)
            store.append(key, config, row)
        out["models"][model] = row
    return out


def compact_samples(problems: list, rows: list) -> dict:
    """16 samples per problem as small integers: each sample's answer key numbered in order
    of first appearance within its problem (-1: malformed), the right answer's number (-1:
    no sample had it), tokens per sample."""
    keys, right, tokens = [], [], []
    for problem, row in zip(problems, rows):
        codes = key_ids([problem.answer_key(completion.text) for completion in row])
        truth = [c for c, completion in zip(codes, row) if c >= 0 and problem.check(completion.text)]
        keys.append(codes)
        right.append(truth[0] if truth else -1)
        tokens.append([c.num_tokens for c in row])
    return {"keys": keys, "right": right, "tokens": tokens}


@experiment(
    "ch07-early-stop",
    describe="the arithmetic model's 16 samples per question on two held-out splits (choose, then report), and the live early_stop",
    questions=1000,
    n=16,
    temperature=VOTE_TEMPERATURE,
    seed=7200,
    max_loss=0.005,
)
def early_stop_samples(*, questions: int, n: int, temperature: float, seed: int, max_loss: float) -> dict:
    from tsc.analysis import SweepCache
    from tsc.core import problem_seed
    from tsc.lm.policy import load_policy
    from tsc.strategies import early_stop, majority_vote, solve_many

    store = SweepCache(CACHE / "early_stop.jsonl")
    policy = load_policy("arithmetic")
    pool = _arithmetic_pool(questions, seed)
    splits = {"choose": pool[0::2][:questions], "report": pool[1::2][:questions]}
    out: dict = {"n": n, "temperature": temperature, "splits": {}}
    for split, problems in splits.items():
        config = {"split": split, "questions": questions, "n": n, "temperature": temperature, "seed": seed}
        key = config_key(config)
        row = store.get(key)
        if row is None:
            started = time.perf_counter()
            seeds = [problem_seed(seed, p) for p in problems]
            prompts = [policy.format(p) for p in problems]
            rows = []
            for start in range(0, len(problems), 64):  # 64 questions x 16 samples per call
                rows += policy.sample(
                    prompts[start : start + 64], n=n, temperature=temperature, seed=seeds[start : start + 64], max_new_tokens=64
                )
            row = compact_samples(problems, rows)
            row["prompt_tokens"] = [len(ids) for ids in policy.encode(prompts)]
            row["difficulty"] = [p.difficulty for p in problems]
            row["seconds"] = round(time.perf_counter() - started, 1)
            print(f"  {split}: {len(problems)} questions, {row['seconds']:.0f} s", flush=True)
            store.append(key, config, row)
        out["splits"][split] = row
    # the settings chosen on the first split (`tsc.economics.choose_stopping`), then the
    # strategy itself with them on the second, and majority of n on the same samples
    from tsc.economics import choose_stopping, stored_samples

    live = choose_stopping(stored_samples(out["splits"]["choose"]), max_loss=max_loss)
    config = {"live": live, "questions": questions, "n": n, "temperature": temperature, "seed": seed}
    key = config_key(config)
    row = store.get(key)
    if row is None:
        problems = splits["report"]
        stopped = solve_many(early_stop, problems, policy, seed=seed, n=n, temperature=temperature, **live)
        full = solve_many(majority_vote, problems, policy, seed=seed, n=n, temperature=temperature)
        row = {
            "early_stop": {
                **_records(problems, stopped),
                "samples": [r.trace["samples"] for r in stopped],
                "rounds": [r.trace["rounds"] for r in stopped],
            },
            "majority": _records(problems, full),
        }  # fmt: skip
        store.append(key, config, row)
    out["live"] = {"settings": live, **row}
    return out


def _arithmetic_pool(questions: int, seed: int, exclude: set[str] = frozenset()) -> list:
    """``2 x questions`` distinct held-out arithmetic questions, a third of each size (2, 3, 4
    operations), none of them in ``exclude``: even positions make one split, odd the other."""
    from tsc.tasks import get_task

    pool = []
    for size in (2, 3, 4):
        seen = set()
        for p in get_task("arithmetic").generate(3 * questions, seed=seed + size, sizes=(size,)):
            if p.question not in seen and p.question not in exclude and len(seen) < 2 * questions // 3 + 1:
                seen.add(p.question)
                pool.append(p)
    return pool


# DeepConf's knobs tried on the dev split (online); `keep` is also the offline form's knob
DEEPCONF_GRID = {
    "warmup": (2, 3, 4),
    "keep": (0.5, 0.9),
    "group": (4, 8),
    "measure": ("lowest", "tail"),
    "consensus": (0.8, 0.95),
    "per_round": (1, 2),
}


@experiment(
    "ch07-deepconf",
    describe="DeepConf online and offline on arithmetic beside early_stop and majority: knobs chosen on dev, reported on a fresh split",
    questions=1000,
    n=16,
    temperature=VOTE_TEMPERATURE,
    top_logprobs=5,
    seed=7500,
    dev_seed=7200,  # ch07-early-stop's seed: its choose split is the dev split here
    max_loss=0.005,
    grid=DEEPCONF_GRID,
)
def deepconf_experiment(
    *, questions: int, n: int, temperature: float, top_logprobs: int, seed: int, dev_seed: int, max_loss: float, grid: dict
) -> dict:
    """Choose DeepConf's knobs on the dev split (Chapter 7's stopping split, ``dev_seed``): the
    fewest generated tokens at most ``max_loss`` below majority of ``n`` there, online; the
    offline form's ``keep`` and measure likewise by accuracy. Then, on a fresh held-out split
    (``seed``, no question of the early-stopping splits), run the chosen online setting live
    and replay everything else from one table of ``n`` samples per question with their
    ``top_logprobs`` (`tsc.replay`), checking replay against live. Stored per question and
    configuration: verdicts and ledgers; per sample of the report table: its confidence, its
    answer's share of the vote and whether it is right (does confidence add anything to
    agreement?)."""
    import itertools

    from tsc.analysis import SweepCache, auc, draw
    from tsc.lm.policy import load_policy
    from tsc.replay import TablePolicy
    from tsc.strategies import deepconf, early_stop, majority_vote, solve_many
    from tsc.strategies.deepconf import trace_confidence

    store = SweepCache(CACHE / "deepconf.jsonl")
    policy = load_policy("arithmetic")
    dev = _arithmetic_pool(questions, dev_seed)[0::2][:questions]  # the early-stopping choose split
    taken = {p.question for p in _arithmetic_pool(questions, dev_seed)}
    report = _arithmetic_pool(questions, seed, exclude=taken)[0::2][:questions]
    started = time.perf_counter()
    tables = {name: draw(ps, policy, n=n, temperature=temperature, seed=s, top_logprobs=top_logprobs) for name, ps, s in
              (("dev", dev, dev_seed), ("report", report, seed))}  # fmt: skip
    replay = {name: TablePolicy(policy, table) for name, table in tables.items()}
    print(f"  tables: {2 * questions} questions x {n} samples, {time.perf_counter() - started:.0f} s", flush=True)
    common = dict(seed=seed, n=n, temperature=temperature)  # on the report split
    on_dev = dict(seed=dev_seed, n=n, temperature=temperature)

    def summary(results: list, full: list) -> dict:
        accuracy = float(np.mean([r.correct for r in results]))
        tokens = sum(r.ledger.generated_tokens for r in results) / max(1, sum(r.ledger.generated_tokens for r in full))
        return {"accuracy": accuracy, "loss": float(np.mean([r.correct for r in full])) - accuracy, "token_fraction": tokens}

    # 1. choose on dev: online DeepConf over the grid, offline's keep and measure, early_stop's knobs
    dev_full = solve_many(majority_vote, dev, replay["dev"], **on_dev)
    rows = []
    for values in itertools.product(*grid.values()):
        knobs = dict(zip(grid, values))
        if knobs["warmup"] > n:
            continue
        out = solve_many(deepconf, dev, replay["dev"], top_logprobs=top_logprobs, **on_dev, **knobs)
        rows.append({**knobs, **summary(out, dev_full), "samples": float(np.mean([r.trace["samples"] for r in out]))})
    fit = [r for r in rows if r["loss"] <= max_loss + 1e-12]
    best = min(fit or rows, key=lambda r: (round(r["token_fraction"], 12), -r["accuracy"]))
    online_knobs = {k: best[k] for k in grid}
    offline_rows = []
    for keep, measure, group in itertools.product((0.1, 0.5, 0.9, 1.0), ("lowest", "tail"), grid["group"]):
        out = solve_many(deepconf, dev, replay["dev"], online=False, keep=keep, measure=measure, group=group, top_logprobs=top_logprobs,
                         **on_dev)  # fmt: skip
        offline_rows.append({"keep": keep, "measure": measure, "group": group, **summary(out, dev_full)})
    offline_best = max(offline_rows, key=lambda r: (round(r["accuracy"], 12), r["keep"]))
    offline_knobs = {k: offline_best[k] for k in ("keep", "measure", "group")}
    # the chapter's early_stop, chosen on the same dev questions (ch07-early-stop computed first if it never ran)
    stopping = dict(run("ch07-early-stop")["live"]["settings"])
    print(f"  chosen on dev: online {online_knobs}, offline {offline_knobs}, early_stop {stopping}", flush=True)

    # 2. report: the chosen online setting live, and everything replayed from the report table
    config = {"live": online_knobs, "questions": questions, "seed": seed, "n": n, "temperature": temperature, "k": top_logprobs}
    key = config_key(config)
    live_row = store.get(key)
    if live_row is None:
        live = solve_many(deepconf, report, policy, top_logprobs=top_logprobs, **common, **online_knobs)
        live_row = {"answers": [r.answer for r in live], **_records(report, live), "samples": [r.trace["samples"] for r in live]}
        store.append(key, config, live_row)
    table = replay["report"]
    runs = {
        "deepconf online": solve_many(deepconf, report, table, top_logprobs=top_logprobs, **common, **online_knobs),
        "deepconf offline": solve_many(deepconf, report, table, online=False, top_logprobs=top_logprobs, **common, **offline_knobs),
        "early_stop": solve_many(early_stop, report, table, **common, **stopping),
    }
    for k in (1, 2, 3, 4, 6, 8, 12, 16):
        runs[f"majority {k}"] = solve_many(majority_vote, report, table, seed=seed, n=k, temperature=temperature)
    online = runs["deepconf online"]
    check = {
        "problems": len(report),
        "same_answer": sum(a == b.answer for a, b in zip(live_row["answers"], online)),
        "same_tokens": sum(a == b.ledger.generated_tokens for a, b in zip(live_row["generated_tokens"], online)),
    }
    out = {"splits": {"dev": len(dev), "report": len(report)}, "n": n, "temperature": temperature, "top_logprobs": top_logprobs}
    out["chosen"] = {"online": online_knobs, "offline": offline_knobs, "early_stop": stopping}
    out["dev_grid"], out["dev_offline"] = rows, offline_rows
    out["live_check"] = check
    out["runs"] = {}
    for name, results in runs.items():
        record = _records(report, results)
        record["samples"] = [r.trace.get("samples", r.ledger.samples) for r in results]
        record["rounds"] = [r.trace.get("rounds", 1) for r in results]
        if name.startswith("deepconf"):
            record["cut"] = [r.trace["cut"] for r in results]
        out["runs"][name] = record
    # 3. per sample of the report table: confidence (the chosen measure and window), the share of
    # the question's samples with the same answer, and the verdict
    rt = tables["report"]
    confidence, agreement, right = [], [], []
    for i in range(len(report)):
        keys = rt.keys[i]
        for j in range(n):
            confidence.append(
                round(trace_confidence(rt.top_logprobs[i][j], group=online_knobs["group"], measure=online_knobs["measure"]), 5)
            )
            agreement.append(0.0 if keys[j] is None else keys.count(keys[j]) / n)
            right.append(int(rt.correct[i][j]))
    out["samples"] = {"confidence": confidence, "agreement": agreement, "correct": right}
    out["auc"] = {"confidence": auc(confidence, right), "agreement": auc(agreement, right)}
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out
