"""Search traces (tsc.tasks.trace) and budget forcing (tsc.strategies.thinking)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from tsc.core import Completion
from tsc.strategies.thinking import budget_forcing
from tsc.tasks import countdown
from tsc.tasks.countdown import Countdown, apply
from tsc.tasks.trace import (
    BACKTRACK,
    THINK_END,
    TRACE_CHARS,
    WAIT,
    check_thinking,
    dfs_trace,
    split_trace,
    trace_moves,
)

P = Countdown((5, 6, 11, 5), 60)
P_TRACE = (  # the module docstring's second example, whole
    "6+5=11 11 5,11+11=22 5,22+5=27>60|22-5=17>60|22*5=110>60||11 11 5,11-11=0 5,5+0=5>60|5*0=0>60||11 11 5,11*11=1"
    "21 5,121+5=126>60|121-5=116>60|121*5=605>60||11 11 5,11/11=1 5,5+1=6>60|5-1=4>60|5*1=5>60||11 11 5,11+5=16 11,"
    "16+11=27>60|16-11=5>60|16*11=176>60||11 11 5,11-5=6 11,11+6=17>60|11-6=5>60|11*6=66>60||11 11 5,11*5=55 11,55+"
    "11=66>60|55-11=44>60|55*11=605>60|55/11=5>60|||5 6 11 5,6-5=1 11 5,11+1=12 5,12+5=17>60|12-5=7>60|12*5=60>60#6"
    "-5=1,11+1=12,12*5=60."
)


@pytest.fixture(scope="module")
def problems() -> list[Countdown]:
    """200 random solvable problems of 3 to 5 numbers (both splits)."""
    return countdown.generate(200, seed=7, sizes=(3, 4, 5), split="any")


# --- the traces ------------------------------------------------------------------------------


def test_the_documented_example():
    assert dfs_trace(P) == P_TRACE
    thinking, answer = split_trace(P_TRACE)
    assert answer == "6-5=1,11+1=12,12*5=60."
    assert P.check(answer) and P.check(P_TRACE) and P.check(P.prompt() + P_TRACE)
    assert check_thinking(P, thinking) is None


def test_the_first_move_can_be_right():
    problem = Countdown((13, 4, 7, 2), 48)
    assert dfs_trace(problem) == "13+4=17 7 2,17+7=24 2,24+2=26>48|24-2=22>48|24*2=48>48#13+4=17,17+7=24,24*2=48."


def test_trace_chars_extend_the_tokenizer_chars():
    from tsc.lm.tokenizer import CHARS, build_char_tokenizer

    assert TRACE_CHARS[: len(CHARS)] == CHARS
    assert 1 <= len(TRACE_CHARS) - len(CHARS) <= 3 and len(set(TRACE_CHARS)) == len(TRACE_CHARS)
    assert {THINK_END, BACKTRACK, WAIT} <= set(TRACE_CHARS) - set(CHARS)
    tokenizer = build_char_tokenizer(TRACE_CHARS)
    text = P.prompt() + P_TRACE
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text) and tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_every_trace_parses_and_its_answer_checks(problems):
    for problem in problems:
        trace = dfs_trace(problem)
        thinking, answer = split_trace(trace)
        assert answer is not None and trace.count(THINK_END) == 1, trace
        assert "." not in thinking and set(trace) <= set(TRACE_CHARS), trace
        assert trace.endswith(".") and answer.count(".") == 1
        # the search is complete, so it finds a solution of every solvable problem
        assert problem.check(answer), (problem, trace)
        assert problem.check(trace) and problem.check(problem.prompt() + trace)
        assert check_thinking(problem, thinking) is None, (problem, check_thinking(problem, thinking))


def test_every_move_obeys_the_rules_and_the_fixed_order(problems):
    """Replayed independently of `check_thinking`: a stack of [state, children tried so far]
    follows the marks; every move is legal on its state and is the next in `trace_moves`
    order, and a state is abandoned only when it is a leaf or has no moves left."""
    for problem in problems:
        thinking, _ = split_trace(dfs_trace(problem))
        stack = [[tuple(problem.numbers), 0]]
        for piece in filter(None, re.split(r"([,|])", thinking)):
            if piece == BACKTRACK:
                state, tried = stack.pop()
                assert len(state) == 1 or tried == len(trace_moves(state)), (problem, state)
            elif "=" in piece:
                match = re.fullmatch(r"(\d+)([-+*/])(\d+)=(\d+(?: \d+)*)(?:>(\d+))?", piece)
                assert match, piece
                assert (match[5] is not None) == (len(match[4].split()) == 1), "the target beside every last number, only there"
                assert match[5] is None or int(match[5]) == problem.target
                left, op, right = int(match[1]), match[2], int(match[3])
                after = tuple(int(x) for x in match[4].split())
                state = stack[-1][0]
                pool = list(state)
                pool.remove(left)  # raises if the operand is not on the table
                pool.remove(right)
                assert apply(left, op, right) == after[0], piece
                assert after == (after[0], *pool), "the numbers left: result first, then the others in order"
                step, child = trace_moves(state)[stack[-1][1]]
                assert (str(step), child) == (f"{left}{op}{right}={after[0]}", after), (problem, state, piece)
                stack[-1][1] += 1
                stack.append([after, 0])
            elif piece != ",":
                assert tuple(int(x) for x in piece.split()) == stack[-1][0], "a restated state is where the search is"


def test_a_trace_restates_the_state_only_after_two_or_more_backtracks(problems):
    for problem in problems[:80]:
        thinking, _ = split_trace(dfs_trace(problem))
        for match in re.finditer(r"(\|+)(\d+(?: \d+)*),", thinking):
            assert len(match[1]) >= 2, match[0]
        assert not re.search(r"\|\|+\d+[-+*/]", thinking), "a move straight after several '|'"


def test_trace_moves_skip_repeated_pairs_and_results():
    moves = [str(step) for step, _ in trace_moves((4, 4, 7))]
    assert moves == ["4+4=8", "4-4=0", "4*4=16", "4/4=1", "7+4=11", "7-4=3", "7*4=28"]
    assert [str(step) for step, _ in trace_moves((6, 1))] == ["6+1=7", "6-1=5", "6*1=6"]  # 6/1 = 6*1
    assert [str(step) for step, _ in trace_moves((2, 2))] == ["2+2=4", "2-2=0", "2/2=1"]  # 2*2 = 2+2
    assert [child for _, child in trace_moves((13, 4, 7))][:2] == [(17, 7), (9, 7)]
    assert all(step.result <= 20 for step, _ in trace_moves((13, 4, 7), max_result=20))


def test_unsolvable_and_small_problems():
    trace = dfs_trace(Countdown((13, 4, 7, 2), 24))  # no solution in whole numbers
    thinking, answer = split_trace(trace)
    assert answer == "." and thinking.endswith("|||") and check_thinking(Countdown((13, 4, 7, 2), 24), thinking) is None
    assert not Countdown((13, 4, 7, 2), 24).check(trace)
    assert dfs_trace(Countdown((3, 4), 7)) == "4+3=7>7#4+3=7."  # two numbers: the last moves, written out
    assert dfs_trace(Countdown((3, 4), 8)) == "4+3=7>8|4-3=1>8|4*3=12>8|#."
    with pytest.raises(ValueError, match="at least 2"):
        dfs_trace(Countdown((5,), 5))


def test_limit_and_rng():
    problem = Countdown((13, 4, 7, 2), 24)
    short = dfs_trace(problem, limit=100)
    thinking, answer = split_trace(short)
    assert answer == "." and 100 < len(thinking) < 130 and check_thinking(problem, thinking) is None
    with pytest.raises(ValueError, match="limit"):
        dfs_trace(problem, limit=0)
    traces = {dfs_trace(P, rng=random.Random(seed)) for seed in range(8)}
    assert len(traces) > 1
    for trace in traces:
        thinking, answer = split_trace(trace)
        assert P.check(answer) and check_thinking(P, thinking) is None


def test_split_trace():
    assert split_trace("1+2=3 4#4-3=1.") == ("1+2=3 4", "4-3=1.")
    assert split_trace("1+2=3 4,3") == ("1+2=3 4,3", None)
    assert split_trace("a#b#c.") == ("a#b", "c.")  # the last "#", as countdown.parse reads it
    assert split_trace(None) == ("", None)


@pytest.mark.parametrize(
    "thinking, error",
    [
        ("6+5=12 11 5", "is 11, not 12"),
        ("6+7=13 11 5", "7 is not among"),
        ("5-6=1 11 5", "breaks the rules"),
        ("6+5=11 11", "numbers left are 11 11 5"),
        ("6+5=11 11 5||", "backtracks above"),
        ("6+5=11 11 5,11+11=22 5||5 6 11 4,", "restated"),
        ("6+5=11 11 5,|", "'|' not after"),
        ("6+5=11 11 5,,11+11=22 5", "',' not after"),
        ("6+5=11 11 5 11+11=22 5", "cannot read"),
        ("6+5=11 11 5,11+11=22 5.", "may not"),
        ("6+5=11 11 5,", "ends with ','"),
        ("6+5=11 11 5,11+11=" + "9" * 5000, "cannot read"),
    ],
)
def test_check_thinking_finds_broken_rules(thinking, error):
    assert error in (check_thinking(P, thinking) or "")


def test_check_thinking_cut_ignores_the_unfinished_last_piece():
    assert check_thinking(P, "6+5=11 11 5,11+11=2") is not None
    assert check_thinking(P, "6+5=11 11 5,11+11=2", cut=True) is None
    assert check_thinking(P, "6+5=11 11 5,", cut=True) is None
    assert check_thinking(P, "") is None and check_thinking(P, 3) is not None


# --- budget forcing ---------------------------------------------------------------------------


class Writer:
    """A scripted character-level model: ``write(prompt)`` is all it would write after a
    prompt; ``sample`` cuts that at the first stop string (kept) or at ``max_new_tokens``
    characters. Tokens are characters; a prompt costs ``len(prompt) + 1`` (a start token).
    Records every call."""

    def __init__(self, write: Callable[[str], str], *, max_len: int | None = None):
        self.write = write
        self.calls: list[dict] = []
        if max_len is not None:
            self.max_len = max_len
        self.name, self.prompt_format = "writer", "compact"

    def format(self, problem) -> str:
        return problem.prompt()

    def encode(self, prompts: list[str]) -> list[list[int]]:  # `tsc.core.HasContext`: one token per character, plus a start token
        return [[0] * (len(p) + 1) for p in prompts]

    def sample(self, prompts, *, n=1, temperature=1.0, top_p=1.0, max_new_tokens=64, seed=0, stop=(".",), ledger=None):
        rows, prompt_tokens, generated = [], 0, 0
        for prompt in prompts:
            text = self.write(prompt)
            ends = [text.find(s) + len(s) for s in stop if s in text]
            text = text[: min(ends)] if ends else text
            text = text[:max_new_tokens]
            self.calls.append({"prompt": prompt, "stop": stop, "max_new_tokens": max_new_tokens, "seed": seed, "text": text})
            rows.append([Completion(text, len(text), -1.0)] * n)
            prompt_tokens += len(prompt) + 1
            generated += n * len(text)
        if ledger is not None:
            ledger.charge_policy(prompt_tokens=prompt_tokens, generated_tokens=generated, flops=0, seconds=0.0, samples=len(prompts) * n)
        return rows


def imitator(problem: Countdown) -> Writer:
    """A model that writes `dfs_trace` exactly, from wherever its prompt has got to."""
    prompt, trace = problem.prompt(), dfs_trace(problem)

    def write(text: str) -> str:
        done = text[len(prompt) :]
        return trace[len(done) :] if trace.startswith(done) else ""

    return Writer(write)


def test_a_model_that_finishes_within_the_budget_is_not_forced():
    thinking, _ = split_trace(P_TRACE)
    budget = len(thinking) + 1  # exactly room for the thinking and its "#"
    model = imitator(P)
    result = budget_forcing(P, model, thinking_tokens=budget)
    assert result.answer == P_TRACE and result.correct
    assert result.trace == {"thinking_tokens": len(thinking), "forced": False, "waits": 0}
    assert result.candidates == (P_TRACE,) and result.chosen == 0 and result.strategy == "budget_forcing"
    thinking_call, answer_call = model.calls
    assert thinking_call["stop"] == (THINK_END,) and thinking_call["max_new_tokens"] == budget
    assert answer_call["stop"] == (".",) and answer_call["prompt"] == P.prompt() + thinking + THINK_END


def test_the_thinking_is_cut_at_the_budget_and_the_answer_forced():
    thinking, _ = split_trace(P_TRACE)
    budget = len(thinking)  # one token short: the "#" does not fit
    model = imitator(P)
    result = budget_forcing(P, model, thinking_tokens=budget)
    assert result.trace == {"thinking_tokens": budget, "forced": True, "waits": 0}
    assert result.answer == P_TRACE  # forced, the imitator still answers right

    model = imitator(P)
    result = budget_forcing(P, model, thinking_tokens=30, max_new_tokens=20)
    assert result.trace == {"thinking_tokens": 30, "forced": True, "waits": 0}
    assert model.calls[0]["text"] == P_TRACE[:30]
    assert model.calls[1]["prompt"] == P.prompt() + P_TRACE[:30] + THINK_END and model.calls[1]["max_new_tokens"] == 20
    assert result.answer == P_TRACE[:30] + THINK_END  # the imitator is lost: it answers nothing
    assert not result.correct and result.correct == P.check(result.answer)


def test_a_model_that_stops_early_is_forced_too():
    model = Writer(lambda prompt: "" if prompt.endswith(THINK_END) else "6+5=11 11 5")  # no "#": its end token
    result = budget_forcing(P, model, thinking_tokens=100)
    assert result.trace == {"thinking_tokens": 11, "forced": True, "waits": 0}
    assert result.answer == "6+5=11 11 5" + THINK_END


def test_an_early_end_is_replaced_by_wait_and_sampling_continues():
    answer = "6-5=1,11+1=12,12*5=60."
    leaf = "6-5=1 11 5"  # 10 tokens, then "#"
    model = Writer(lambda prompt: answer if prompt.endswith(THINK_END) else leaf + THINK_END)
    result = budget_forcing(P, model, thinking_tokens=64, min_thinking_tokens=20, seed=5)
    # round 0 ends after 10 tokens (< 20): "#" becomes a wait (11); round 1 brings it to 21
    thinking = leaf + WAIT + leaf
    assert result.answer == thinking + THINK_END + answer and result.correct
    assert result.trace == {"thinking_tokens": 21, "forced": False, "waits": 1}
    prompts = [c["prompt"] for c in model.calls]
    assert prompts == [P.prompt(), P.prompt() + leaf + WAIT, P.prompt() + thinking + THINK_END]
    assert [c["seed"] for c in model.calls] == [5, 6, 5]
    assert [c["max_new_tokens"] for c in model.calls] == [64, 64 - 11, 64]


def test_min_equal_to_the_budget_thinks_until_the_budget():
    model = Writer(lambda prompt: "6-5=1,11+1=12,12*5=60." if prompt.endswith(THINK_END) else "6-5=1 11 5#")
    result = budget_forcing(P, model, thinking_tokens=30, min_thinking_tokens=30)
    # 10 + wait, 10 + wait = 22, then 8 tokens left: the model's "6-5=1 11" is cut
    assert result.trace == {"thinking_tokens": 30, "forced": True, "waits": 2}
    assert result.answer.startswith("6-5=1 11 5|6-5=1 11 5|6-5=1 11#")


def test_the_ledger_counts_thinking_and_answer_tokens():
    answer = "6-5=1,11+1=12,12*5=60."
    model = Writer(lambda prompt: answer if prompt.endswith(THINK_END) else "6-5=1 11 5#")
    result = budget_forcing(P, model, thinking_tokens=64, min_thinking_tokens=25)
    # three rounds of 11 tokens ("#" included, twice dropped for a wait), then the answer
    assert result.trace == {"thinking_tokens": 32, "forced": False, "waits": 2}
    assert result.ledger.generated_tokens == 3 * 11 + len(answer)
    assert result.ledger.prompt_tokens == sum(len(c["prompt"]) + 1 for c in model.calls)
    assert result.ledger.calls == 4 and result.ledger.samples == 4
    # the thinking tokens are what was generated, less the dropped "#"s, plus the waits
    assert result.trace["thinking_tokens"] == 3 * 11 - 3 + 2


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"thinking_tokens": 0}, "thinking_tokens"),
        ({"thinking_tokens": -5}, "thinking_tokens"),
        ({"thinking_tokens": 1.5}, "thinking_tokens"),
        ({"thinking_tokens": True}, "thinking_tokens"),
        ({"thinking_tokens": "64"}, "thinking_tokens"),
        ({"thinking_tokens": 64, "min_thinking_tokens": 65}, "min_thinking_tokens"),
        ({"thinking_tokens": 64, "min_thinking_tokens": -1}, "min_thinking_tokens"),
        ({"thinking_tokens": 64, "min_thinking_tokens": None}, "min_thinking_tokens"),
        ({"thinking_tokens": 64, "temperature": -1.0}, "temperature"),
        ({"thinking_tokens": 64, "max_new_tokens": 0}, "max_new_tokens"),
        ({"thinking_tokens": 64, "seed": -1}, "seed"),
    ],
)
def test_knob_errors(knobs, message):
    model = imitator(P)
    with pytest.raises(ValueError, match=message):
        budget_forcing(P, model, **knobs)
    assert model.calls == []


def test_knobs_are_keyword_only_and_the_budget_required():
    with pytest.raises(TypeError):
        budget_forcing(P, imitator(P), 64)
    with pytest.raises(TypeError):
        budget_forcing(P, imitator(P))


def test_a_budget_beyond_the_context_is_a_one_line_error():
    prompt_tokens = len(P.prompt()) + 1
    fits = prompt_tokens + 100 + 1 + 30
    model = Writer(imitator(P).write, max_len=fits)
    budget_forcing(P, model, thinking_tokens=100, max_new_tokens=30)  # exactly fits
    model = Writer(imitator(P).write, max_len=fits - 1)
    with pytest.raises(ValueError, match="context") as error:
        budget_forcing(P, model, thinking_tokens=100, max_new_tokens=30)
    assert "\n" not in str(error.value) and str(fits) in str(error.value) and "lower thinking_tokens" in str(error.value)
    assert model.calls == []


def test_a_bad_problem_is_refused():
    with pytest.raises(ValueError, match="problem"):
        budget_forcing({"numbers": [1, 2], "target": 3}, imitator(P), thinking_tokens=64)


def test_more_thinking_solves_more_for_an_imitator(problems):
    """With a model that writes the traces exactly, the share solved grows with the budget
    to all problems (the upper bound `benchmarks/trace_lengths.py` measures)."""
    subset = [p for p in problems if len(p.numbers) <= 4][:40]
    solved = {}
    for budget in (16, 64, 256, 20_000):
        solved[budget] = sum(budget_forcing(p, imitator(p), thinking_tokens=budget).correct for p in subset)
    assert solved[16] <= solved[64] <= solved[256] <= solved[20_000] == len(subset)
    assert solved[16] < solved[20_000]


def test_budget_forcing_on_a_real_policy_over_the_trace_characters():
    """The bundled sampler: stop at "#", the context check through its tokenizer, the ledger."""
    import torch

    from tsc.lm.model import ModelShape, build_model
    from tsc.lm.policy import LocalPolicy
    from tsc.lm.tokenizer import build_char_tokenizer

    tokenizer = build_char_tokenizer(TRACE_CHARS)
    model = build_model(ModelShape(d_model=32, n_layer=1, n_head=2, d_ff=64, max_len=128), tokenizer, seed=0)
    with torch.no_grad():  # well-separated logits, as tests/conftest.py's tiny policy
        generator = torch.Generator().manual_seed(0)
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0.0, 0.3, generator=generator)
    policy = LocalPolicy(model, tokenizer, name="tiny-trace")
    for seed, minimum in ((0, 0), (1, 40), (2, 20)):
        result = budget_forcing(P, policy, thinking_tokens=40, min_thinking_tokens=minimum, temperature=1.0, seed=seed, max_new_tokens=20)
        thinking = result.answer.split(THINK_END)[0]  # (the untrained model may write more "#" in its answer)
        assert len(thinking) <= result.trace["thinking_tokens"] <= 40
        assert result.trace["forced"] or result.trace["thinking_tokens"] >= minimum
        assert result.ledger.generated_tokens >= result.trace["thinking_tokens"] - result.trace["waits"]
        assert result.ledger.calls >= 2 and result.correct == P.check(result.answer)
    with pytest.raises(ValueError, match="context of 128"):
        budget_forcing(P, policy, thinking_tokens=100, max_new_tokens=20)
