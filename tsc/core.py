"""The whole interface of a strategy: what it reads of a problem (`Problem`), the two models
it talks to (`Policy`, `Verifier`), their optional capabilities (`StepVerifier`,
`SharesPrefixes`, `HasContext`) and the one `Result` type it returns.

Strategies never import torch or `tsc.lm`, and read nothing of a problem, a policy or a
verifier that is not declared here: a policy is anything with these attributes and a
``sample`` method of this shape, so a scripted fake in the tests, the bundled tiny model
(`tsc.lm.policy.LocalPolicy`), a Hugging Face LLM in Colab and a server all run the same search code.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from tsc.compute import Ledger


@runtime_checkable
class Problem(Protocol):
    """A problem that strategies can solve without knowing which task it belongs to."""

    task: str

    def prompt(self) -> str:
        """The compact prompt the bundled models were trained on."""
        ...

    def check(self, text: str) -> bool:
        """The oracle: is this completion a correct solution? Never raises."""
        ...

    def answer_key(self, text: str) -> str | None:
        """What majority voting compares (None for a malformed completion)."""
        ...

    def steps(self, text: str) -> list[str]:
        """The completion cut into steps (the unit of process rewards and tree search)."""
        ...

    def step_labels(self, text: str) -> list[float]:
        """The exact process labels, one per piece of `steps` (what a PRM learns to predict)."""
        ...

    @property
    def difficulty(self) -> int:
        """The problem's place on its task's difficulty dial (numbers, operations)."""
        ...

    def question_text(self) -> str:
        """The problem in words, for a real language model's prompt."""
        ...

    def to_json(self) -> dict:
        """The problem as a JSON object (what `python -m tsc solve` reads)."""
        ...


@dataclass(frozen=True)
class Completion:
    """One sampled continuation of a prompt.

    ``text`` stops after the stop string (``.`` for the bundled tasks); ``num_tokens`` counts
    generated tokens including the stop token; ``logprob`` is the sum of the model's log
    probabilities (at temperature 1) of those tokens, and ``token_logprobs`` the terms of
    that sum, one per generated token (empty where a server gives none; ``logprob`` is then NaN).

    ``top_logprobs`` (when the sampler was asked for ``top_logprobs=k``): at each generated
    token, the ``k`` largest log-probabilities of the model's next-token distribution, largest
    first (which tokens they belong to is not kept). ``cut_off``: the sampler ended the
    completion early because its confidence fell below ``confidence_stop`` (see
    `confidence_cut`); its text then has no final answer.
    """

    text: str
    num_tokens: int
    logprob: float
    token_logprobs: tuple[float, ...] = ()
    top_logprobs: tuple[tuple[float, ...], ...] = ()
    cut_off: bool = False


def is_int(x) -> bool:
    """An integer (Python or numpy), not a bool: what every knob that counts accepts."""
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


def is_real(x) -> bool:
    """A finite real number (Python or numpy), not a bool."""
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)


def token_confidence(top: Sequence[float]) -> float:
    """A token's confidence as DeepConf defines it (Fu et al. 2025): minus the mean of the
    ``k`` largest log-probabilities of its next-token distribution (``Completion.top_logprobs``).
    High when the model puts its mass on few tokens; the sum runs left to right, so every
    sampler and every replay computes the same float."""
    return -sum(top) / len(top)


def window_means(confidences: Sequence[float], window: int) -> list[float]:
    """The mean confidence of every full window of ``window`` consecutive tokens (DeepConf's
    group confidence), by a running sum (add the newest, drop the oldest) as the samplers keep
    it; a trace shorter than the window has none."""
    means, running = [], 0.0
    for t, c in enumerate(confidences):
        running = (running - confidences[t - window] if t >= window else running) + c
        if t + 1 >= window:
            means.append(running / window)
    return means


# How far below the threshold a window must fall to cut. Traces that share a prefix share its
# confidences, so a threshold read off one trace is met exactly by the others; computed in
# batches of other shapes, those equal values differ in the seventh digit, and without a
# margin that noise would decide the tie.
CUT_MARGIN = 1e-4


