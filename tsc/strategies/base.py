"""What every strategy shares: the `Strategy` record its registry entry is, the registry
(filled in ``tsc/strategies/__init__.py``, which says what reads it), and the checks of
knobs, problems and policies every strategy runs before it samples."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tsc.compute import Ledger
from tsc.core import Policy, Result, StepVerifier, Verifier, check_sampling, is_int

# how a strategy spends its compute (the map's markers, and which strategies count as fixed)
FAMILIES = ("single", "parallel", "sequential", "search", "thinking", "adaptive")
# what a strategy does with a verifier
VERIFIER_USES = ("none", "optional", "scores", "steps")


@dataclass(frozen=True, eq=False)
class Strategy:
    """One strategy as the rest of the package sees it.

    ``knobs`` holds the strategy's own keyword knobs that the command line offers, each with
    a few words of help: ``{"beam_width": "partial solutions kept per step"}`` becomes
    ``--beam-width`` (its type and default come from the function's signature), and the help
    of a flag that several strategies share lists each one's meaning. The knobs every
    strategy shares (``temperature``, ``seed``, ``max_new_tokens``) and the models
    (``verifier``, ``reviser``) are the command line's own.
    """

    name: str  # the key in STRATEGIES and the name on the command line (--strategy NAME)
    run: Callable  # the strategy: run(problem, policy, *, knobs) -> Result
    family: str  # one of FAMILIES
    budget: str | None  # the knob that buys more compute ("n", "rounds", "expansions", "flops", ...); None: a fixed cost
    color: str  # its colour in every figure of the book (`tsc.viz.colors.color`), distinct from the others'
    knobs: dict[str, str] = field(default_factory=dict)  # keyword -> help, for the command line
    verifier: str = "none"  # "none" takes none; "optional"; "scores" needs one that scores whole completions
    # (`tsc.core.Verifier`, default the oracle); "steps" needs a step verifier (`tsc.core.StepVerifier`: default prm)
    batched: Callable | None = None  # batched(problems, policy, *, seeds, knobs) -> results, one policy call for many problems
    check: Callable | None = None  # check(**knobs) raises a one-line ValueError for a bad knob, before any model loads
    needs: str | None = None  # what the model must be: "trace" (thinks in the trace format before answering)
    tasks: tuple[str, ...] = ()  # the tasks it runs on (empty: every task)

    @property
    def needs_verifier(self) -> bool:
        """Whether it cannot run without a verifier (``verifier`` is "scores" or "steps")."""
        return self.verifier in ("scores", "steps")

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"strategy {self.name!r}: family must be one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.verifier not in VERIFIER_USES:
            raise ValueError(f"strategy {self.name!r}: verifier must be one of {', '.join(VERIFIER_USES)}, got {self.verifier!r}")


# name -> record: declared here so that a strategy that runs others (compute_optimal) can read
# it without importing the package; ``tsc/strategies/__init__.py`` fills it
STRATEGIES: dict[str, Strategy] = {}


def get_strategy(name: str) -> Strategy:
    """The strategy registered as ``name``, or a ValueError that lists the known names."""
    if not isinstance(name, str) or name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


def record_of(strategy) -> Strategy | None:
    """The registry's record of ``strategy`` (a record, or a registered function), else None."""
    if isinstance(strategy, Strategy):
        return strategy
    return next((s for s in STRATEGIES.values() if s.run is strategy), None)


# --- the checks every strategy runs, and its result ---------------------------------------------------

MAX_SAMPLES = 100_000  # a larger n per problem would run for hours on a CPU (and fill its memory)
SHARED_KNOBS = ("n", "temperature", "seed", "verifier")  # what a sweep or the CLI may pass to every strategy


def check_knobs(*, n=None, temperature=None, seed=None, max_new_tokens=None, verifier=None) -> None:
    """Raise a ValueError that names the knob, the allowed range and the value given.

    Every strategy checks its knobs before it samples; the CLI calls this before it loads a
    model, so a bad option fails in a line instead of deep inside the sampler.
    """
    if n is not None and (not is_int(n) or not 1 <= n <= MAX_SAMPLES):
        raise ValueError(f"n (samples per problem) must be an integer from 1 to {MAX_SAMPLES:,}, got {n!r}")
    if temperature is not None:
        check_sampling(temperature=temperature)
    if seed is not None and (not is_int(seed) or not 0 <= seed < 2**63):
        raise ValueError(f"seed must be an integer from 0 to 2**63-1, got {seed!r}")
    if max_new_tokens is not None and (not is_int(max_new_tokens) or max_new_tokens < 1):
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    if verifier is not None and not isinstance(verifier, Verifier):
        raise ValueError(
            f"verifier must be a tsc.core.Verifier (a score(problem, texts, ledger=...) method), "
            f"e.g. tsc.verifiers.Oracle(); got {verifier!r}"
        )


def check_problem(problem, policy) -> None:
    if not all(callable(getattr(problem, a, None)) for a in ("prompt", "check", "answer_key")):
        hint = " (build one with tsc.countdown.validate(numbers, target))" if isinstance(problem, (dict, list, tuple, str)) else ""
        raise ValueError(f"problem must be a task's problem such as Countdown((13, 4, 7, 2), 48){hint}; got {type(problem).__name__}")
    if not isinstance(policy, Policy):
        raise ValueError(
            f"policy must be a tsc.core.Policy (name, prompt_format, format() and sample()), e.g. tsc.load_policy(); "
            f"got {type(policy).__name__}"
        )


def check_step_verifier(strategy: str, verifier, examples: str) -> None:
    """A ValueError unless ``verifier`` scores steps (`tsc.core.StepVerifier`); ``examples`` name the ones to use."""
    if not isinstance(verifier, StepVerifier):
        raise ValueError(
            f"{strategy} needs a step-level verifier with score_steps(problem, texts, ledger=...), such as {examples}; got {verifier!r}"
        )


def batch_prompts(problems: list, policy, seeds: list[int]) -> list[str]:
    """The prompts of a batched strategy's problems, once each problem and its seed is checked."""
    if len(seeds) != len(problems):
        raise ValueError(f"got {len(seeds)} seeds for {len(problems)} problems: pass one per problem")
    for seed in seeds:
        check_knobs(seed=seed)
    for problem in problems:
        check_problem(problem, policy)
    return [policy.format(p) for p in problems]


def softmax(logits: list[float]) -> list[float]:
    """exp(x) of each logit over their sum, shifted by the largest first (no overflow)."""
    top = max(logits)
    weights = [math.exp(x - top) for x in logits]
    total = sum(weights)
    return [w / total for w in weights]


def make_result(
    problem, texts: list[str], chosen: int | None, scores: list[float], ledger: Ledger, strategy: str, trace: dict | None = None
) -> Result:
    answer = texts[chosen] if chosen is not None else None
    return Result(
        answer=answer,
        correct=answer is not None and problem.check(answer),
        ledger=ledger,
        candidates=tuple(texts),
        scores=tuple(scores),
        chosen=chosen,
        strategy=strategy,
        trace=trace or {},
    )
