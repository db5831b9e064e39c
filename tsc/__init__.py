"""tsc: test-time compute scaling on a tiny language model, the package behind the book.

The pieces a chapter needs::

    import tsc
    policy = tsc.load_policy()                      # the bundled Countdown model
    problems = tsc.countdown.generate(100, seed=0)  # held-out problems, uniform over solvable
    result = tsc.strategies.majority_vote(problems[0], policy, n=16)
    result.correct, result.ledger.flops
"""

from tsc.compute import Ledger
from tsc.core import Completion, Policy, Result, Verifier
from tsc.tasks import Countdown, countdown


def load_policy(name_or_path=None, **options):
    """A `Policy` for a bundled model (default: the Countdown model), a local folder, a
    Hugging Face id or a server's URL; ``device=``, ``dtype=``, ``prompt_format=`` and a
    server's options as in `tsc.lm.policy.load_policy`."""
    from tsc.lm.policy import load_policy as _load

    return _load(name_or_path, **options)


__all__ = ["Completion", "Countdown", "Ledger", "Policy", "Result", "Verifier", "countdown", "load_policy"]
