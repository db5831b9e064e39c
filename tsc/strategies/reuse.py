"""Sharing work between the calls of one strategy: prefix reuse and the shared trunk.

A strategy that calls the policy and then a verifier on what the policy wrote, or that
continues partial solutions earlier calls wrote, computes the same keys, values and hidden
states again unless the models keep them. `reuses_prefixes` runs a strategy inside the
``prefix_cache`` blocks its policy and verifier offer (`tsc.lm.policy.LocalPolicy.prefix_cache`,
`tsc.lm.reward.RewardModel.prefix_cache`): the policy then computes only tokens it has not
read, and a reward model built on the policy's own frozen layers takes their hidden states
from the policy. Models without the block (scripted fakes, the oracle) simply recompute. The
ledger charges what was computed, so the saving shows in its FLOPs.
"""

from __future__ import annotations

import contextlib
import functools

from tsc.core import SharesPrefixes


def reuses_prefixes(strategy=None, *, only_to_share: bool = False):
    """Decorate ``strategy(problem, policy, **knobs)`` to run inside the caches.

    ``only_to_share``: open the policy's cache only when the verifier can use it (a strategy
    whose calls never continue one another, like best-of-N, gains nothing else from it).
    """

    def wrap(run):
        @functools.wraps(run)
        def inside(problem, policy, **knobs):
            with prefix_caches(policy, knobs.get("verifier"), only_to_share=only_to_share):
                return run(problem, policy, **knobs)

        return inside

    return wrap(strategy) if strategy is not None else wrap


@contextlib.contextmanager
def prefix_caches(policy, verifier=None, *, only_to_share: bool = False, policy_open: bool = False, others=()):
    """The one way to open the caches (`tsc.core.SharesPrefixes`) a strategy's calls share:
    the policy's (with ``only_to_share``, only when the verifier can use it; not with
    ``policy_open``, when the caller holds it open already), the verifier's with the policy's
    layers shared, and each of ``others`` (a reviser) that is not the policy. A model
    without the block is skipped: it simply recomputes."""
    with contextlib.ExitStack() as blocks:
        shares = isinstance(verifier, SharesPrefixes)
        if isinstance(policy, SharesPrefixes) and (shares or not only_to_share) and not policy_open:
            blocks.enter_context(policy.prefix_cache())
        if shares:  # a reward model on the policy's layers shares their work
            blocks.enter_context(verifier.prefix_cache(share=policy))
        for model in others:
            if isinstance(model, SharesPrefixes) and model is not policy:
                blocks.enter_context(model.prefix_cache())
        yield


class _WithoutReuse:
    """``model`` with its prefix cache hidden: every call reads its texts whole."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name: str):
        if name == "prefix_cache":
            raise AttributeError(name)
        return getattr(self._model, name)

    def __repr__(self) -> str:
        return f"without_reuse({self._model!r})"


def without_reuse(model):
    """``model`` (a policy or a verifier) as a strategy sees it when nothing is reused: for
    measuring what reuse saves, by running the same strategy both ways."""
    return _WithoutReuse(model)