def confidence_cut(top_logprobs: Sequence[Sequence[float]], window: int, threshold: float) -> int | None:
    """How many tokens a sampler with ``confidence_stop=(window, threshold)`` writes before
    it cuts a trace whose per-token ``top_logprobs`` are these: the first token at which the
    mean confidence of the last ``window`` tokens is below ``threshold`` by more than
    `CUT_MARGIN` (None: never)."""
    below = threshold - CUT_MARGIN
    for t, mean in enumerate(window_means([token_confidence(top) for top in top_logprobs], window)):
        if mean < below:
            return t + window
    return None


def check_logprob_knobs(*, top_logprobs: int = 0, confidence_stop=None) -> None:
    """Raise a ValueError naming the log-probability knob that is out of range."""
    if not is_int(top_logprobs) or top_logprobs < 0:
        raise ValueError(f"top_logprobs must be a whole number >= 0 (0: none), got {top_logprobs!r}")
    if confidence_stop is None:
        return
    shape_ok = isinstance(confidence_stop, (tuple, list)) and len(confidence_stop) == 2
    window, threshold = confidence_stop if shape_ok else (None, None)
    if not shape_ok or not isinstance(window, numbers.Integral) or isinstance(window, bool) or window < 1:
        raise ValueError(f"confidence_stop must be (window >= 1 tokens, threshold), got {confidence_stop!r}")
    thresholds = list(threshold) if isinstance(threshold, (list, tuple)) else [threshold]
    if not thresholds or not all(is_real(t) for t in thresholds):
        raise ValueError(f"confidence_stop's threshold must be a finite number (or one per prompt), got {threshold!r}")
    if not top_logprobs:
        raise ValueError("confidence_stop needs top_logprobs=k >= 1: a token's confidence is read from its k most likely tokens")


@runtime_checkable
class Policy(Protocol):
    """A language model that strategies can sample from (batched: lists in, lists out).

    The bundled models and a Hugging Face model (`tsc.lm.policy.LocalPolicy`), a server
    (`tsc.lm.remote.RemotePolicy`) and the tests' scripted fakes all implement it. Optional
    capabilities are protocols of their own: `SharesPrefixes`, `HasContext`.
    """

    name: str  # what errors, runs and fitted tables call the model
    prompt_format: str  # "compact" (the bundled models' format: steps end at ","), or free text: "chat", "text"

    def format(self, problem) -> str:
        """The prompt for ``problem`` in this model's format."""
        ...

    def sample(
        self,
        prompts: list[str],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        top_k: int = 0,
        min_p: float = 0.0,
        max_new_tokens: int = 64,
        seed: int | Sequence[int] = 0,
        stop: tuple[str, ...] | None = None,
        ledger: Ledger | Sequence[Ledger] | None = None,
        offset: int = 0,
        stop_after: int | None = None,
        top_logprobs: int = 0,
        confidence_stop: tuple[int, float | Sequence[float]] | None = None,
    ) -> list[list[Completion]]:
        """``n`` completions for each prompt; temperature 0 means greedy decoding.

        ``stop``: the strings that end a completion (None: the policy's own, e.g. ``.`` for
        the compact format). ``seed``: one integer for the call, or one per prompt so that a
        prompt's completions do not depend on the others in the call. ``ledger``: charged
        what was computed; one per prompt charges each prompt's share to its own.
        ``offset`` (with one seed per prompt): the completions are samples ``offset`` to
        ``offset + n - 1`` of each prompt's stream, so drawing in rounds gives what one call
        would have (a strategy that stops early, `tsc.strategies.stopping`).
        ``stop_after`` = m: a policy that can may stop a prompt's samples once m of them have
        ended, cutting the others, and list them in the order they ended; one that cannot
        writes all of them (and charges them). Either way the m shortest are the m first to
        finish (`tsc.strategies.short_m_at_k`).
        ``top_logprobs=k``: also return the k largest log-probabilities at every token
        (`Completion.top_logprobs`). ``confidence_stop=(window, threshold)``: end a completion
        as soon as the mean `token_confidence` of its last ``window`` tokens falls below
        ``threshold`` (one number, or one per prompt; `confidence_cut`; needs ``top_logprobs``),
        DeepConf's online cut.
        A policy that cannot (a scripted fake) may leave these two out.
        """
        ...


