"""Chapter 3's experiments that take minutes: the sampling knobs, self-consistency by
temperature, and chain of thought against a direct answer at equal FLOPs.

Each draws many samples for hundreds of held-out problems, so the chapter reads the stored
result (`tsc/assets/results/ch03-*.json`) and says how to recompute it:

    python -m tsc experiment ch03-decoding
    python -m tsc experiment ch03-self-consistency
    python -m tsc experiment ch03-cot-vs-direct
    python -m tsc experiment ch03-thinking

Results keep one number per problem (counts of correct samples, votes won), so the chapter
computes its own bootstrap intervals and paired differences from them.
"""

from __future__ import annotations

import numpy as np

from tsc.experiments.base import experiment

DIALS = {"arithmetic": (2, 3, 4), "countdown": (3, 4, 5)}  # operations; count of numbers


def problem_set(task: str, per_size: int, *, seed: int) -> list:
    """``per_size`` held-out problems at each setting of the task's difficulty dial (the
    operations of an arithmetic question, the count of numbers of a Countdown problem), in
    that order, reproducibly from ``seed``."""
    from tsc.tasks import get_task

    return get_task(task).per_size(per_size, seed=seed, sizes=DIALS.get(task))


def setting_name(temperature: float, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> str:
    """A setting of the sampling knobs as text, e.g. ``"T=1.5, min-p 0.1"``."""
    parts = [f"T={temperature:g}"]
    if top_k:
        parts.append(f"top-k {top_k}")
    if top_p < 1:
        parts.append(f"top-p {top_p:g}")
    if min_p > 0:
        parts.append(f"min-p {min_p:g}")
    return ", ".join(parts)


def _draw(problems, policy, *, n: int, seed: int, temperature: float, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0):
    from tsc.analysis import draw
    from tsc.core import with_sampling

    truncated = (top_k, top_p, min_p) != (0, 1.0, 0.0)
    sampler = with_sampling(policy, top_k=top_k, top_p=top_p, min_p=min_p) if truncated else policy
    return draw(problems, sampler, n=n, temperature=temperature, seed=seed, one_stream=True)


@experiment(
    "ch03-decoding",
    describe="temperature, top-k, top-p and min-p: pass@1, coverage@16 and distinct answers (both tasks, 600 held-out problems each)",
    models={"arithmetic": "arithmetic", "countdown": "countdown"},
    per_size=200,
    n=16,
    seed=3,
    settings=[[0.3, 0, 1.0, 0.0], [0.6, 0, 1.0, 0.0]]
    + [[t, k, p, m] for t in (1.0, 1.5, 2.0) for k, p, m in ((0, 1.0, 0.0), (3, 1.0, 0.0), (0, 0.9, 0.0), (0, 1.0, 0.1))],
)
def decoding(*, models: dict, per_size: int, n: int, seed: int, settings: list) -> dict:
    """For each task and each setting [temperature, top_k, top_p, min_p]: per problem, how
    many of ``n`` samples are correct, how many distinct answers (voting keys) they give, and
    how many are malformed. pass@1 is correct / n, coverage@n is correct > 0."""
    from tsc.lm.policy import load_policy

    out = {}
    for task, model in models.items():
        policy = load_policy(model)
        problems = problem_set(task, per_size, seed=seed * 1000)
        rows = {}
        for i, (temperature, top_k, top_p, min_p) in enumerate(settings):
            table = _draw(problems, policy, n=n, seed=seed + i, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
            rows[setting_name(temperature, top_k, top_p, min_p)] = {
                "knobs": {"temperature": temperature, "top_k": top_k, "top_p": top_p, "min_p": min_p},
                "correct": table.correct.sum(axis=1).tolist(),
                "distinct": [len({k for k in keys if k is not None}) for keys in table.keys],
                "malformed": [sum(k is None for k in keys) for keys in table.keys],
                "tokens": round(float(table.ledger.generated_tokens / table.ledger.samples), 2),
            }
        out[task] = {"model": model, "difficulty": [p.difficulty for p in problems], "settings": rows}
    return out


@experiment(
    "ch03-self-consistency",
    describe="majority@k against k at several temperatures (arithmetic; Countdown for contrast), 600 held-out problems, 64 samples each",
    models={"arithmetic": "arithmetic", "countdown": "countdown"},
    temperatures={"arithmetic": [0.3, 0.6, 1.0, 1.5], "countdown": [0.6, 1.0]},
    per_size=200,
    n=64,
    ks=[1, 2, 4, 8, 16, 32, 64],
    trials=100,
    seed=5,
)
def self_consistency(*, models: dict, temperatures: dict, per_size: int, n: int, ks: list, trials: int, seed: int) -> dict:
    """Per task, temperature and problem: the fraction of ``trials`` random subsets of k of its
    ``n`` samples whose majority answer is right (majority@k), and pass@k, for each k; plus
    the greedy answer's verdict on the same problems."""
    from tsc.analysis import coverage, draw, majority_accuracy
    from tsc.lm.policy import load_policy

    out = {}
    for task, model in models.items():
        policy = load_policy(model)
        problems = problem_set(task, per_size, seed=seed * 1000)
        greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed, one_stream=True)
        by_temperature = {}
        for i, temperature in enumerate(temperatures[task]):
            table = draw(problems, policy, n=n, temperature=temperature, seed=seed + i, one_stream=True)
            vote = majority_accuracy(table, ks, trials=trials, seed=seed)["per_problem"]
            cover = coverage(table, ks)["per_problem"]
            by_temperature[f"{temperature:g}"] = {"majority": np.round(vote, 3).tolist(), "coverage": np.round(cover, 3).tolist()}
        out[task] = {
            "model": model,
            "ks": list(ks),
            "difficulty": [p.difficulty for p in problems],
            "greedy": greedy.correct[:, 0].astype(int).tolist(),
            "temperatures": by_temperature,
        }
    return out


@experiment(
    "ch03-cot-vs-direct",
    describe="chain of thought against a direct answer: majority@k and FLOPs per question (both tasks, 900 held-out problems each)",
    models={"arithmetic": ["arithmetic", "arithmetic-direct"], "countdown": ["countdown", "countdown-direct"]},
    per_size=300,
    n=16,
    ks=[1, 2, 4, 8, 16],
    temperature=0.8,
    trials=100,
    seed=7,
)
def cot_vs_direct(*, models: dict, per_size: int, n: int, ks: list, temperature: float, trials: int, seed: int) -> dict:
    """Per task and model, on the same problems: greedy correctness and its FLOPs, and
    majority@k over ``n`` samples at ``temperature`` with the FLOPs of k samples (the prompt
    read once, as the sampler charges it), per problem."""
    from tsc.analysis import draw, majority_accuracy
    from tsc.lm.policy import load_policy

    out = {}
    for task, names in models.items():
        problems = problem_set(task, per_size, seed=seed * 1000)
        rows = {}
        for name in names:
            policy = load_policy(name)
            greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed, one_stream=True)
            prompt_tokens = greedy.prompt_tokens.tolist()
            table = draw(problems, policy, n=n, temperature=temperature, seed=seed, one_stream=True)
            vote = majority_accuracy(table, ks, trials=trials, seed=seed)["per_problem"]
            read = np.array([policy.flops(t, 0) for t in prompt_tokens], dtype=float)
            per_sample = np.array(
                [np.mean([policy.flops(t, int(g)) - policy.flops(t, 0) for g in row]) for t, row in zip(prompt_tokens, table.tokens)]
            )
            greedy_flops = [policy.flops(t, int(g)) for t, g in zip(prompt_tokens, greedy.tokens[:, 0])]
            rows[name] = {
                "kind": policy.card.get("kind", "policy"),
                "params": int(policy.n_params),
                "greedy": greedy.correct[:, 0].astype(int).tolist(),
                "greedy_flops": greedy_flops,
                "greedy_tokens": greedy.tokens[:, 0].astype(int).tolist(),
                "majority": np.round(vote, 3).tolist(),
                "flops_k": [float(np.mean(read + k * per_sample)) for k in ks],
                "tokens_per_sample": round(float(table.tokens.mean()), 2),
            }
        out[task] = {"ks": list(ks), "difficulty": [p.difficulty for p in problems], "models": rows}
    return out


