"""Checkers for the exercises of Chapter 3, Chain of Thought on Steroids.

Each checker names the most likely mistake when it recognises one: for top-p, dropping the
token that crosses p, forgetting to renormalise, or accumulating in vocabulary order; for
the cache, forgetting the values, using every query head under grouped-query attention,
the wrong bytes per value, or one sequence instead of the batch; for the temperature,
choosing by coverage or on the test set, or reporting the dev-set accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, show

# --- Exercise 3.1: top-p (nucleus) filtering --------------------------------------------------

TOP_P_CASES: list[tuple[list[float], float]] = [
    ([0.5, 0.3, 0.15, 0.05], 0.7),  # keep the top two: the second one crosses 0.7
    ([0.5, 0.3, 0.15, 0.05], 0.9),  # the top three
    ([0.1, 0.6, 0.05, 0.25], 0.5),  # not sorted; the most likely token alone passes p
    ([0.2, 0.05, 0.4, 0.35], 0.6),  # not sorted; two tokens
    ([0.7, 0.2, 0.1], 1.0),  # p = 1 keeps everything
    ([0.0, 0.6, 0.4, 0.0], 0.95),  # zeros stay zero
    ([0.25, 0.35, 0.05, 0.2, 0.15], 0.01),  # a tiny p is greedy
    ([0.02, 0.11, 0.07, 0.3, 0.05, 0.16, 0.09, 0.2], 0.8),  # eight tokens
]


def top_p_reference(probs: Sequence[float], p: float) -> np.ndarray:
    """Keep the smallest set of most likely tokens whose probability reaches ``p`` (a token
    stays when the mass ranked above it is still below ``p``), then renormalise."""
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    kept = np.zeros_like(probs)
    kept[order] = np.where(before < p, probs[order], 0.0)
    return kept / kept.sum()


def _top_p_crossing_dropped(probs, p):
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs, kind="stable")
    kept = np.zeros_like(probs)
    kept[order] = np.where(np.cumsum(probs[order]) <= p + 1e-12, probs[order], 0.0)
    return kept / kept.sum() if kept.sum() > 0 else kept


def _top_p_unnormalised(probs, p):
    return top_p_reference(probs, p) * _kept_mass(probs, p)


def _kept_mass(probs, p) -> float:
    probs = np.asarray(probs, dtype=float)
    return float(probs[top_p_reference(probs, p) > 0].sum())


def _top_p_unsorted(probs, p):
    probs = np.asarray(probs, dtype=float)
    before = np.cumsum(probs) - probs
    kept = np.where(before < p, probs, 0.0)
    return kept / kept.sum()


def _top_p_threshold(probs, p):
    probs = np.asarray(probs, dtype=float)
    kept = np.where(probs >= p, probs, 0.0)
    return kept / kept.sum() if kept.sum() > 0 else kept


TOP_P_MISTAKES: list[tuple[Callable, str]] = [
    (
        _top_p_crossing_dropped,
        "You dropped the token that takes the running total past p. Top-p keeps the smallest set whose probability "
        "reaches p: keep a token while the mass ranked above it is still below p (so the most likely token always stays).",
    ),
    (
        _top_p_unnormalised,
        "You kept the right tokens but did not renormalise: the kept probabilities must be divided by their sum so they add up to 1.",
    ),
    (
        _top_p_unsorted,
        "You accumulated the probabilities in the order they were given. Sort the tokens by probability, most likely "
        "first, before adding them up.",
    ),
    (
        _top_p_threshold,
        "You kept the tokens whose own probability is at least p (a threshold on each token, close to min-p). "
        "Top-p thresholds the running total of the sorted probabilities.",
    ),
]


def check_top_p(fn: Callable) -> Feedback:
    """Compare a student's ``fn(probs, p)`` (a list of probabilities in, the filtered and
    renormalised distribution out, same length and order) with nucleus filtering."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function top_p(probs, p); got {show(fn)}.")
    outcomes = [call(fn, list(probs), p) for probs, p in TOP_P_CASES]
    if all(value is None and error is None for value, error in outcomes):
        return NOT_ATTEMPTED
    got = [None if error else _as_vector(value, len(probs)) for (value, error), (probs, _) in zip(outcomes, TOP_P_CASES)]
    expected = [top_p_reference(probs, p) for probs, p in TOP_P_CASES]
    failed = [i for i, (g, e) in enumerate(zip(got, expected)) if g is None or not np.allclose(g, e, atol=1e-6)]
    if not failed:
        return Feedback("correct", f"Correct on all {len(TOP_P_CASES)} cases: unsorted inputs, p = 1, a tiny p and zeros included.")
    first = failed[0]
    probs, p = TOP_P_CASES[first]
    (value, error), vector = outcomes[first], got[first]
    if error:
        where = f"top_p({probs}, {p}) raised {error}."
    elif vector is None:
        where = f"top_p({probs}, {p}) should return {len(probs)} probabilities in the input's order; got {show(value)}."
    else:
        where = f"top_p({probs}, {p}): expected {_rounded(expected[first])}, got {_rounded(vector)}."
    for mistake, hint in TOP_P_MISTAKES:
        if _explains(mistake, got, expected):
            return Feedback("incorrect", f"{where} {hint}")
    return Feedback("incorrect", where)