def check_sampling(*, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> None:
    """Raise a ValueError naming the sampling knob that is out of range, and its range."""

    if not is_real(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 decodes greedily), got {temperature!r}")
    if not is_int(top_k) or top_k < 0:
        raise ValueError(f"top_k must be a whole number >= 0 (0 keeps every token), got {top_k!r}")
    if not is_real(top_p) or not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1 keeps every token), got {top_p!r}")
    if not is_real(min_p) or not 0 <= min_p < 1:
        raise ValueError(f"min_p must be in [0, 1) (0 keeps every token), got {min_p!r}")


def check_request(prompts, *, n: int, max_new_tokens: int, seed, offset: int, ledger, **knobs) -> tuple[list | None, ...]:
    """Check the arguments of a `Policy.sample` call (a ValueError names the one out of range;
    ``knobs``: the sampling and log-probability knobs) and return the seeds and the ledgers
    given one per prompt (each checked against the number of prompts), else None, and the
    ``confidence_stop`` threshold of each prompt (None without a confidence stop)."""
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings; wrap a single prompt in a list")
    if n < 1 or max_new_tokens < 1:
        raise ValueError(f"n and max_new_tokens must be at least 1 (got {n}, {max_new_tokens})")
    check_sampling(**{k: knobs[k] for k in ("temperature", "top_k", "top_p", "min_p")})
    check_logprob_knobs(top_logprobs=knobs["top_logprobs"], confidence_stop=knobs["confidence_stop"])
    if not is_int(offset) or offset < 0:
        raise ValueError(f"offset must be a whole number >= 0, got {offset!r}")
    if not isinstance(seed, (list, tuple)) and not is_int(seed):
        raise ValueError(f"seed must be an integer or a list of one integer per prompt, got {seed!r}")
    if isinstance(seed, (list, tuple)) and not all(map(is_int, seed)):
        raise ValueError(f"seeds must be integers, got {seed!r}")
    thresholds = None
    if knobs["confidence_stop"] is not None:
        threshold = knobs["confidence_stop"][1]
        thresholds = per_prompt(threshold, len(prompts), "threshold") or [threshold] * len(prompts)
    return per_prompt(seed, len(prompts), "seed"), per_prompt(ledger, len(prompts), "ledger"), thresholds


def per_prompt(value, count: int, name: str) -> list | None:
    """``value`` as one item per prompt when it is a list or tuple (a ValueError unless it has
    ``count`` items), else None: one value for the whole call."""
    if not isinstance(value, (list, tuple)):
        return None
    if len(value) != count:
        raise ValueError(f"got {len(value)} {name}s for {count} prompts: pass one per prompt")
    return list(value)


class _Sampling:
    """``policy`` with other default truncation knobs for `sample` (see `with_sampling`)."""

    def __init__(self, policy, knobs: dict):
        self._policy, self._knobs = policy, knobs

    def sample(self, prompts, **options):
        return self._policy.sample(prompts, **{**self._knobs, **options})

    def __getattr__(self, name: str):
        return getattr(self._policy, name)

    def __repr__(self) -> str:
        knobs = ", ".join(f"{k}={v}" for k, v in self._knobs.items())
        return f"with_sampling({self._policy!r}, {knobs})"


def with_sampling(policy, *, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0):
    """``policy`` as a strategy sees it when every sample it draws is truncated by ``top_k``,
    ``top_p`` and ``min_p`` (what ``python -m tsc solve --top-k/--top-p/--min-p`` does), so no
    strategy needs those knobs of its own. A knob a strategy passes itself still wins."""
    check_sampling(top_k=top_k, top_p=top_p, min_p=min_p)
    return _Sampling(policy, {"top_k": top_k, "top_p": top_p, "min_p": min_p})