# --- the trace model's long reasoning -----------------------------------------------------------

ENDINGS = {"right": "r", "wrong answer": "w", "gave up": "g", "cut off": "c"}  # how a trace ended (codes stored)


def ending(problem, text: str) -> str:
    """How a trace ended: ``"right"``; ``"wrong answer"`` (its search claimed a solution that
    is not one); ``"gave up"`` (it ended ``#.``: no solution found, though every problem has
    one); ``"cut off"`` (no ``#``: the context ran out while it searched)."""
    from tsc.tasks.trace import THINK_END, split_trace

    if problem.check(text):
        return "right"
    if THINK_END not in text:
        return "cut off"
    _, answer = split_trace(text)
    return "gave up" if answer.strip() in ("", ".") else "wrong answer"


def position_kind(text: str, i: int) -> str:
    """What the trace writes at character ``i`` (one token each for the trace model): the
    ``"next move"`` (the first character after ``,`` or ``|`` or the prompt: which numbers to
    combine next, or one more step back), a ``"result"`` (a digit of the number after ``=``:
    arithmetic), the ``"verdict"`` (``#`` or ``|`` after a leaf's target), the ``"answer"``
    (after ``#``), or ``"copying"`` (operands, the numbers left and the target, copied)."""
    from tsc.tasks.trace import BACKTRACK, THINK_END

    if THINK_END in text[:i]:
        return "answer"
    before = text[i - 1] if i > 0 else ","
    if before in (",", BACKTRACK):
        return "next move"
    if text[i] in (THINK_END, BACKTRACK) and ">" in text[max(0, i - 4) : i]:
        return "verdict"
    start = i
    while start > 0 and text[start - 1].isdigit():
        start -= 1
    return "result" if text[i].isdigit() and start > 0 and text[start - 1] == "=" else "copying"


