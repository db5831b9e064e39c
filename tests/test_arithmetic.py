"""Multi-step arithmetic: the generator, the solver's step orders, the parser and the oracles.

The value is cross-checked against Python's own ``eval`` (here only), the valid step orders
against an independent enumeration, and the parser-facing functions are fed arbitrary text:
they must never raise.
"""

from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsc.core import Problem
from tsc.lm.tokenizer import CHARS
from tsc.tasks import arithmetic
from tsc.tasks.arithmetic import MAX_VALUE, Arithmetic, Parsed, Step, parse, split_steps, validate

EXAMPLE = Arithmetic("7*8-13+6*4")


def numbers_and_operators(question):
    tokens = re.findall(r"\d+|[-+*]", question)
    return [int(t) for t in tokens[::2]], tokens[1::2]


def every_intermediate_in_range(question):
    """Independently of tsc: every product of consecutive factors and every running total."""
    numbers, operators = numbers_and_operators(question)
    terms, current = [], [numbers[0]]
    for op, n in zip(operators, numbers[1:]):
        if op == "*":
            current.append(n)
        else:
            terms.append(current)
            current = [n]
    terms.append(current)
    for factors in terms:
        for i, j in itertools.combinations(range(len(factors) + 1), 2):
            product = 1
            for f in factors[i:j]:
                product *= f
            if product > MAX_VALUE:
                return False
    # running totals of the additive chain, left to right
    additive = [op for op in operators if op != "*"]
    total = eval("*".join(map(str, terms[0])))
    for op, factors in zip(additive, terms[1:]):
        term = eval("*".join(map(str, factors)))
        total = total + term if op == "+" else total - term
        if not 0 <= total <= MAX_VALUE:
            return False
    return True


# --- the generator ----------------------------------------------------------------------

ops_strategy = st.sets(st.integers(1, 5), min_size=1).map(lambda s: tuple(sorted(s)))


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**40),
    count=st.integers(0, 6),
    ops=ops_strategy,
    digits=st.integers(1, 3),
    split=st.sampled_from(["test", "train", "any"]),
)
def test_generate_respects_the_dials_the_limits_and_the_split(seed, count, ops, digits, split):
    problems = arithmetic.generate(count, seed=seed, ops=ops, digits=digits, split=split)
    assert len(problems) == count
    assert problems == arithmetic.generate(count, seed=seed, ops=ops, digits=digits, split=split)
    for problem in problems:
        numbers, operators = numbers_and_operators(problem.question)
        assert len(operators) in ops
        assert all(1 <= n < 10**digits for n in numbers)
        assert set(operators) <= set("+-*")
        assert problem.value == eval(problem.question)  # eval only here, on generated questions
        assert 0 <= problem.value <= MAX_VALUE
        assert every_intermediate_in_range(problem.question)
        if split != "any":
            assert arithmetic.split_of(problem.question) == split


def test_generate_is_reproducible_and_varied():
    a = arithmetic.generate(20, seed=1, split="train")
    assert a == arithmetic.generate(20, seed=1, split="train")
    assert a != arithmetic.generate(20, seed=2, split="train")
    assert len({p.question for p in a}) > 15
    assert {len(numbers_and_operators(p.question)[1]) for p in a} == set(arithmetic.OPS)
    assert {op for p in a for op in numbers_and_operators(p.question)[1]} == set("+-*")