@runtime_checkable
class Verifier(Protocol):
    """Scores completions of a problem (higher is better), charging its compute to the ledger."""

    def score(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[float]: ...


# How a step verifier's scores of one completion become one score (`aggregate`).
AGGREGATES: dict[str, Callable[[Sequence[float]], float]] = {
    "min": min,  # a solution is as good as its weakest step (Math-Shepherd, Wang et al. 2024)
    "last": lambda scores: scores[-1],  # the value after the last step: an ORM's reading
    "product": math.prod,  # the chance that every step is right, if steps were independent (Lightman et al. 2023)
}


def check_aggregate(how) -> None:
    """Raise a ValueError unless ``how`` names one of `AGGREGATES`."""
    if how not in AGGREGATES:
        raise ValueError(f"unknown aggregate {how!r}; known: {', '.join(AGGREGATES)}")


def aggregate(step_scores: Sequence[float], how: str = "min") -> float:
    """One score from a completion's step scores (0.0 for a completion with no step)."""
    check_aggregate(how)
    return float(AGGREGATES[how](step_scores)) if step_scores else 0.0


@runtime_checkable
class StepVerifier(Verifier, Protocol):
    """A verifier that also judges every step of a completion (a process reward model, the
    step oracle): what tree search and self-refinement need."""

    def score_steps(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[list[float]]:
        """One score per step (``problem.steps(text)``) of each text; [] for a text with none."""
        ...


@runtime_checkable
class JudgesSamples(Protocol):
    """A verifier that can judge a completion from what came with sampling it (its
    log-probability), reading nothing again: the policy's own confidence
    (`tsc.verifiers.SelfVerifier`). The book's accounting charges such a judgement nothing,
    as log-probabilities that come with sampling are free. Strategies that hold the
    completions (best-of-N, the weighted vote, `tsc.analysis.draw`) call it instead of
    ``score``; optional for a verifier."""

    def score_samples(self, problem, completions: list[Completion], *, ledger: Ledger | None = None) -> list[float]: ...


@runtime_checkable
class SharesPrefixes(Protocol):
    """A model that can keep what it computed for a while, so later calls extending the same
    text compute only their new tokens (`tsc.strategies.reuse`); optional for a policy or a
    verifier."""

    def prefix_cache(self, max_tokens: int = 50_000, *, share=None) -> AbstractContextManager:
        """A block within which calls reuse what earlier calls computed. ``share``: for a
        verifier built on a policy's layers, that policy, whose hidden states it then takes."""
        ...


@runtime_checkable
class HasContext(Policy, Protocol):
    """A policy whose context length is known: it says how many tokens a prompt takes
    (`encode`) and how many fit (``max_len``). Optional; budget forcing checks a long
    thinking budget against it before it samples."""

    max_len: int

    def encode(self, prompts: list[str]) -> list[list[int]]: ...


@dataclass(frozen=True)
class Result:
    """What every strategy returns.

    ``answer`` is the chosen completion (None when the strategy produced nothing usable),
    ``correct`` the oracle's verdict on it, ``candidates`` every completion the strategy
    considered, ``scores`` what it ranked them by (votes, verifier scores), ``chosen`` the
    index of the answer among the candidates, and ``ledger`` the compute spent.
    """

    answer: str | None
    correct: bool
    ledger: Ledger
    candidates: tuple[str, ...] = ()
    scores: tuple[float, ...] = ()
    chosen: int | None = None
    strategy: str = ""
    trace: dict = field(default_factory=dict)


def writes_compact(policy: Policy) -> bool:
    """Whether ``policy`` writes the bundled models' compact format (``13-7=6,6*4=24,...``),
    whose steps end at ``,``: what step search, refinement and the bundled reward models and
    reviser read."""
    return policy.prompt_format == "compact"


def revision_prompt(prompt: str, attempts: list[str]) -> str:
    """What a revision model reads: the prompt, then the previous attempts, each ending in ``.``.

    ``"13 4 7 2>48:"`` and attempts ``["13+4=17,17*2=34,34+7=41.", "13*4=52,52-7=45,45+2=47."]``
    give ``"13 4 7 2>48:13+4=17,17*2=34,34+7=41.13*4=52,52-7=45,45+2=47."``; an attempt cut
    off before its ``.`` gets one, so the model can tell where it ends. The revision strategy
    (`tsc.strategies.sequential.revise`) and the revision model's training data
    (`tsc.lm.revision`) both build their prompts here, so the two cannot drift apart.
    """
    return prompt + "".join(a if a.endswith(".") else a + "." for a in attempts)


def problem_seed(seed: int, problem) -> int:
    """The seed to solve ``problem`` with in a run seeded ``seed``: a hash of both.

    A run over many problems that handed every problem the same seed would draw the same
    random numbers for each of them (the sampler restarts its generator per call), so their
    errors would move together and intervals over problems would be too narrow. Hashing in
    the problem keeps each problem's draws independent of the others and of the order of
    the problems, and the run reproducible.
    """
    key = json.dumps([int(seed), problem.to_json()], sort_keys=True)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:7], "big")