POSITION_KINDS = ("next move", "result", "copying", "verdict", "answer")


def _block_table(table, start: int, k: int):
    """Samples ``start`` to ``start + k - 1`` of every problem, as a table of their own."""
    from dataclasses import replace

    return replace(
        table,
        texts=tuple(row[start : start + k] for row in table.texts),
        keys=tuple(row[start : start + k] for row in table.keys),
        correct=table.correct[:, start : start + k],
        tokens=table.tokens[:, start : start + k],
        logprobs=table.logprobs[:, start : start + k],
    )


@experiment(
    "ch03-thinking",
    describe="the trace model's long reasoning on 200 held-out 3-number problems: 16 traces each (lengths, endings, "
    "backtracks), the entropy along greedy traces, majority@k and short-m@k at matched tokens, one trace and k traces cut at a budget",
    model="trace",
    problems=200,
    problem_seed=3300,
    samples=16,
    temperature=1.0,
    seed=3,
    max_new_tokens=608,
    ks=[1, 2, 4, 8, 16],
    ms=[1, 3],
    budgets=[64, 128, 256, 512],
    splits=[1, 2, 4],
    capped_samples=4,
    fork_bits=0.5,
)
def thinking(
    *, model, problems, problem_seed, samples, temperature, seed, max_new_tokens, ks, ms, budgets, splits, capped_samples, fork_bits
) -> dict:
    """The trace model thinking, three ways, on the same held-out problems.

    * Its own traces: ``samples`` at ``temperature`` per problem, each problem from its own
      stream (`tsc.core.problem_seed`, as `python -m tsc solve` seeds it), with each trace's
      tokens, verdict, answer key, backtracks and how it ended (`ending`); and its greedy trace.
    * Where the entropy sits: every position of every greedy trace, by what it writes
      (`position_kind`); positions above ``fork_bits`` bits are the forks.
    * Strategies at matched tokens, replayed from the traces (`tsc.replay.TablePolicy`, whose
      ``stop_after`` stops as the sampler does, so each equals a live run; samples ``j·k`` to
      ``j·k + k - 1`` are block ``j``): majority@k and short-m@k for each k and m, per problem
      averaged over the ``samples // k`` blocks, with their tokens, FLOPs and latency (decoding
      steps until the answer is known). And one trace or several with the thinking cut at a
      token budget: of each problem's first ``capped_samples`` traces, blocks of ``s``, each
      trace cut at ``budget // s`` thinking tokens and its answer then written greedily after
      a forced ``#`` (budget forcing, s1); the block votes.
    """
    from tsc.analysis import SampleTable
    from tsc.compute import Ledger
    from tsc.core import problem_seed as seeded
    from tsc.lm.decoding import completion_entropies
    from tsc.lm.policy import load_policy
    from tsc.replay import TablePolicy
    from tsc.strategies import majority_vote, short_m_at_k, solve_many
    from tsc.tasks import countdown
    from tsc.tasks.trace import BACKTRACK, THINK_END, split_trace
    from tsc.votes import majority_choice

    policy = load_policy(model)
    chosen = countdown.generate(problems, seed=problem_seed, sizes=(3,))
    prompts = [policy.format(p) for p in chosen]
    rows = []
    for start in range(0, len(chosen), 50):  # one call per 50 problems, each its own stream
        part = chosen[start : start + 50]
        rows += policy.sample(
            prompts[start : start + 50],
            n=samples,
            temperature=temperature,
            seed=[seeded(seed, p) for p in part],
            max_new_tokens=max_new_tokens,
        )
    table = SampleTable.of(
        chosen, rows, temperature=float(temperature), seed=int(seed), max_new_tokens=int(max_new_tokens), ledger=Ledger()
    )
    texts = table.texts
    greedy = [row[0] for row in policy.sample(prompts, n=1, temperature=0.0, max_new_tokens=max_new_tokens)]

    # where the entropy sits along the greedy traces
    kinds = {k: {"positions": 0, "bits": 0.0, "forks": 0} for k in POSITION_KINDS}
    profile = np.zeros((10, 3))  # by tenth of the trace: positions, bits, forks
    forks = []
    for i, (prompt, completion) in enumerate(zip(prompts, greedy)):
        bits = completion_entropies(policy, prompt, completion.text).numpy()
        text = completion.text  # one character per token (the trace model's tokenizer)
        for j, h in enumerate(bits):
            kind = position_kind(text, j) if j < len(text) else "answer"
            kinds[kind]["positions"] += 1
            kinds[kind]["bits"] += float(h)
            tenth = min(9, int(10 * j / len(bits)))
            profile[tenth] += (1, h, h > fork_bits)
            if h > fork_bits:
                kinds[kind]["forks"] += 1
                forks.append([i, j, round(float(h), 3), kind])

    # strategies replayed from the traces, block by block
    strategies = {}
    for k in ks:
        blocks = [_block_table(table, start, k) for start in range(0, samples - k + 1, k)]
        runs = {"majority": (majority_vote, {})} | {f"short-{m}": (short_m_at_k, {"m": m}) for m in ms if m <= k}
        for name, (strategy, knobs) in runs.items():
            correct, tokens, flops, steps = (np.zeros(len(chosen)) for _ in range(4))
            first = None
            for block in blocks:
                results = solve_many(
                    strategy,
                    chosen,
                    TablePolicy(policy, block),
                    seed=seed,
                    n=k,
                    temperature=temperature,
                    max_new_tokens=max_new_tokens,
                    **knobs,
                )
                if first is None:  # samples 0 to k - 1: what a live run with these seeds gives
                    keys = [p.answer_key(r.answer) if r.answer else None for p, r in zip(chosen, results)]
                    first = {
                        "key": keys,
                        "correct": [int(r.correct) for r in results],
                        "tokens": [r.ledger.generated_tokens for r in results],
                    }
                correct += [r.correct for r in results]
                tokens += [r.ledger.generated_tokens for r in results]
                flops += [r.ledger.flops for r in results]
                steps += [r.trace["steps"] if "steps" in r.trace else int(block.tokens[i].max()) for i, r in enumerate(results)]
            strategies[f"{name}@{k}"] = {
                "k": k,
                "correct": np.round(correct / len(blocks), 4).tolist(),
                "tokens": np.round(tokens / len(blocks), 1).tolist(),
                "flops": np.round(flops / len(blocks)).tolist(),
                "steps": np.round(steps / len(blocks), 1).tolist(),
                "first": first,
            }

    # one trace or several, the thinking cut at a budget (the answer forced, greedy), on the
    # first `capped_samples` traces of each problem
    thoughts = [[policy.encode([split_trace(t)[0]])[0][1:] for t in row[:capped_samples]] for row in texts]  # token ids, no bos
    capped = {}
    for budget in budgets:
        for s in splits:
            cap, n_blocks = budget // s, capped_samples // s
            cut = [
                (i, j)
                for i in range(len(chosen))
                for j in range(n_blocks * s)
                if len(thoughts[i][j]) >= cap or THINK_END not in texts[i][j]
            ]
            forced = [prompts[i] + policy.tokenizer.decode(thoughts[i][j][:cap]) + THINK_END for i, j in cut]
            answers = {}
            for start in range(0, len(cut), 512):
                outs = policy.sample(forced[start : start + 512], n=1, temperature=0.0, max_new_tokens=32, seed=seed)
                for (i, j), text, [out] in zip(cut[start : start + 512], forced[start : start + 512], outs):
                    answers[i, j] = (text[len(prompts[i]) :] + out.text, cap + out.num_tokens)
            correct, tokens, steps = np.zeros(len(chosen)), np.zeros(len(chosen)), np.zeros(len(chosen))
            for i, p in enumerate(chosen):
                for b in range(n_blocks):  # a trace that finished within the cap keeps its own answer
                    members = [answers.get((i, j), (texts[i][j], int(table.tokens[i][j]))) for j in range(b * s, b * s + s)]
                    pick = majority_choice([p.answer_key(text) for text, _ in members])
                    correct[i] += pick is not None and p.check(members[pick][0])
                    tokens[i] += sum(used for _, used in members)
                    steps[i] += max(used for _, used in members)  # the traces run side by side: the longest sets the latency
            capped[f"{s}x{cap}"] = {
                "budget": budget,
                "traces": s,
                "cap": cap,
                "correct": np.round(correct / n_blocks, 4).tolist(),
                "tokens": np.round(tokens / n_blocks, 1).tolist(),
                "steps": np.round(steps / n_blocks, 1).tolist(),
            }

    return {
        "problems": prompts,
        "greedy": {
            "correct": [int(p.check(c.text)) for p, c in zip(chosen, greedy)],
            "tokens": [c.num_tokens for c in greedy],
            "backtracks": [c.text.count(BACKTRACK) for c in greedy],
            "ending": [ENDINGS[ending(p, c.text)] for p, c in zip(chosen, greedy)],
        },
        "samples": {
            "tokens": table.tokens.tolist(),
            "correct": table.correct.astype(int).tolist(),
            "key": [[sorted({k for k in row if k is not None}).index(k) if k is not None else -1 for k in row] for row in table.keys],
            "backtracks": [[t.count(BACKTRACK) for t in row] for row in texts],
            "ending": ["".join(ENDINGS[ending(p, t)] for t in row) for p, row in zip(chosen, texts)],
        },
        "entropy": {"kinds": kinds, "profile": np.round(profile, 4).tolist(), "forks": forks, "fork_bits": fork_bits},
        "strategies": strategies,
        "capped": capped,
    }


