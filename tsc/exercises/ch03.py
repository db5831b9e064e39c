"""Checkers for the exercises of Chapter 3, Chain of Thought on Steroids.

Each checker names the most likely mistake when it recognises one: for top-p, dropping the
token that crosses p, keeping one more when the mass before it already equals p, keeping
every token tied with the last one needed, forgetting to renormalise, or accumulating in
vocabulary order; for
the cache, forgetting the values, using every query head under grouped-query attention,
the wrong bytes per value, or one sequence instead of the batch; for the temperature,
choosing by coverage or on the test set (read off the dev scores the student reports), or
reporting the dev-set accuracy.

Each exercise's self-test (`tsc.exercises.selftest("ex-3-K")`) lives here too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from tsc.exercises.feedback import (
    NOT_ATTEMPTED,
    Feedback,
    accepts_and_rejects,
    as_number,
    call,
    registers_selftest,
    rejects,
    remembered,
    show,
)

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
    ([0.125, 0.5, 0.125, 0.25], 0.75),  # the mass before the third token equals p exactly: two tokens reach it
    ([0.3, 0.2, 0.3, 0.2], 0.5),  # a tie inside the set: both 0.3s
    ([0.2, 0.4, 0.2, 0.2], 0.5),  # a tie at the edge: 0.4 and one of the 0.2s (any one)
    ([0.25, 0.25, 0.25, 0.25], 0.5),  # all tied, and p reached exactly: any two
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


def is_nucleus(got, probs: Sequence[float], p: float, *, atol: float = 1e-6) -> bool:
    """Whether ``got`` is a nucleus-sampling distribution of ``probs`` at ``p``: the kept
    tokens are a most-likely set (none left out is likelier than one kept), their mass reaches
    ``p`` but would not without the least likely of them, and they are renormalised. Where
    tokens tie at the edge of the set, any of them may be the one kept."""
    probs = np.asarray(probs, dtype=float)
    got = np.asarray(got, dtype=float)
    kept = got > atol
    if got.shape != probs.shape or not kept.any() or not np.isclose(got.sum(), 1.0, atol=atol):
        return False
    mass = probs[kept].sum()
    if not np.allclose(got[kept], probs[kept] / mass, atol=atol) or np.any(got[~kept] > atol):
        return False
    most_likely = kept.all() or probs[~kept].max() <= probs[kept].min() + 1e-12
    return bool(most_likely and mass >= p - 1e-12 and mass - probs[kept].min() < p - 1e-12)


def _top_p_at_p_kept(probs, p):
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs, kind="stable")
    before = np.cumsum(probs[order]) - probs[order]
    kept = np.zeros_like(probs)
    kept[order] = np.where(before <= p, probs[order], 0.0)
    return kept / kept.sum()


def _top_p_all_ties(probs, p):
    probs = np.asarray(probs, dtype=float)
    edge = top_p_reference(probs, p)
    smallest = probs[edge > 0].min()
    kept = np.where(probs >= smallest, probs, 0.0)
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
        _top_p_at_p_kept,
        "You kept a token when the mass ranked above it already equals p: the tokens before it reach p, so the set "
        "is complete. Keep a token only while the mass above it is strictly below p.",
    ),
    (
        _top_p_all_ties,
        "You kept every token tied with the last one needed. The set is the smallest that reaches p: of tokens tied at "
        "its edge keep only as many as it takes (which of them does not matter).",
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
    failed = [i for i, (g, (probs, p)) in enumerate(zip(got, TOP_P_CASES)) if g is None or not is_nucleus(g, probs, p)]
    if not failed:
        return Feedback(
            "correct",
            f"Correct on all {len(TOP_P_CASES)} cases: unsorted inputs, p = 1, a tiny p, zeros, a mass that reaches p "
            "exactly and ties included.",
        )
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
        if _explains(mistake, got):
            return Feedback("incorrect", f"{where} {hint}")
    return Feedback("incorrect", where)


def _explains(mistake: Callable, got: list) -> bool:
    """Whether ``mistake`` reproduces every case where it gives a distribution (where it
    divides by zero, a student's version may crash or return NaN: no evidence either way),
    and differs from the right answer somewhere."""
    differs = False
    for (probs, p), g in zip(TOP_P_CASES, got):
        with np.errstate(invalid="ignore", divide="ignore"):
            wrong = np.asarray(mistake(probs, p), dtype=float)
        if not np.all(np.isfinite(wrong)) or wrong.sum() == 0:
            continue
        if g is None or not np.allclose(g, wrong, atol=1e-6):
            return False
        differs |= not is_nucleus(wrong, probs, p)
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

_VOTES: dict = {}  # the checker samples once per configuration (`remembered`)


def vote_accuracy(policy, problems: Sequence, temperature: float, *, n: int = 8, seed: int = 0) -> tuple[float, float]:
    """(majority@n, coverage@n) of ``n`` samples per problem at ``temperature``, drawn as the
    exercise asks: ``tsc.analysis.draw(problems, policy, n=n, temperature=temperature,
    seed=seed)``, voted by ``tsc.analysis.majority_accuracy(table, [n])``. Remembered, so
    checking twice does not sample twice."""
    from tsc.analysis import coverage, draw, majority_accuracy

    def measure() -> tuple[float, float]:
        table = draw(list(problems), policy, n=n, temperature=temperature, seed=seed)
        return float(majority_accuracy(table, [n])["mean"][0]), float(coverage(table, [n])["mean"][0])

    key = (id(policy), tuple(p.prompt() for p in problems), float(temperature), n, seed)
    return remembered(_VOTES, key, (policy,), measure)


def check_temperature_choice(
    temperature, accuracy, dev_scores=None, *, policy, dev: Sequence, test: Sequence, temperatures: Sequence[float], n: int = 8
) -> Feedback:
    """Are ``dev_scores`` each candidate's majority@n on ``dev``, ``temperature`` the one with
    the best of them, and ``accuracy`` its majority@n on ``test``? Reading the student's dev
    scores names the mistake whatever the data: scores that are coverages (choosing by what a
    verifier could pick) or test-set votes (choosing on the test set); and the accuracy
    reported being the dev set's or a coverage."""
    if temperature is None and accuracy is None and dev_scores is None:
        return NOT_ATTEMPTED
    candidates = [float(t) for t in temperatures]
    if not isinstance(dev_scores, dict):
        return Feedback(
            "incorrect",
            f"Set dev_scores to a dict of each candidate's majority@{n} on the dev set, {{temperature: score}}: how you "
            f"chose is part of the answer; got {show(dev_scores)}.",
        )
    scores = {}
    for key, value in dev_scores.items():
        t, v = as_number(key), as_number(value)
        match = [c for c in candidates if t is not None and math.isclose(t, c)]
        if not match or v is None:
            return Feedback("incorrect", f"dev_scores should map each candidate {candidates} to a number; got {show(key)}: {show(value)}.")
        scores[match[0]] = v
    if sorted(scores) != sorted(candidates):
        return Feedback("incorrect", f"dev_scores should score every candidate {candidates}; it has {sorted(scores)}.")
    dev_truth = {t: vote_accuracy(policy, dev, t, n=n) for t in candidates}
    table = ", ".join(f"T={t:g}: {vote:.3f}" for t, (vote, _) in dev_truth.items())

    def same(values: dict) -> bool:
        return all(math.isclose(scores[t], values[t], abs_tol=1e-6) for t in candidates)

    if not same({t: vote for t, (vote, _) in dev_truth.items()}):
        if same({t: cover for t, (_, cover) in dev_truth.items()}):
            return Feedback(
                "incorrect",
                f"Your dev scores are coverage@{n} (some sample right), what a verifier could pick; without one what you "
                f"deploy is the vote: score each temperature by majority@{n} ({table}).",
            )
        if same({t: vote_accuracy(policy, test, t, n=n)[0] for t in candidates}):
            return Feedback(
                "incorrect",
                f"Your scores are majority@{n} on the test set: a choice made there makes its test accuracy an optimistic "
                f"estimate. Score the candidates on the dev set only ({table}).",
            )
        wrong = next(t for t in candidates if not math.isclose(scores[t], dev_truth[t][0], abs_tol=1e-6))
        return Feedback(
            "incorrect", f"dev_scores[{wrong:g}] is {scores[wrong]:.3f}; majority@{n} on the dev set is {dev_truth[wrong][0]:.3f}."
        )
    chosen = as_number(temperature)
    if chosen is None or not any(math.isclose(chosen, t) for t in candidates):
        return Feedback("incorrect", f"Choose the temperature among the candidates {candidates}; got {show(temperature)}.")
    chosen = next(t for t in candidates if math.isclose(chosen, t))
    reported = as_number(accuracy)
    if reported is None:
        return Feedback("incorrect", f"Report the held-out accuracy as one number between 0 and 1; got {show(accuracy)}.")
    if 1 < reported <= 100:
        return Feedback("incorrect", f"{reported:g} looks like a percentage: report a fraction between 0 and 1.")
    best = max(vote for vote, _ in dev_truth.values())
    winners = [t for t, (vote, _) in dev_truth.items() if math.isclose(vote, best, abs_tol=1e-9)]
    if chosen not in winners:
        return Feedback("incorrect", f"Your dev scores are right, and they are highest at T={winners[0]:g}, not {chosen:g} ({table}).")
    held_out, held_out_coverage = vote_accuracy(policy, test, chosen, n=n)
    if math.isclose(reported, held_out, abs_tol=1e-6):
        return Feedback(
            "correct",
            f"Correct: T={chosen:g} wins on the dev set ({dev_truth[chosen][0]:.1%} there) "
            f"and scores {held_out:.1%} on the held-out test set.",
        )
    if math.isclose(reported, dev_truth[chosen][0], abs_tol=1e-6):
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


# --- the self-tests the chapter's hidden cells run ----------------------------------------------


@registers_selftest("ex-3-1")
def _selftest_top_p(*, policy=None, prefix: str | None = None) -> None:
    """The placeholder, the reference, every named mistake; with ``policy`` and ``prefix``, the
    reference against the sampler's own filter on the model's real distribution."""
    accepts_and_rejects(check_top_p, top_p_reference, [(mistake, hint.split(":")[0][:40]) for mistake, hint in TOP_P_MISTAKES])
    if policy is not None:
        from tsc.lm.decoding import next_token_logits, reshape

        logits = next_token_logits(policy, [prefix])[0]
        mine = top_p_reference(logits.softmax(-1).tolist(), 0.9)
        assert np.abs(mine - reshape(logits, top_p=0.9).numpy()).max() < 1e-6


@registers_selftest("ex-3-2")
def _selftest_kv_cache() -> None:
    accepts_and_rejects(check_kv_cache_bytes, kv_cache_reference, [(mistake, hint[:30]) for mistake, hint in _kv_mistakes()])


@registers_selftest("ex-3-3")
def _selftest_temperature(*, policy, dev: Sequence, test: Sequence, temperatures: Sequence[float], n: int = 8) -> None:
    """The placeholder, the reference (dev scores, the choice, its test accuracy), and each
    mistake: coverage as the dev score, scores from the test set, the dev accuracy reported,
    a percentage."""

    def check(t, a, scores):
        return check_temperature_choice(t, a, scores, policy=policy, dev=dev, test=test, temperatures=temperatures, n=n)

    assert check(None, None, None).status == "not attempted"
    truth = {float(t): vote_accuracy(policy, dev, t, n=n) for t in temperatures}
    votes = {t: v for t, (v, _) in truth.items()}
    chosen = max(votes, key=votes.get)
    held_out, held_out_coverage = vote_accuracy(policy, test, chosen, n=n)
    assert check(chosen, held_out, votes).correct
    assert rejects(check(chosen, held_out, None), "dev_scores")
    covers = {t: c for t, (_, c) in truth.items()}
    if covers != votes:
        assert rejects(check(max(covers, key=covers.get), held_out, covers), "coverage")
    tests = {float(t): vote_accuracy(policy, test, t, n=n)[0] for t in temperatures}
    if tests != votes:
        assert rejects(check(max(tests, key=tests.get), held_out, tests), "test set")
    if not math.isclose(votes[chosen], held_out, abs_tol=1e-6):
        assert rejects(check(chosen, votes[chosen], votes), "dev-set accuracy")
    assert rejects(check(chosen, 100 * held_out, votes), "percentage")
