"""Dollars and seconds for test-time compute (Chapter 7): list prices, latency against
throughput, cost per correct answer, the Pareto frontier, early stopping replayed on stored
samples, and a small simulation of how a provider might charge for thinking.

The price models themselves (`TokenPrice`, `SelfHosted`, `PerTask`) live on the ground floor,
in `tsc.compute`, beside the `Ledger` they price. This module works on results: per-problem
ledgers, sample tables, timings. Nothing here imports torch; `measure_throughput` times a
policy's own ``sample`` calls.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tsc.analysis import SampleTable, bootstrap
from tsc.compute import Ledger, TokenPrice
from tsc.strategies.stopping import stop_point
from tsc.votes import majority_choice

# Published list prices in dollars per million tokens: when each was listed, where, how it was
# checked and when it was last read ("accessed"). "checked": "provider" = read on the provider's
# own pricing page (a stored copy); "secondary" = several consistent copies of the provider's
# page (price trackers, client libraries that cite it), not the page itself. Prices change:
# every use states the date.
ACCESSED = "2026-12-07"
_LISTED = (  # model, input, cached input, output, date listed, bibliography key, how checked
    ("GPT-4o", 2.50, 1.25, 10.00, "2025-06", "Pricing2025openai", "secondary"),
    ("o1", 15.00, 7.50, 60.00, "2025-06", "Pricing2025openai", "secondary"),
    ("o3-mini", 1.10, 0.55, 4.40, "2025-06", "Pricing2025openai", "secondary"),
    ("o3 (at launch)", 10.00, 2.50, 40.00, "2025-04", "Pricing2025openai", "secondary"),
    ("o3 (after the cut)", 2.00, 0.50, 8.00, "2025-06", "Pricing2025openai", "secondary"),
    ("o4-mini", 1.10, 0.275, 4.40, "2025-04", "Pricing2025openai", "secondary"),
    ("Claude Opus 4", 15.00, 1.50, 75.00, "2025", "Pricing2025anthropic", "provider"),
    ("Claude Sonnet 4", 3.00, 0.30, 15.00, "2025", "Pricing2025anthropic", "provider"),
    ("DeepSeek-R1", 0.55, 0.14, 2.19, "2025-01", "Pricing2025deepseek", "provider"),
)
LIST_PRICES: tuple[dict, ...] = tuple(
    dict(zip(("model", "input", "cached_input", "output", "date", "source", "checked"), row), accessed=ACCESSED) for row in _LISTED
)


def list_price(model: str) -> TokenPrice:
    """The `TokenPrice` of a model in `LIST_PRICES` (a ValueError lists the known names); its
    name says when it was listed and when it was read."""
    for row in LIST_PRICES:
        if row["model"] == model:
            name = f"{model} (listed {row['date']}, accessed {row['accessed']})"
            return TokenPrice(input=row["input"], output=row["output"], cached_input=row["cached_input"], name=name)
    raise ValueError(f"no list price for {model!r}; known: {', '.join(r['model'] for r in LIST_PRICES)}")


# ----------------------------------------------------------------------------- latency and throughput


@dataclass(frozen=True)
class Throughput:
    """One batch size: how many requests were decoded together and what that gave.

    ``tokens_per_second`` is the machine's output (generated tokens over wall time);
    ``seconds_per_request`` is how long each request waited for its answer (the whole call:
    every request in a batch is answered when the batch is done); ``seconds_per_token`` is
    the time between two tokens of one request (the call over its decoding steps).
    ``seconds`` is the fastest of the timed repeats, ``repeat_seconds`` all of them.
    """

    batch: int
    tokens: int
    seconds: float
    steps: int
    flops: int
    repeat_seconds: tuple[float, ...] = ()

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds

    @property
    def seconds_per_request(self) -> float:
        return self.seconds

    @property
    def seconds_per_token(self) -> float:
        return self.seconds / max(1, self.steps)

    @property
    def flops_per_second(self) -> float:
        return self.flops / self.seconds


def measure_throughput(
    policy,
    prompts: Sequence[str],
    *,
    batches: Sequence[int] = (1, 4, 16, 64, 256, 1024),
    repeats: int = 3,
    max_new_tokens: int = 48,
    temperature: float = 1.0,
) -> list[Throughput]:
    """Time `policy.sample` serving ``batch`` requests at once, for each batch size.

    The requests are ``batch`` prompts taken in turn from ``prompts`` (distinct users'
    questions, one completion each), decoded in one call; each size is timed ``repeats``
    times (after one warm-up call), drawing the same tokens each time (same seeds), and the
    fastest run is kept (what the machine can do; the slower repeats are noise from whatever else
    runs). Nothing is read from a file: every number is this machine's, now.
    """
    if not prompts:
        raise ValueError("measure_throughput needs at least one prompt")
    if any(not isinstance(b, int) or isinstance(b, bool) or b < 1 for b in batches):
        raise ValueError(f"batch sizes must be positive integers, got {list(batches)}")
    if not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be a positive integer, got {repeats!r}")
    policy.sample(list(prompts[:1]), n=1, temperature=temperature, seed=[0], max_new_tokens=max_new_tokens)  # warm-up: first-call setup
    rows = []
    for batch in batches:
        chosen = [prompts[i % len(prompts)] for i in range(batch)]
        seeds = list(range(batch))
        options = dict(n=1, temperature=temperature, seed=seeds, max_new_tokens=max_new_tokens)
        times, ledger, out = _timed(policy, chosen, repeats, **options)
        lengths = [row[0].num_tokens for row in out]
        fastest = max(min(times), 1e-9)
        rows.append(Throughput(batch, sum(lengths), fastest, max(lengths), ledger.policy_flops, tuple(max(t, 1e-9) for t in times)))
    return rows


def measure_prefill(policy, prompts: Sequence[str], *, batch: int = 256, repeats: int = 3) -> Throughput:
    """Time `policy.sample` reading ``batch`` prompts and writing one token each (what a
    provider's prefill does before the first token): the fastest of ``repeats`` runs after a
    warm-up. ``tokens`` counts the prompt tokens read, so ``tokens_per_second`` is the reading
    rate; ``flops`` includes the one written token per prompt (a few percent)."""
    if not prompts:
        raise ValueError("measure_prefill needs at least one prompt")
    chosen = [prompts[i % len(prompts)] for i in range(batch)]
    options = dict(n=1, temperature=1.0, seed=list(range(batch)), max_new_tokens=1)
    policy.sample(chosen[:1], **{**options, "seed": [0]})
    times, ledger, _ = _timed(policy, chosen, repeats, **options)
    times = [max(t, 1e-9) for t in times]
    return Throughput(batch, ledger.prompt_tokens, min(times), 1, ledger.policy_flops, tuple(times))


def measure_latency(
    policy, prompt: str, *, ns: Sequence[int] = (1, 2, 4, 16), repeats: int = 3, temperature: float = 1.0, max_new_tokens: int = 64
) -> dict[int, float]:
    """Seconds one call takes to draw ``n`` samples of one ``prompt`` in one batch, for each
    ``n`` (the fastest of ``repeats``): the latency of one round of an adaptive strategy that
    draws ``n`` at a time. A round ends when its longest sample does."""
    out = {}
    for n in ns:
        policy.sample([prompt], n=n, temperature=temperature, seed=[0], max_new_tokens=max_new_tokens)  # warm-up
        times, _, _ = _timed(policy, [prompt], repeats, n=n, temperature=temperature, seed=lambda r: [r], max_new_tokens=max_new_tokens)
        out[int(n)] = min(times)
    return out


def _timed(policy, prompts: list[str], repeats: int, **options) -> tuple[list[float], Ledger, list]:
    """``policy.sample(prompts, **options)`` timed ``repeats`` times (``seed``: the same
    every time, or a function of the repeat): the seconds each took, the last one's ledger
    and its output."""
    times = []
    for r in range(repeats):
        ledger = Ledger()
        seed = options["seed"](r) if callable(options["seed"]) else options["seed"]
        started = time.perf_counter()
        out = policy.sample(prompts, **{**options, "seed": seed}, ledger=ledger)
        times.append(time.perf_counter() - started)
    return times, ledger, out


# ----------------------------------------------------------------------------- cost per correct answer


def ledgers(records: dict) -> list[Ledger]:
    """One `Ledger` per problem from stored columns (``prompt_tokens``, ``reused_tokens``,
    ``generated_tokens``, ``verifier_tokens``, ``policy_flops``, ``verifier_flops``)."""
    fields = ("prompt_tokens", "reused_tokens", "generated_tokens", "verifier_tokens", "policy_flops", "verifier_flops")
    missing = [f for f in fields if f not in records]
    if missing:
        raise ValueError(f"records lack the column(s) {', '.join(missing)}")
    return [Ledger(**dict(zip(fields, map(int, values)))) for values in zip(*(records[f] for f in fields))]


def costs(records: dict, price) -> np.ndarray:
    """Dollars per problem of stored per-problem records at ``price``."""
    return np.array([ledger.cost(price) for ledger in ledgers(records)])


def cost_per_correct(cost: Sequence[float], correct: Sequence[bool], *, n_boot: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Dollars spent per correct answer, total cost over problems solved (Erol et al.'s
    cost-of-pass: expected cost over accuracy), with a percentile bootstrap interval over
    problems: (value, low, high). Infinite when nothing was solved."""
    cost, correct = np.asarray(cost, dtype=float), np.asarray(correct, dtype=float)
    if cost.shape != correct.shape or cost.ndim != 1 or len(cost) == 0:
        raise ValueError(f"need one cost and one verdict per problem, got shapes {cost.shape} and {correct.shape}")
    return ratio(cost, correct, n_boot=n_boot, seed=seed, method="inverted_cdf")  # no interpolation: a resample with none solved is inf


def price_runs(runs: dict[str, dict], price, *, seed: int = 0) -> list[dict]:
    """Each stored run (name -> per-problem records with ``correct`` and the ledger columns)
    priced at ``price``: mean dollars per problem (``cost``, ``cost_low``, ``cost_high``),
    problems solved (``accuracy``, ``low``, ``high``) and dollars per correct answer
    (``per_correct``, ``per_correct_low``, ``per_correct_high``), 95 % bootstrap intervals
    over problems. The runs must share their problems for the points to be comparable."""
    points = []
    for name, records in runs.items():
        cost = costs(records, price)
        correct = np.asarray(records["correct"], dtype=float)
        figures = (*bootstrap(cost, seed=seed), *bootstrap(correct, seed=seed), *cost_per_correct(cost, correct, seed=seed))
        points.append({"name": name, **{key: float(value) for key, value in zip(PRICED, figures)}})
    return points


PRICED = ("cost", "cost_low", "cost_high", "accuracy", "low", "high", "per_correct", "per_correct_low", "per_correct_high")


# ----------------------------------------------------------------------------- early stopping, replayed


def stored_samples(data: dict) -> SampleTable:
    """``n`` stored samples per problem, as `early_stop` would draw them, as a `SampleTable`:
    ``data`` holds each sample's answer key as a small integer (-1: malformed, no vote), the
    key of the right answer (-1: none was right), each sample's generated tokens and the
    prompt's tokens (problems × n, problems, problems × n, problems)."""
    keys, right = np.asarray(data["keys"]), np.asarray(data["right"])[:, None]
    return SampleTable.of_votes(keys, (keys == right) & (right >= 0), data["tokens"], data["prompt_tokens"])


def majority_correct(samples: SampleTable, i: int, drawn: int) -> bool:
    """Whether majority voting over the first ``drawn`` samples of problem ``i`` is right."""
    chosen = majority_choice(list(samples.keys[i][:drawn]))
    return chosen is not None and bool(samples.correct[i, chosen])


def replay(samples: SampleTable, stop: Callable[[list, int], int]) -> dict[str, np.ndarray]:
    """Per problem: how many samples a stopping rule draws (``stop(keys, n)``), whether the
    majority of those is right, and the generated and prompt tokens it cost (the prompt
    read once per round is the rule's business: ``rounds`` here counts one read)."""
    drawn = np.array([stop(list(keys), samples.n) for keys in samples.keys])
    correct = np.array([majority_correct(samples, i, d) for i, d in enumerate(drawn)], dtype=float)
    generated = np.array([samples.tokens[i, :d].sum() for i, d in enumerate(drawn)], dtype=float)
    return {"samples": drawn, "correct": correct, "generated_tokens": generated}


def stop_by_windows(rule: Callable[[list, int], bool], window: int) -> Callable[[list, int], int]:
    """A stopping rule asked after every ``window`` samples, ``rule(keys_so_far, window)`` →
    True to stop (ESC's rule, or your own), as the ``stop(keys, n)`` that `replay` takes: how
    many samples it draws before it says stop, or all ``n``."""
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")

    def stop(keys: list, n: int) -> int:
        drawn = 0
        while drawn < n:
            drawn = min(n, drawn + window)
            if rule(list(keys[:drawn]), window):
                return drawn
        return n

    return stop


def replay_early_stop(samples: SampleTable, *, threshold: float, window: int, n: int | None = None) -> dict[str, np.ndarray]:
    """`replay` with `early_stop`'s own rule (`tsc.strategies.stopping.stop_point`), plus the
    prompt tokens its rounds read (one read per round, as the strategy's ledger charges)."""
    n = n or samples.n
    out = replay(samples, lambda keys, _: stop_point(keys, n=n, threshold=threshold, window=window))
    rounds = np.ceil(out["samples"] / window)
    out["prompt_tokens"] = rounds * samples.prompt_tokens
    return out


WINDOWS = (1, 2, 4)
# Thresholds off every value the leader's probability can take (those are k / 2^m, e.g. 3/4
# after one vote, 7/8 after two agreeing), so that no setting decides on an exact tie; 0.74
# and 0.76 sit either side of the one-vote value 3/4 (0.74 stops after a single sample).
THRESHOLDS = (0.6, 0.7, 0.74, 0.76, 0.8, 0.85, 0.9, 0.95, 0.99, 1.0)


def stopping_grid(samples: SampleTable, *, windows=WINDOWS, thresholds=THRESHOLDS) -> list[dict]:
    """`early_stop` replayed at every (window, threshold): mean accuracy, its difference from
    majority of all ``n`` samples (same samples, so paired), and generated tokens as a
    fraction of majority voting's."""
    full_correct = np.array([majority_correct(samples, i, samples.n) for i in range(len(samples.keys))], dtype=float)
    full_tokens = samples.tokens.sum()
    rows = []
    for window in windows:
        for threshold in thresholds:
            out = replay_early_stop(samples, threshold=threshold, window=window)
            rows.append(
                {
                    "window": window,
                    "threshold": threshold,
                    "accuracy": float(out["correct"].mean()),
                    "loss": float(full_correct.mean() - out["correct"].mean()),
                    "token_fraction": float(out["generated_tokens"].sum() / full_tokens),
                    "samples": float(out["samples"].mean()),
                }
            )
    return rows


def choose_stopping(samples: SampleTable, *, max_loss: float = 0.005, windows=WINDOWS, thresholds=THRESHOLDS) -> dict:
    """The (window, threshold) of `early_stop` with the fewest generated tokens among those
    whose accuracy on ``samples`` is at most ``max_loss`` below majority of all ``n``; ties go
    to the higher threshold. Choose on one split of questions, report on another."""
    grid = [r for r in stopping_grid(samples, windows=windows, thresholds=thresholds) if r["loss"] <= max_loss + 1e-12]
    best = min(grid, key=lambda r: (round(r["token_fraction"], 12), -r["threshold"], r["window"]))
    return {"threshold": best["threshold"], "window": best["window"]}


def ratio(
    a: Sequence[float], b: Sequence[float], *, n_boot: int = 2000, seed: int = 0, method: str = "linear"
) -> tuple[float, float, float]:
    """sum(a) / sum(b) over problems (infinite where sum(b) is 0), with a 95 % percentile
    bootstrap interval (numpy's percentile ``method``) resampling problems together (e.g.
    early stopping's generated tokens over majority voting's): (value, low, high)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    rows = np.random.default_rng(seed).integers(0, len(a), size=(n_boot, len(a)))
    top, bottom = a[rows].sum(axis=1), b[rows].sum(axis=1)
    low, high = np.percentile(np.divide(top, bottom, out=np.full(n_boot, math.inf), where=bottom > 0), [2.5, 97.5], method=method)
    return float(a.sum() / b.sum()) if b.sum() > 0 else math.inf, float(low), float(high)


# ----------------------------------------------------------------------------- who pays for a long think


PRICING_MODELS = ("per token", "per task", "per correct answer")
DAILY = ("revenue", "cost", "margin", "margin_low", "margin_high", "price_per_question")  # per pricing model, per mix


def simulate_pricing(
    cost: Sequence[float],
    correct: Sequence[bool],
    hard: Sequence[bool],
    *,
    hard_shares: Sequence[float],
    markup: float = 1.5,
    reference_share: float = 0.5,
    questions: int = 1000,
    days: int = 200,
    seed: int = 0,
) -> dict:
    """A provider answers ``questions`` a day drawn from measured ones, a share of them hard,
    and charges in one of three ways, each priced to the same margin at ``reference_share``:

    - **per token**: the bill is the serving cost times ``markup`` (a list price per token);
    - **per task**: a flat fee per question, the per-token bill's average at the reference mix;
    - **per correct answer**: a fee only for right answers, set so the reference mix pays
      the same in all.

    ``cost``, ``correct`` and ``hard`` are per measured question (what serving it cost the
    provider on its own machine, e.g. its ledger at a `SelfHosted` price, not a list price,
    which is what a provider charges; whether the answer was right; whether it counts as hard). For each share of hard questions the
    simulation draws ``days`` days of questions (with replacement) and returns, per pricing
    model, the provider's daily revenue, cost and margin (mean and the 2.5th and 97.5th
    percentiles over days) and the users' mean price per question.
    """
    cost, correct, hard = np.asarray(cost, dtype=float), np.asarray(correct, dtype=bool), np.asarray(hard, dtype=bool)
    if not (cost.shape == correct.shape == hard.shape) or cost.ndim != 1:
        raise ValueError("need one cost, one verdict and one hard/easy flag per question")
    if not hard.any() or hard.all():
        raise ValueError("need both hard and easy questions to vary the mix")
    if not (isinstance(markup, (int, float)) and markup > 0):
        raise ValueError(f"markup must be a positive number, got {markup!r}")
    easy_idx, hard_idx = np.flatnonzero(~hard), np.flatnonzero(hard)

    def mix_mean(values: np.ndarray, share: float) -> float:
        return share * values[hard_idx].mean() + (1 - share) * values[easy_idx].mean()

    per_task = markup * mix_mean(cost, reference_share)
    per_correct = per_task / mix_mean(correct.astype(float), reference_share)
    rng = np.random.default_rng(seed)
    out = {"hard_share": list(hard_shares), "reference_share": reference_share, "per_task_fee": per_task, "per_correct_fee": per_correct}
    out["models"] = {model: {key: [] for key in DAILY} for model in PRICING_MODELS}
    for share in hard_shares:
        n_hard = rng.binomial(questions, share, size=days)
        spent = np.zeros(days)
        solved = np.zeros(days)
        for d in range(days):
            picks = np.concatenate([rng.choice(hard_idx, n_hard[d]), rng.choice(easy_idx, questions - n_hard[d])])
            spent[d], solved[d] = cost[picks].sum(), correct[picks].sum()
        revenues = {
            "per token": markup * spent,
            "per task": np.full(days, per_task * questions),
            "per correct answer": per_correct * solved,
        }
        for model, revenue in revenues.items():
            margin = revenue - spent
            figures = (revenue.mean(), spent.mean(), margin.mean(), *np.percentile(margin, [2.5, 97.5]), revenue.mean() / questions)
            for key, value in zip(DAILY, figures):
                out["models"][model][key].append(float(value))
    return out