def test_split_holds_out_about_a_tenth_and_train_and_test_are_disjoint():
    test = arithmetic.generate(30, seed=0, split="test")
    train = arithmetic.generate(200, seed=0, split="train")
    assert not {p.question for p in test} & {p.question for p in train}
    drawn = arithmetic.generate(1000, seed=0, split="any")
    share = sum(arithmetic.split_of(p.question) == "test" for p in drawn) / len(drawn)
    assert 0.06 < share < 0.14
    assert arithmetic.split_of("7*8 - 13") == arithmetic.split_of("7*8-13")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"ops": ()}, "ops must be"),
        ({"ops": (0,)}, "ops must be"),
        ({"ops": (2, 9)}, "ops must be"),
        ({"ops": ("2",)}, "ops must be"),
        ({"digits": 0}, "digits must be"),
        ({"digits": 5}, "digits must be"),
        ({"digits": 1.5}, "digits must be"),
        ({"split": "dev"}, "split must be"),
        ({"count": -1}, "count must be"),
    ],
)
def test_generate_rejects_a_bad_dial(kwargs, match):
    kwargs = {"count": 3, "seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        arithmetic.generate(kwargs.pop("count"), **kwargs)


def test_generate_accepts_a_single_operation_count():
    problems = arithmetic.generate(5, seed=0, ops=3, split="any")
    assert all(len(numbers_and_operators(p.question)[1]) == 3 for p in problems)


# --- solutions, orders and the oracles --------------------------------------------------


def test_the_worked_example():
    assert EXAMPLE.value == 67
    assert EXAMPLE.prompt() == "7*8-13+6*4:"
    assert EXAMPLE.solution_text(EXAMPLE.solve()) == "7*8=56,6*4=24,56-13=43,43+24=67."
    assert EXAMPLE.direct_text() == "67."
    assert EXAMPLE.to_json() == {"question": "7*8-13+6*4"}
    assert EXAMPLE.task == "arithmetic"
    assert isinstance(EXAMPLE, Problem)


def valid_orders(question):
    """Every valid chain of steps, enumerated independently of tsc on token lists."""
    numbers, operators = numbers_and_operators(question)

    def walk(nums, ops, steps):
        if not ops:
            yield ",".join(steps) + "."
            return
        for i, op in enumerate(ops):
            leftmost_additive = op != "*" and i == 0 and (len(ops) == 1 or ops[1] != "*")
            if op == "*" or leftmost_additive:
                a, b = nums[i], nums[i + 1]
                c = a * b if op == "*" else a + b if op == "+" else a - b
                yield from walk(nums[:i] + [c] + nums[i + 2 :], ops[:i] + ops[i + 1 :], steps + [f"{a}{op}{b}={c}"])

    return set(walk(numbers, operators, []))


@pytest.mark.parametrize("question", ["7*8-13+6*4", "2*3+4*5", "2*3*4-5", "9-2-3", "2*3+2*3", "1+2*3*4-5*3+7"])
def test_random_orders_cover_exactly_the_valid_orders(question):
    problem = Arithmetic(question)
    expected = valid_orders(question)
    sampled = {problem.solution_text(problem.solve(rng=random.Random(s))) for s in range(300)}
    assert sampled == expected
    assert problem.solution_text(problem.solve()) in expected
    for text in expected:
        assert problem.check(text)
        assert problem.step_labels(text) == [1.0] * len(problem.steps(text))
        assert problem.answer_key(text) == str(problem.value)


@settings(max_examples=40)
@given(seed=st.integers(0, 2**40))
def test_every_generated_solution_checks_and_every_step_is_right(seed):
    [problem] = arithmetic.generate(1, seed=seed, ops=(1, 2, 3, 4, 5), split="any")
    canonical = problem.solution_text(problem.solve())
    other = problem.solution_text(problem.solve(rng=random.Random(seed)))
    for text in (canonical, other):
        assert problem.check(text)
        assert len(problem.steps(text)) == len(numbers_and_operators(problem.question)[1])
        assert problem.step_labels(text) == [1.0] * len(problem.steps(text))
        assert set(problem.prompt() + text) <= set(CHARS)
    assert problem.answer_key(canonical) == problem.answer_key(other) == str(problem.value)
    assert problem.check(problem.direct_text())
    assert problem.answer_key(problem.direct_text()) == str(problem.value)
    assert problem.step_labels(problem.direct_text()) == [1.0]


@settings(max_examples=40)
@given(seed=st.integers(0, 2**40), data=st.data())
def test_a_corrupted_step_is_caught_from_that_step_on(seed, data):
    [problem] = arithmetic.generate(1, seed=seed, ops=(2, 3, 4), split="any")
    steps = problem.solve(rng=random.Random(seed))
    k = data.draw(st.integers(0, len(steps) - 1))
    wrong = Step(steps[k].left, steps[k].op, steps[k].right, steps[k].result + data.draw(st.integers(1, 50)))
    text = problem.solution_text(steps[:k] + [wrong] + steps[k + 1 :])
    assert problem.step_labels(text) == [1.0] * k + [0.0] * (len(steps) - k)
    # only the final answer is graded: a wrong middle step with the right last line still counts
    assert problem.check(text) == (k < len(steps) - 1)
    assert problem.answer_key(text) == str(wrong.result if k == len(steps) - 1 else problem.value)


def test_a_wrong_result_carried_forward_changes_the_answer():
    text = "7*8=57,6*4=24,57-13=44,44+24=68."
    assert not EXAMPLE.check(text)
    assert EXAMPLE.answer_key(text) == "68"
    assert EXAMPLE.step_labels(text) == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "text, labels",
    [
        ("8*7=56,4*6=24,56-13=43,24+43=67.", [1.0, 1.0, 1.0, 1.0]),  # + and * may be written either way
        ("7*8=56,6*4=24,13-56=43,43+24=67.", [1.0, 1.0, 0.0, 0.0]),  # - may not
        ("56-13=43.", [0.0]),  # 56 is not there yet
        ("7*8=56,56-13=43,6*4=24,43+24=67.", [1.0, 1.0, 1.0, 1.0]),  # 56-13 may come before 6*4
        ("6*4=24,56-13=43.", [1.0, 0.0]),  # but not before 7*8
        ("13+6=19,7*8=56.", [0.0, 0.0]),  # precedence: 6 belongs to 6*4
        ("7*8=56.", [0.0]),  # stopping early is a bad step
        ("7*8=56,", [1.0]),  # a prefix that goes on is fine
        ("7*8=56,6*4", [1.0, 0.0]),  # an unfinished step is not (yet) right
        ("7*8=56,6*4=24,56-13=43,43+24=67,67+0=67.", [1.0, 1.0, 1.0, 1.0, 0.0]),  # nothing left to do
        ("7*8=56,6*4=24,56-13=43,43+24=67", [1.0, 1.0, 1.0, 1.0]),  # the final '.' is optional
        ("67.", [1.0]),
        ("66.", [0.0]),
        ("67,", [0.0]),
        ("7*8=56,67.", [1.0, 0.0]),
        ("banana.", [0.0]),
        ("", []),
    ],
)
def test_step_labels_examples(text, labels):
    assert EXAMPLE.step_labels(text) == labels
    assert len(labels) == len(EXAMPLE.steps(text))