# --- reading the results back ------------------------------------------------------------------

RULES = {"no truncation": (0, 1.0, 0.0), "top-k 3": (3, 1.0, 0.0), "top-p 0.9": (0, 0.9, 0.0), "min-p 0.1": (0, 1.0, 0.1)}
MEASURES = ("pass@1", "coverage", "distinct answers")


def knob_measures(row: dict, n: int) -> dict[str, np.ndarray]:
    """One setting's per-problem measures from `decoding`: pass@1 (correct samples / n),
    coverage@n (any correct) and the number of distinct answers among the n samples."""
    correct = np.asarray(row["correct"], dtype=float)
    return {"pass@1": correct / n, "coverage": (correct > 0).astype(float), "distinct answers": np.asarray(row["distinct"], dtype=float)}


def knob_curves(result: dict, n: int, *, seed: int = 0) -> dict[str, list[dict]]:
    """For each truncation rule of `RULES`: one curve per measure of `MEASURES` against the
    temperature (``temperature``, ``mean``, ``low``, ``high``: 95 % bootstrap intervals over
    problems), from one task's part of the `decoding` result."""
    from tsc.analysis import bootstrap

    curves = {}
    for rule, (top_k, top_p, min_p) in RULES.items():
        rows = [
            r
            for r in result["settings"].values()
            if (r["knobs"]["top_k"], r["knobs"]["top_p"], r["knobs"]["min_p"]) == (top_k, top_p, min_p)
        ]
        rows.sort(key=lambda r: r["knobs"]["temperature"])
        if not rows:
            continue
        per_measure = []
        for measure in MEASURES:
            stats = np.array([bootstrap(knob_measures(r, n)[measure], seed=seed) for r in rows])
            per_measure.append(
                {
                    "temperature": np.array([r["knobs"]["temperature"] for r in rows]),
                    "mean": stats[:, 0],
                    "low": stats[:, 1],
                    "high": stats[:, 2],
                }
            )
        curves[rule] = per_measure
    return curves


