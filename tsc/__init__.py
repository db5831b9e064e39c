"""tsc: test-time compute scaling on a tiny language model, the package behind the book.

The pieces a chapter needs::

    import tsc
    policy = tsc.load_policy()                      # the bundled Countdown model
    problems = tsc.countdown.generate(100, seed=0)  # held-out problems, uniform over solvable
    result = tsc.strategies.majority_vote(problems[0], policy, n=16)
    result.correct, result.ledger.flops
    results = tsc.strategies.solve_many(tsc.strategies.greedy, problems, policy)  # batched, one seed per problem

    tsc.load_policy("Qwen/Qwen2.5-0.5B-Instruct")   # a Hugging Face model (chat prompts, its device)
    tsc.load_policy("http://127.0.0.1:8000/v1")     # a model behind vLLM, SGLang or `transformers serve`
"""

from tsc import strategies, tasks, verifiers
from tsc.compute import Ledger
from tsc.core import Completion, Policy, Problem, Result, StepVerifier, Verifier
from tsc.tasks import Arithmetic, Countdown, arithmetic, countdown


def load_policy(name_or_path=None, **options):
    """A `Policy` for a bundled model (default: the Countdown model), a local folder, a
    Hugging Face id or a server's URL; ``device=``, ``dtype=``, ``prompt_format=`` and a
    server's options as in `tsc.lm.policy.load_policy`."""
    from tsc.lm.policy import load_policy as _load

    return _load(name_or_path, **options)


__version__ = "0.2.0"

__all__ = [
    "Arithmetic",
    "Completion",
    "Countdown",
    "Ledger",
    "Policy",
    "Problem",
    "Result",
    "StepVerifier",
    "Verifier",
    "arithmetic",
    "countdown",
    "load_policy",
    "strategies",
    "tasks",
    "verifiers",
]
