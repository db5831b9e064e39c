"""Sequential thinking with a budget: s1's budget forcing on the trace model.

s1 (Muennighoff et al. 2025, "s1: Simple test-time scaling") controls how long a reasoning
model thinks by editing its output at decode time. To cap the thinking, it stops the model
once the thinking has used the budget and appends the end-of-thinking delimiter (and "Final
Answer:"), so the model must answer from what it has. To extend it, it suppresses the
delimiter when the model writes it too early and appends "Wait" instead, which made their
model re-examine its reasoning and often correct it. Thinking longer this way raised
accuracy, and a plot of accuracy against thinking tokens became the test-time scaling curve.

Ours is the same mechanism on the trace model (`tsc.tasks.trace`), whose thinking is a
written depth-first search over Countdown: the end-of-thinking delimiter is ``#``
(`THINK_END`), and the "Wait" is the trace format's backtrack mark ``|`` (`WAIT`): written
where the model ended its thinking, it says "this is no solution, keep searching", which is
what the model writes itself after a dead end. So forcing more thinking makes the model drop
the solution it claimed and search on (useful only when its claim was wrong: it writes
``#`` where a result it has just written equals the target beside it), and cutting the
thinking short makes it answer from a half-finished search.
"""

from __future__ import annotations

from tsc.compute import Ledger
from tsc.core import HasContext, Policy, Problem, Result
from tsc.strategies.base import check_knobs, check_problem, is_int, make_result
from tsc.strategies.reuse import reuses_prefixes
from tsc.tasks.trace import THINK_END, WAIT

ANSWER_END = "."  # the answer ends at the full stop, as every Countdown completion does
THINKING_TOKENS = 512  # the command line's thinking budget when none is given


def check_budget(*, thinking_tokens=None, min_thinking_tokens=None, given: bool = False) -> None:
    """Raise a ValueError naming the knob that is out of range (None: not checked, unless ``given``)."""
    if (given or thinking_tokens is not None) and (not is_int(thinking_tokens) or thinking_tokens < 1):
        raise ValueError(f"thinking_tokens (the thinking budget) must be a positive integer, got {thinking_tokens!r}")
    most = thinking_tokens or THINKING_TOKENS
    if (given or min_thinking_tokens is not None) and (not is_int(min_thinking_tokens) or not 0 <= min_thinking_tokens <= most):
        raise ValueError(f"min_thinking_tokens must be an integer from 0 to thinking_tokens ({most}), got {min_thinking_tokens!r}")


def _check_context(policy, prompt: str, *, thinking_tokens: int, max_new_tokens: int) -> None:
    """A one-line ValueError when the prompt, the whole budget and the answer overflow the
    policy's context (``policy.max_len``, for policies that have one)."""
    if not isinstance(policy, HasContext) or not is_int(policy.max_len):
        return
    max_len = policy.max_len
    prompt_tokens = len(policy.encode([prompt])[0])
    total = prompt_tokens + thinking_tokens + len(THINK_END) + max_new_tokens
    if total > max_len:
        name = policy.name
        raise ValueError(
            f"the prompt ({prompt_tokens} tokens), thinking_tokens={thinking_tokens}, '{THINK_END}' and an answer of up to "
            f"max_new_tokens={max_new_tokens} make {total} tokens, more than {name}'s context of {max_len}: "
            "lower thinking_tokens or max_new_tokens"
        )


@reuses_prefixes
def budget_forcing(
    problem: Problem,
    policy: Policy,
    *,
    thinking_tokens: int,
    min_thinking_tokens: int = 0,
    temperature: float = 0.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Think for at most ``thinking_tokens`` tokens (at least ``min_thinking_tokens``), then answer.

    1. The thinking is sampled from ``policy.format(problem)`` with ``stop=("#",)``: the
       model may write at most ``thinking_tokens`` tokens before its answer, ``#``
       included.
    2. If it has not written ``#`` within them (or stopped without it), the thinking is cut
       there and ``#`` is appended: the answer is forced (``trace["forced"]``).
    3. If it writes ``#`` while its thinking holds fewer than ``min_thinking_tokens`` tokens,
       the ``#`` is dropped, the wait mark ``|`` appended (one token of the budget) and
       sampling continues from there (``trace["waits"]`` counts these), within the budget.
    4. The answer is sampled from the prompt, the thinking and ``#`` (``stop=(".",)``, at
       most ``max_new_tokens`` tokens).

    ``answer`` is the whole completion, ``thinking + "#" + answer`` (`Countdown.check` reads
    what follows the last ``#``), the only candidate. ``trace["thinking_tokens"]`` is the
    length of the thinking in tokens (``#`` not counted; waits counted). Every call is
    charged to the ledger: the tokens of the thinking and of the answer (a ``#`` the model
    wrote and we dropped included), and each call's prompt. Round ``k`` of thinking samples
    with seed ``seed + k``; the answer with ``seed``.
    """
    check_knobs(temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)
    check_budget(thinking_tokens=thinking_tokens, min_thinking_tokens=min_thinking_tokens, given=True)
    check_problem(problem, policy)
    prompt = policy.format(problem)
    _check_context(policy, prompt, thinking_tokens=thinking_tokens, max_new_tokens=max_new_tokens)
    ledger = Ledger()
    thinking, used, waits, forced = "", 0, 0, False
    for round_ in range(thinking_tokens + 1):  # each round adds at least one token: a wait, or what the model wrote
        left = thinking_tokens - used
        if left <= 0:
            forced = True  # the budget is spent (the last round ended on a wait)
            break
        [[completion]] = policy.sample(
            [prompt + thinking],
            n=1,
            temperature=temperature,
            seed=(seed + round_) % 2**63,
            max_new_tokens=left,
            stop=(THINK_END,),
            ledger=ledger,
        )
        text, spent = completion.text, completion.num_tokens
        end = text.find(THINK_END)
        if end < 0:  # cut at the budget, or the model stopped without "#": force the answer
            thinking += text
            used += spent
            forced = True
            break
        thinking += text[:end]
        used += max(0, spent - 1)  # the "#" is not thinking
        if used >= min_thinking_tokens:
            break
        thinking += WAIT  # too early: "not solved, keep searching"
        used += len(WAIT)
        waits += 1
    [[completion]] = policy.sample(
        [prompt + thinking + THINK_END],
        n=1,
        temperature=temperature,
        seed=seed,
        max_new_tokens=max_new_tokens,
        stop=(ANSWER_END,),
        ledger=ledger,
    )
    answer = thinking + THINK_END + completion.text
    trace = {"thinking_tokens": used, "forced": forced, "waits": waits}
    return make_result(problem, [answer], 0, [1.0], ledger, "budget_forcing", trace)