def knob_table(result: dict, n: int) -> dict[str, dict[str, np.ndarray]]:
    """One task's part of the `decoding` result as ``{setting: {measure: per-problem values}}``
    (`knob_measures` for every setting), for means and paired differences."""
    return {name: knob_measures(row, n) for name, row in result["settings"].items()}


def majority_at(result: dict, task: str, temperature: str, k: int) -> np.ndarray:
    """Per problem, majority@k at ``temperature`` (as stored, e.g. ``"0.6"``) from the
    `self_consistency` result."""
    part = result[task]
    return np.array(part["temperatures"][temperature]["majority"])[:, part["ks"].index(k)]


def solved_somewhere(result: dict, task: str, temperature: str) -> np.ndarray:
    """Per problem, whether at least one of all the samples of `self_consistency` at
    ``temperature`` was right (coverage at the largest k)."""
    part = result[task]
    return np.array(part["temperatures"][temperature]["coverage"])[:, -1] > 0.999


def trace_samples(result: dict) -> dict[str, np.ndarray]:
    """The sampled traces of the `thinking` result as flat arrays, one entry per trace:
    ``problem`` (its index), ``tokens``, ``correct``, ``backtracks`` and ``ending`` (a name of
    `ENDINGS`)."""
    part = result["samples"]
    names = {code: name for name, code in ENDINGS.items()}
    tokens = np.asarray(part["tokens"])
    return {
        "problem": np.repeat(np.arange(tokens.shape[0]), tokens.shape[1]),
        "tokens": tokens.reshape(-1),
        "correct": np.asarray(part["correct"], dtype=bool).reshape(-1),
        "backtracks": np.asarray(part["backtracks"]).reshape(-1),
        "ending": np.array([names[c] for row in part["ending"] for c in row]),
    }