def _explains(mistake: Callable, got: list, expected: list) -> bool:
    """Whether ``mistake`` reproduces every case where it gives a distribution (where it
    divides by zero, a student's version may crash or return NaN: no evidence either way),
    and differs from the right answer somewhere."""
    differs = False
    for (probs, p), g, right in zip(TOP_P_CASES, got, expected):
        with np.errstate(invalid="ignore", divide="ignore"):
            wrong = np.asarray(mistake(probs, p), dtype=float)
        if not np.all(np.isfinite(wrong)) or wrong.sum() == 0:
            continue
        if g is None or not np.allclose(g, wrong, atol=1e-6):
            return False
        differs |= not np.allclose(wrong, right, atol=1e-6)
    return differs


def _as_vector(value, size: int) -> np.ndarray | None:
    """``value`` as a float vector of ``size`` (a list, tuple, numpy array or tensor), or None."""
    if value is None or isinstance(value, (str, bytes, dict)):
        return None
    try:
        if hasattr(value, "detach"):  # a torch tensor
            value = value.detach().cpu().numpy()
        vector = np.asarray(value, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    return vector if vector.size == size else None


def _rounded(vector: np.ndarray) -> list[float]:
    return [round(float(x), 4) for x in vector]


# --- Exercise 3.2: the memory of a KV cache ---------------------------------------------------

BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}

