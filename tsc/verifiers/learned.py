"""Learned verifiers: the outcome (ORM) and process (PRM) reward models, and self-verification.

`ORM` and `PRM` wrap a `tsc.lm.reward.RewardModel` (the bundled ``orm`` / ``prm`` by
default, loaded once per process); `SelfVerifier` asks the policy itself. Each charges its
forward passes to the ledger as verifier compute, apart from the policy's.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from tsc.compute import Ledger
from tsc.core import aggregate, check_aggregate
from tsc.tasks.freetext import is_free

if TYPE_CHECKING:
    from tsc.lm.reward import RewardModel


@lru_cache(maxsize=8)
def _cached(name: str):
    from tsc.lm.reward import load_reward_model  # torch: imported when a reward model is first needed

    return load_reward_model(name)


def _reward_model(model):
    """``model`` itself, or the reward model a name or folder names (loaded once per process)."""
    from tsc.lm.reward import RewardModel

    if isinstance(model, RewardModel):
        return model
    if isinstance(model, (str, Path)):
        return _cached(str(model))
    raise TypeError(f"expected a RewardModel, a bundled reward model's name or a folder, got {type(model).__name__}")


class _Learned:
    """What ORM and PRM share: scoring every step prefix in one forward pass per completion,
    and one score per completion from its step scores, combined by ``aggregate``."""

    name = "learned"
    aggregate = "last"

    def __init__(self, model: RewardModel | str | Path | None = None):
        self.model = _reward_model(self.name if model is None else model)  # default: the bundled model of that name

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model.name!r})"

    def score(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[float]:
        return [aggregate(s, self.aggregate) for s in self.score_steps(problem, texts, ledger=ledger)]

    def prefix_cache(self, max_tokens: int = 50_000, *, share=None):
        """A block within which a text extending one scored before computes only its new
        tokens, and with ``share`` (the policy) the trunk the model shares with the policy is
        not computed again (`RewardModel.prefix_cache`); tree search opens one per problem."""
        return self.model.prefix_cache(max_tokens, share=share)

    def score_steps(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[list[float]]:
        """P(correct) as judged after each step of each completion (``problem.steps(text)``;
        [] for a completion with no step). One batched forward pass, charged to ``ledger``."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings; wrap a single completion in a list")
        free = next((t for t in texts if is_free(t)), None)
        if free is not None:  # it would read characters it never saw: a score that means nothing
            raise ValueError(
                f"the {self.model.name} reward model judges the bundled models' compact answers (13-7=6,6*4=24,...), "
                f"not free text such as {free[:40]!r}: score a real model's answers with the oracle or the self verifier"
            )
        prompt = problem.prompt()
        return self.model.step_scores([prompt] * len(texts), [problem.steps(t) for t in texts], ledger=ledger)


class ORM(_Learned):
    """Outcome reward model: the probability that a completion is correct, read after its
    last step (0.0 for a completion with no step)."""

    name = "orm"


class PRM(_Learned):
    """Process reward model: a score after every step, combined into one by ``aggregate``
    (``"min"``, ``"last"`` or ``"product"``)."""

    name = "prm"

    def __init__(self, model: RewardModel | str | Path = "prm", *, aggregate: str = "min"):
        check_aggregate(aggregate)
        super().__init__(model)
        self.aggregate = aggregate

    def __repr__(self) -> str:
        return f"PRM({self.model.name!r}, aggregate={self.aggregate!r})"


class SelfVerifier:
    """The policy's own judgement: how likely it finds the completion, as the geometric mean
    of its token probabilities, exp(mean log p), from one forward pass over prompt and
    completion (0.0 for an empty completion).

    The bundled model was never taught a "check" token, so its likelihood is the judgement
    it can give. `score` reads texts again (its forward passes are charged as verifier
    compute); `score_samples` takes the log-probabilities the sampler returned with each
    completion, the same numbers, and is charged nothing (the book's accounting: what comes
    with sampling is free). Best-of-N and the weighted vote use `score_samples`.
    """

    name = "self"

    def __init__(self, policy):
        if not callable(getattr(policy, "score", None)) or not callable(getattr(policy, "format", None)):
            raise ValueError(f"the self verifier needs a policy with format() and score() methods, e.g. tsc.load_policy(); got {policy!r}")
        self.policy = policy

    def __repr__(self) -> str:
        return f"SelfVerifier({self.policy!r})"

    def score(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[float]:
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings; wrap a single completion in a list")
        started = time.perf_counter()
        prompt = self.policy.format(problem)
        logprobs = self.policy.score([prompt] * len(texts), list(texts))
        if ledger is not None:
            prompt_len = len(self.policy.encode([prompt])[0])
            lengths = [prompt_len + len(lp) for lp in logprobs]
            flops = sum(self.policy.flops(n, 0) for n in lengths)
            ledger.charge_verifier(tokens=sum(lengths), flops=flops, seconds=time.perf_counter() - started)
        return [math.exp(sum(lp) / len(lp)) if lp else 0.0 for lp in logprobs]

    def score_samples(self, problem, completions: list, *, ledger: Ledger | None = None) -> list[float]:
        """exp(mean log p) of each completion from the log-probability and token count it was
        sampled with (free); a completion without a finite log-probability (a server that
        sends none) is read again with `score`, charged to ``ledger``."""
        ready = all(math.isfinite(c.logprob) and c.num_tokens > 0 for c in completions)
        if not ready:
            return self.score(problem, [c.text for c in completions], ledger=ledger)
        return [math.exp(c.logprob / c.num_tokens) if c.text else 0.0 for c in completions]