def accuracy_by_length(result: dict, edges, *, n_boot: int = 1000, seed: int = 0) -> dict[str, np.ndarray]:
    """The sampled traces' accuracy in each bin of length (``edges`` in tokens: bin i holds
    ``edges[i] <= tokens < edges[i + 1]``), with 95 % intervals from a bootstrap over problems
    (a problem's traces are resampled together: they are not independent of each other)."""
    traces = trace_samples(result)
    edges = np.asarray(edges)
    which = np.clip(np.searchsorted(edges, traces["tokens"], side="right") - 1, 0, len(edges) - 2)
    problems = traces["problem"].max() + 1
    count = np.zeros((problems, len(edges) - 1))
    right = np.zeros_like(count)
    np.add.at(count, (traces["problem"], which), 1)
    np.add.at(right, (traces["problem"], which), traces["correct"])
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_boot):
        rows = rng.integers(0, problems, problems)
        with np.errstate(invalid="ignore"):
            draws.append(right[rows].sum(0) / count[rows].sum(0))
    low, high = np.nanpercentile(np.array(draws), [2.5, 97.5], axis=0)
    return {"edges": edges, "count": count.sum(0), "mean": right.sum(0) / np.maximum(count.sum(0), 1), "low": low, "high": high}


def shortest_and_longest(result: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per problem whose sampled traces differ in length: the accuracy of its shortest traces
    and of its longest (the mean over traces tied at the shortest, or the longest, length),
    the comparison of Hassid et al. (2025)."""
    tokens = np.asarray(result["samples"]["tokens"])
    correct = np.asarray(result["samples"]["correct"], dtype=float)
    varied = tokens.min(1) < tokens.max(1)
    short = np.array([c[t == t.min()].mean() for t, c in zip(tokens[varied], correct[varied])])
    long = np.array([c[t == t.max()].mean() for t, c in zip(tokens[varied], correct[varied])])
    return short, long


def thinking_curves(result: dict, *, seed: int = 0) -> dict[str, dict]:
    """Accuracy against the tokens and the decoding steps (latency) a problem costs, for each
    way `thinking` spends the trace model's thinking: majority@k, short-1@k and short-3@k
    over k (whole traces), and one trace or four cut at a token budget (budget forcing,
    over the budgets). Each curve holds, per point, ``labels`` (k, or the budget),
    ``tokens`` and ``steps`` (means per problem), ``mean``, ``low`` and ``high`` (95 %
    bootstrap over problems), ``per_problem`` (problems × points, for paired comparisons),
    and ``style``/``linestyle`` for `tsc.viz.traces.matched_compute`."""
    from tsc.analysis import bootstrap

    def curve(rows: list[dict], labels: list, style: str, linestyle: str = "-") -> dict:
        per_problem = np.array([r["correct"] for r in rows], dtype=float).T
        mean, low, high = bootstrap(per_problem, seed=seed)
        return {
            "labels": labels,
            "tokens": np.array([np.mean(r["tokens"]) for r in rows]),
            "steps": np.array([np.mean(r["steps"]) for r in rows]),
            "mean": np.asarray(mean),
            "low": np.asarray(low),
            "high": np.asarray(high),
            "per_problem": per_problem,
            "style": style,
            "linestyle": linestyle,
        }

    runs, capped = result["strategies"], result["capped"]
    ks = sorted({r["k"] for r in runs.values()})
    curves = {
        "majority of k": curve([runs[f"majority@{k}"] for k in ks], ks, "majority"),
        "short-1 of k": curve([runs[f"short-1@{k}"] for k in ks], ks, "short_m_at_k"),
    }
    three = [k for k in ks if f"short-3@{k}" in runs]
    if three:
        curves["short-3 of k"] = curve([runs[f"short-3@{k}"] for k in three], three, "short_m_at_k", "--")
    for traces, name, linestyle in ((1, "one trace, thinking cut", "-"), (4, "four traces, each cut", "--")):
        rows = sorted((r for r in capped.values() if r["traces"] == traces), key=lambda r: r["budget"])
        if rows:
            curves[name] = curve(rows, [r["budget"] for r in rows], "budget_forcing", linestyle)
    return curves