def test_step_labels_follow_either_copy_of_a_repeated_multiplication():
    problem = Arithmetic("2*3-2*3+1")
    assert problem.step_labels("2*3=6,2*3=6,6-6=0,0+1=1.") == [1.0] * 4
    assert problem.check("2*3=6,2*3=6,6-6=0,0+1=1.")


def test_direct_answers_and_lucky_answers():
    assert EXAMPLE.check("67.") and EXAMPLE.check(" 67 .") and EXAMPLE.check("067.")
    assert not EXAMPLE.check("66.")
    assert EXAMPLE.answer_key("067.") == "67"
    lucky = "7*8=50,6*4=30,50-13=37,37+24=67."  # wrong steps, right number
    assert EXAMPLE.check(lucky)
    assert EXAMPLE.step_labels(lucky) == [0.0] * 4


# --- the parser --------------------------------------------------------------------------

PARSED = [
    ("7*8=56,6*4=24,56-13=43,43+24=67.", ((7, "*", 8, 56), (6, "*", 4, 24), (56, "-", 13, 43), (43, "+", 24, 67)), 67),
    ("7 * 8 = 56 , 56 - 13 = 43.", ((7, "*", 8, 56), (56, "-", 13, 43)), 43),
    ("1+1=2.2*2=4.", ((1, "+", 1, 2),), 2),  # compact: what follows the '.' is ignored (prose would be read as free text)
    ("1+1=2", ((1, "+", 1, 2),), 2),
    ("67.", (), 67),
    (" 67", (), 67),
    ("thinking 1+1=3. 5.#67.", (), 67),  # only what follows the last '#'
    ("a#b#1+1=2.", ((1, "+", 1, 2),), 2),
]


@pytest.mark.parametrize("text, steps, answer", PARSED)
def test_parse_examples(text, steps, answer):
    assert parse(text) == Parsed(tuple(Step(*s) for s in steps), answer)


@pytest.mark.parametrize(
    "text",
    ["", ".", "banana", "1+1=2,,2+2=4.", "1+1=2 2+2=4.", "6/3=2.", "1+1=2,4.", "4,1+1=2.", "-3.", "1+1=-2.", "7*8=", "67#", "67.#"],
)
def test_parse_rejects_malformed(text):
    assert parse(text) is None
    assert not EXAMPLE.check(text)
    assert EXAMPLE.answer_key(text) is None


def test_hash_separates_thoughts_from_the_answer():
    assert EXAMPLE.check("7*8 is 56, minus 13 is 43. ok#67.")
    assert not EXAMPLE.check("67.#66.")
    text = "scratch, 1.#7*8=56,6*4=24,56-13=43,43+24=67.junk"
    assert EXAMPLE.check(text)
    pieces = EXAMPLE.steps(text)
    assert pieces == ["scratch, 1.#7*8=56,", "6*4=24,", "56-13=43,", "43+24=67."]
    assert EXAMPLE.step_labels(text) == [1.0] * 4
    assert EXAMPLE.steps("only thoughts#") == ["only thoughts#"]
    assert EXAMPLE.step_labels("only thoughts#") == [0.0]