KV_CASES: list[tuple[dict, int, int, str]] = [
    (
        {"num_hidden_layers": 4, "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 4, "torch_dtype": "float32"},
        96,
        64,
        "the book's countdown model",
    ),
    (
        {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 32, "torch_dtype": "float16"},
        4096,
        1,
        "a Llama 2 7B-shaped model",
    ),
    (
        {"num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "torch_dtype": "bfloat16"},
        8192,
        4,
        "a Llama 3 8B-shaped model",
    ),
    (
        {"num_hidden_layers": 80, "hidden_size": 8192, "num_attention_heads": 64, "num_key_value_heads": 8, "torch_dtype": "bfloat16"},
        32768,
        2,
        "a Llama 3 70B-shaped model",
    ),
]


def kv_cache_reference(config: dict, context: int, batch: int) -> int:
    """Bytes of the cache: a key and a value per layer, per key/value head, per token, per
    sequence, at the bytes per value of the model's dtype."""
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads", config["num_attention_heads"])
    return 2 * config["num_hidden_layers"] * kv_heads * head_dim * context * batch * BYTES[config["torch_dtype"]]


def _kv_mistakes() -> list[tuple[Callable, str]]:
    """The likely wrong formulas, each as ``(config, context, batch) -> bytes``, with its hint."""

    def right(c, t, b):
        return kv_cache_reference(c, t, b)

    def all_heads(c, t, b):
        return right(c, t, b) * c["num_attention_heads"] / c["num_key_value_heads"]

    return [
        (
            lambda c, t, b: right(c, t, b) / 2,
            "You counted the keys only: the cache holds a key and a value for every token in every layer (the factor 2).",
        ),
        (
            all_heads,
            "With grouped-query attention only num_key_value_heads heads store keys and values: use "
            "num_key_value_heads × head_dim per layer, not hidden_size.",
        ),
        (
            lambda c, t, b: right(c, t, b) / BYTES[c["torch_dtype"]],
            "You counted values, not bytes: multiply by the bytes of one value (4 for float32, 2 for bfloat16 or float16).",
        ),
        (
            lambda c, t, b: right(c, t, b) * 4 / BYTES[c["torch_dtype"]],
            "Read the bytes per value from torch_dtype: 2 for bfloat16 or float16, 4 only for float32.",
        ),
        (
            lambda c, t, b: right(c, t, b) * 2 / BYTES[c["torch_dtype"]],
            "Read the bytes per value from torch_dtype: 4 for float32, 2 for bfloat16 or float16.",
        ),
        (lambda c, t, b: right(c, t, b) / b, "Each sequence of the batch keeps its own cache: multiply by the batch size."),
        (lambda c, t, b: right(c, t, b) * 8, "That is the size in bits: return bytes."),
        (lambda c, t, b: right(c, t, b) / 2**30, "That is in GiB: return bytes."),
        (lambda c, t, b: right(c, t, b) / 1e9, "That is in GB: return bytes."),
    ]


def check_kv_cache_bytes(fn: Callable) -> Feedback:
    """Compare a student's ``fn(config, context, batch) -> bytes`` with the cache's size."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function kv_cache_bytes(config, context, batch); got {show(fn)}.")
    outcomes = [call(fn, dict(config), context, batch) for config, context, batch, _ in KV_CASES]
    if all(value is None and error is None for value, error in outcomes):
        return NOT_ATTEMPTED
    numbers = [None if error else as_number(value) for value, error in outcomes]
    rights = [kv_cache_reference(c, t, b) for c, t, b, _ in KV_CASES]
    failed = [i for i, (n, r) in enumerate(zip(numbers, rights)) if n is None or not math.isclose(n, r, rel_tol=1e-9)]
    if not failed:
        return Feedback("correct", f"Correct on all {len(KV_CASES)} configurations, grouped-query attention and both dtypes included.")
    first = failed[0]
    config, context, batch, what = KV_CASES[first]
    (value, error), number, right = outcomes[first], numbers[first], rights[first]
    if error:
        return Feedback("incorrect", f"For {what}, kv_cache_bytes(config, {context}, {batch}) raised {error}.")
    if number is None:
        return Feedback("incorrect", f"For {what} expected a number of bytes; got {show(value)}.")
    where = f"For {what} ({context:,} tokens, batch {batch}) expected {right:,} bytes ({right / 2**30:.3g} GiB), got {number:,.0f}."
    for mistake, hint in _kv_mistakes():
        predicted = [mistake(c, t, b) for c, t, b, _ in KV_CASES]
        if all(n is not None and math.isclose(n, v, rel_tol=1e-6) for n, v in zip(numbers, predicted)):
            return Feedback("incorrect", f"{where} {hint}")
    return Feedback("incorrect", where)


# --- Exercise 3.3: choose a temperature for majority@8 on a dev set -------------------------

_VOTES: dict = {}  # (policy id, problems, temperature, n, seed) -> (policy, majority@n, coverage@n): the checker samples once


def vote_accuracy(policy, problems: Sequence, temperature: float, *, n: int = 8, seed: int = 0) -> tuple[float, float]:
    """(majority@n, coverage@n) of ``n`` samples per problem at ``temperature``, drawn as the
    exercise asks: ``tsc.analysis.draw(problems, policy, n=n, temperature=temperature,
    seed=seed)``, voted by ``tsc.analysis.majority_accuracy(table, [n])``. Remembered, so
    checking twice does not sample twice."""
    from tsc.analysis import coverage, draw, majority_accuracy

    key = (id(policy), tuple(p.prompt() for p in problems), float(temperature), n, seed)
    held = _VOTES.get(key)
    if held is None or held[0] is not policy:  # the policy is kept, so its id cannot be reused by another
        table = draw(list(problems), policy, n=n, temperature=temperature, seed=seed)
        held = _VOTES[key] = (policy, float(majority_accuracy(table, [n])["mean"][0]), float(coverage(table, [n])["mean"][0]))
    return held[1], held[2]


def check_temperature_choice(
    temperature, accuracy, *, policy, dev: Sequence, test: Sequence, temperatures: Sequence[float], n: int = 8
) -> Feedback:
    """Is ``temperature`` the candidate with the best majority@n on ``dev``, and ``accuracy``
    its majority@n on ``test``? Names the mistake when the choice was made by coverage or on
    the test set, or when the accuracy reported is the dev set's or a coverage."""
    if temperature is None and accuracy is None:
        return NOT_ATTEMPTED
    candidates = [float(t) for t in temperatures]
    chosen = as_number(temperature)
    if chosen is None or not any(math.isclose(chosen, t) for t in candidates):
        return Feedback("incorrect", f"Choose the temperature among the candidates {candidates}; got {show(temperature)}.")
    chosen = next(t for t in candidates if math.isclose(chosen, t))
    reported = as_number(accuracy)
    if reported is None:
        return Feedback("incorrect", f"Report the held-out accuracy as one number between 0 and 1; got {show(accuracy)}.")
    if 1 < reported <= 100:
        return Feedback("incorrect", f"{reported:g} looks like a percentage: report a fraction between 0 and 1.")
    dev_scores = {t: vote_accuracy(policy, dev, t, n=n) for t in candidates}
    best = max(vote for vote, _ in dev_scores.values())
    winners = [t for t, (vote, _) in dev_scores.items() if math.isclose(vote, best, abs_tol=1e-9)]
    table = ", ".join(f"T={t:g}: {vote:.3f}" for t, (vote, _) in dev_scores.items())
    if chosen not in winners:
        by_coverage = max(candidates, key=lambda t: dev_scores[t][1])
        if chosen == by_coverage:
            return Feedback(
                "incorrect",
                f"T={chosen:g} has the best coverage@{n} on the dev set, but without a verifier what you deploy is the "
                f"vote: choose by majority@{n} ({table}).",
            )
        test_scores = {t: vote_accuracy(policy, test, t, n=n)[0] for t in candidates}
        if chosen == max(candidates, key=test_scores.get):
            return Feedback(
                "incorrect",
                f"T={chosen:g} is the best on the test set, not on the dev set ({table}): a choice made on the test set "
                "makes its test accuracy an optimistic estimate. Choose on the dev set only.",
            )
        return Feedback("incorrect", f"On the dev set majority@{n} is highest at T={winners[0]:g}, not {chosen:g} ({table}).")
    held_out, held_out_coverage = vote_accuracy(policy, test, chosen, n=n)
    if math.isclose(reported, held_out, abs_tol=1e-6):
        return Feedback(
            "correct",
            f"Correct: T={chosen:g} wins on the dev set ({dev_scores[chosen][0]:.1%} there) "
            f"and scores {held_out:.1%} on the held-out test set.",
        )
    if math.isclose(reported, dev_scores[chosen][0], abs_tol=1e-6):
        return Feedback(
            "incorrect",
            f"{reported:.3f} is the dev-set accuracy of T={chosen:g}: it was used to choose, so it is optimistic. "
            f"Report majority@{n} on the test set at that temperature.",
        )
    if math.isclose(reported, held_out_coverage, abs_tol=1e-6):
        return Feedback("incorrect", f"{reported:.3f} is the test set's coverage@{n} (some sample right), not what the vote gets right.")
    return Feedback(
        "incorrect", f"T={chosen:g} is the right choice, but its majority@{n} on the test set is {held_out:.3f}, not {reported:.3f}."
    )