step_like = st.builds(
    lambda parts, sep, end: sep.join(parts) + end,
    st.lists(
        st.builds(
            lambda a, op, b, c, s: f"{a}{s}{op}{s}{b}{s}={s}{c}",
            st.integers(0, 99),
            st.sampled_from("+-*/x"),
            st.integers(0, 99),
            st.integers(-5, 9999),
            st.sampled_from(["", " "]),
        ),
        min_size=1,
        max_size=5,
    ),
    st.sampled_from([",", ", ", ";", ",,"]),
    st.sampled_from([".", "", ".junk", ",", "#67.", "\n"]),
)
anything = st.one_of(
    st.text(),
    step_like,
    st.text(alphabet="0123456789+-*=,.# :").map(lambda t: t[:40]),
    st.binary().map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=200)
@given(text=anything)
def test_text_functions_never_raise(text):
    parsed = parse(text)
    assert parsed is None or (isinstance(parsed, Parsed) and all(isinstance(s, Step) for s in parsed.steps))
    assert isinstance(EXAMPLE.check(text), bool)
    key = EXAMPLE.answer_key(text)
    assert (key is None) == (parsed is None)
    pieces = EXAMPLE.steps(text)
    assert pieces == split_steps(text)
    labels = EXAMPLE.step_labels(text)
    assert len(labels) == len(pieces) and set(labels) <= {0.0, 1.0}
    assert labels == sorted(labels, reverse=True)  # once wrong, wrong from there on


@pytest.mark.parametrize("value", [None, 42, b"67.", ["67."]])
def test_text_functions_tolerate_non_strings(value):
    assert parse(value) is None
    assert EXAMPLE.check(value) is False
    assert EXAMPLE.answer_key(value) is None
    assert EXAMPLE.steps(value) == []
    assert EXAMPLE.step_labels(value) == []


@given(text=anything)
def test_split_steps_round_trips(text):
    pieces = split_steps(text)
    head, tail = (text[: text.rindex("#") + 1], text[text.rindex("#") + 1 :]) if "#" in text else ("", text)
    expected = head + (tail[: tail.index(".") + 1] if "." in tail else tail)
    assert "".join(pieces) == expected
    assert all(pieces)
    assert all(p.endswith(",") for p in pieces[:-1])


@given(
    steps=st.lists(
        st.builds(Step, st.integers(0, 10**6), st.sampled_from("+-*"), st.integers(0, 10**6), st.integers(0, 10**6)), min_size=1, max_size=6
    )
)
def test_parse_round_trips_written_steps(steps):
    assert parse(EXAMPLE.solution_text(steps)) == Parsed(tuple(steps), steps[-1].result)


# --- reading a reader's question ---------------------------------------------------------


def test_validate_normalises_a_readers_spelling():
    assert validate("7*8 - 13") == Arithmetic("7*8-13")
    assert validate("  7 * 8-13 + 6*4 ") == EXAMPLE
    assert validate("007*8") == Arithmetic("7*8")
    assert validate("0*9999") == Arithmetic("0*9999")
    assert validate("7 * 8") == Arithmetic("7*8")
    assert validate("42").value == 42 and validate("42").solve() == []


@pytest.mark.parametrize(
    "question, match",
    [
        (42, "must be a string"),
        (None, "must be a string"),
        ("", "empty"),
        ("   ", "empty"),
        ("(7+8)*2", "only digits"),
        ("8/2", "only digits"),
        ("7x8", "only digits"),
        ("\u0661+\u0662", "only digits"),
        ("12 34+1", "space between two digits"),
        ("-3+4", "starts with an operator"),
        ("+3", "starts with an operator"),
        ("3+4*", "ends with an operator"),
        ("3+*4", "two operators in a row"),
        ("3*-4", "two operators in a row"),
        ("+".join(["1"] * 10), "9 operations; at most 8"),
        ("12345+1", "more than 4 digits"),
        ("1" * 5000, "more than 4 digits"),
        ("100*100", "beyond 9999"),
        ("9999+1", "beyond 9999"),
        ("0*100*100", "beyond 9999"),  # 100*100 is a valid first step
        ("3-5", "goes negative"),
        ("3-5+9", "goes negative"),
        ("10-2*6+5", "goes negative"),
    ],
)
def test_validate_says_what_is_wrong(question, match):
    with pytest.raises(ValueError, match=re.escape(match)) as info:
        validate(question)
    message = str(info.value)
    assert "\n" not in message and len(message) < 300


def test_the_constructor_wants_the_canonical_form():
    with pytest.raises(ValueError, match="write the question as '7\\*8'"):
        Arithmetic("7 * 8")
    with pytest.raises(ValueError, match="write the question as '7\\*8'"):
        Arithmetic("07*8")
    with pytest.raises(ValueError, match="goes negative"):
        Arithmetic("3-5")
    assert Arithmetic("9999").value == 9999
