"""Countdown: the generator, the exhaustive solver, the parser and the oracle.

The oracle is cross-checked against an independent brute force written here (it enumerates
step sequences as text and never calls tsc's solver), and the parser-facing functions are
fed arbitrary text: they must never raise.
"""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tsc.tasks import countdown
from tsc.tasks.countdown import Countdown, Step, parse, split_steps

# --- an independent brute force ---------------------------------------------------------


def brute_force_solutions(numbers, target):
    """Every legal solution of (numbers, target) as text, enumerated without tsc's solver."""

    def walk(pool, steps):
        if len(pool) == 1:
            if pool[0] == target:
                yield ",".join(steps) + "."
            return
        for i, j in itertools.permutations(range(len(pool)), 2):
            a, b = pool[i], pool[j]
            rest = [x for k, x in enumerate(pool) if k not in (i, j)]
            for op, value in (("+", a + b), ("-", a - b), ("*", a * b), ("/", a // b if b and a % b == 0 else -1)):
                if value >= 0:
                    yield from walk(rest + [value], steps + [f"{a}{op}{b}={value}"])

    yield from walk(list(numbers), [])


small_numbers = st.lists(st.integers(1, 13), min_size=2, max_size=3)
targets = st.integers(1, 100)


@given(numbers=small_numbers, target=targets)
def test_solvable_agrees_with_brute_force_and_every_legal_solution_checks(numbers, target):
    solutions = list(brute_force_solutions(numbers, target))
    problem = Countdown(tuple(numbers), target)
    assert countdown.is_solvable(numbers, target) == bool(solutions)
    for text in solutions:
        assert problem.check(text), text
        assert problem.answer_key(text) is not None
    if not solutions:
        assert problem.solve() is None
        assert problem.solve(rng=random.Random(0)) is None


def test_four_number_example_agrees_with_brute_force():
    for numbers, target in [((13, 4, 7, 2), 46), ((1, 1, 1, 1), 100), ((2, 3, 5, 7), 1), ((13, 13, 13, 13), 97)]:
        has_solution = next(brute_force_solutions(numbers, target), None) is not None
        assert countdown.is_solvable(numbers, target) == has_solution


# --- the generator ----------------------------------------------------------------------

sizes_strategy = st.sets(st.sampled_from([2, 3, 4]), min_size=1).map(lambda s: tuple(sorted(s)))


@settings(max_examples=30)
@given(
    seed=st.integers(0, 2**40),
    count=st.integers(0, 5),
    sizes=sizes_strategy,
    max_number=st.integers(6, 13),
    max_target=st.integers(20, 100),
    split=st.sampled_from(["test", "train", "any"]),
)
def test_generate_yields_solvable_problems_in_range(seed, count, sizes, max_number, max_target, split):
    problems = countdown.generate(count, seed=seed, sizes=sizes, max_number=max_number, max_target=max_target, split=split)
    assert len(problems) == count
    for p in problems:
        assert isinstance(p, Countdown)
        assert len(p.numbers) in sizes
        assert all(1 <= x <= max_number for x in p.numbers)
        assert 1 <= p.target <= max_target
        assert countdown.is_solvable(p.numbers, p.target)
        if split != "any":
            assert countdown.split_of(p.numbers, p.target) == split
    again = countdown.generate(count, seed=seed, sizes=sizes, max_number=max_number, max_target=max_target, split=split)
    assert again == problems


def test_generate_default_dial_and_seeds():
    problems = countdown.generate(12, seed=7)
    assert {len(p.numbers) for p in problems} <= set(countdown.SIZES)
    assert all(countdown.split_of(p.numbers, p.target) == "test" for p in problems)
    assert countdown.generate(12, seed=7) == problems
    assert countdown.generate(12, seed=8) != problems
    train = countdown.generate(12, seed=7, split="train")
    assert all(countdown.split_of(p.numbers, p.target) == "train" for p in train)
    assert not set(train) & set(problems)


def test_split_holds_out_about_a_tenth():
    rng = random.Random(0)
    keys = [(tuple(rng.randint(1, 13) for _ in range(4)), rng.randint(1, 100)) for _ in range(4000)]
    share = sum(countdown.split_of(n, t) == "test" for n, t in keys) / len(keys)
    assert 0.08 < share < 0.12
    # the split ignores the order of the numbers
    assert countdown.split_of((1, 2, 3), 6) == countdown.split_of((3, 1, 2), 6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"split": "dev"},
        {"split": "TEST"},
        {"sizes": ()},
        {"sizes": (1,)},
        {"sizes": (3, 0)},
        {"sizes": (3.0,)},
        {"max_number": 0},
        {"max_target": 0},
    ],
)
def test_generate_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        countdown.generate(1, seed=0, **kwargs)


def test_generate_gives_up_on_a_dial_without_solvable_problems():
    # (1, 1) with a target of 1 or 2 is solvable, but both problems fall in the train split
    assert {countdown.split_of((1, 1), t) for t in (1, 2)} == {"train"}
    with pytest.raises(ValueError, match="no solvable 'test' problem"):
        countdown.generate(1, seed=0, sizes=(2,), max_number=1, max_target=2, split="test")
    assert countdown.generate(2, seed=0, sizes=(2,), max_number=1, max_target=2, split="train")


# --- the solver -------------------------------------------------------------------------


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32), rng_seed=st.integers(0, 2**32), size=st.sampled_from([2, 3, 4]))
def test_solver_solutions_always_check(seed, rng_seed, size):
    [problem] = countdown.generate(1, seed=seed, sizes=(size,), split="any")
    for steps in (problem.solve(), problem.solve(rng=random.Random(rng_seed))):
        assert steps is not None and len(steps) == size - 1
        text = problem.solution_text(steps)
        assert text.endswith(".")
        assert problem.check(text), text
        assert parse(text) == steps


def test_solver_with_rng_finds_several_solutions():
    problem = Countdown((13, 4, 7, 2), 48)
    texts = {problem.solution_text(problem.solve(rng=random.Random(s))) for s in range(30)}
    assert len(texts) > 1
    assert all(problem.check(t) for t in texts)


# --- the oracle -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "left, op, right, value",
    [
        (3, "+", 5, 8),
        (5, "-", 3, 2),
        (3, "-", 3, 0),
        (3, "-", 5, None),
        (4, "*", 6, 24),
        (12, "/", 4, 3),
        (12, "/", 5, None),
        (12, "/", 0, None),
        (0, "/", 4, 0),
        (2, "^", 3, None),
    ],
)
def test_apply_follows_the_rules(left, op, right, value):
    assert countdown.apply(left, op, right) == value


ACCEPTED = [
    ((13, 4, 7, 2), 48, "13-7=6,6*4=24,24*2=48."),
    ((13, 4, 7, 2), 48, "13 - 7 = 6 , 6 * 4 = 24 , 24 * 2 = 48."),  # spaces are allowed
    ((13, 4, 7, 2), 48, "13-7=6,6*4=24,24*2=48.then some junk"),  # text after the '.' is ignored
    ((13, 4, 7, 2), 48, "13-7=6,6*4=24,24*2=48"),  # the final '.' is optional
    ((3, 6, 9), 18, "6/3=2,9*2=18."),  # exact division
    ((5, 5, 2), 50, "5*5=25,25*2=50."),  # a number that appears twice may be used twice
    ((4, 4), 0, "4-4=0."),  # subtraction may reach zero
    ((1, 2, 3), 9, "1+2=3,3*3=9."),  # intermediate results become usable numbers
    ((2, 3, 4), 20, "2+3=5;5*4=20."),  # not the compact format: read as free text, whose steps may be split by ';'
]

REJECTED = [
    ((2, 3, 4), 18, "2+3=5,5*4=20,20-2=18.", "reuses 2"),
    ((5, 2, 3), 50, "5*5=25,25*2=50.", "uses 5 twice, it appears once"),
    ((2, 3, 4), 5, "2+3=5.", "leaves 4 unused"),
    ((13, 4, 7, 2), 24, "13-7=6,6*4=24.", "reaches the target but leaves 2 unused"),
    ((3, 5, 8), 0, "3-5=0,8*0=0.", "negative subtraction"),
    ((3, 5, 8), 6, "3-5=-2,8+-2=6.", "negative number written out (malformed)"),
    ((3, 6, 9), 3, "9/6=1,1*3=3.", "inexact division"),
    ((3, 6, 9), 18, "6/0=0,9*2=18.", "division by zero"),
    ((2, 3, 4), 24, "2+3=6,6*4=24.", "wrong arithmetic"),
    ((2, 3, 4), 20, "2+3=5,5*4=21.", "last step miscomputed"),
    ((2, 3, 4), 21, "2+3=5,5*4=20.", "right arithmetic, wrong target"),
    ((2, 3, 4), 20, "2+3=5,5*4=20,20-0=20.", "an operand that is not on the table"),
    ((2, 3, 4), 20, "", "empty"),
    ((2, 3, 4), 20, ".", "only a full stop"),
    ((2, 3, 4), 20, "2+3=5 5*4=20.", "wrong separator"),
    ((2, 3, 4), 20, "2+3=5,,5*4=20.", "empty step"),
    ((2, 3, 4), 20, "2x3=5,5*4=20.", "unknown operator"),
    ((2, 3, 4), 20, "2+3=5,5*4=", "missing result"),
    ((2, 3, 4), 20, "banana", "gibberish"),
    ((2, 3, 4), 20, "(2+3)*4=20.", "an expression instead of steps"),
]


@pytest.mark.parametrize("numbers, target, text", ACCEPTED)
def test_check_accepts_correct_solutions(numbers, target, text):
    assert Countdown(numbers, target).check(text)


@pytest.mark.parametrize("numbers, target, text, why", REJECTED)
def test_check_rejects(numbers, target, text, why):
    assert not Countdown(numbers, target).check(text), why


@st.composite
def step_like(draw):
    """Completions that look like steps, mostly well formed, sometimes slightly broken."""
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        left, right, result = draw(st.integers(0, 30)), draw(st.integers(0, 30)), draw(st.integers(-5, 400))
        op, space = draw(st.sampled_from("+-*/x")), draw(st.sampled_from(["", " "]))
        parts.append(f"{left}{space}{op}{space}{right}{space}={space}{result}")
    separator = draw(st.sampled_from([",", ", ", ";", ",,"]))
    return separator.join(parts) + draw(st.sampled_from([".", "", ".junk", ",", ". 1+1=2", "\n"]))


step_regex = st.from_regex(r"\A( ?[0-9]{1,3} ?[-+*/x:] ?-?[0-9]{1,3} ?= ?-?[0-9]{0,4} ?[,.;]?){1,5}.{0,3}\Z")
anything = st.one_of(st.text(), step_like(), step_regex, st.binary().map(lambda b: b.decode("latin-1")))


@settings(max_examples=150)
@given(text=anything, numbers=st.lists(st.integers(0, 20), min_size=1, max_size=5), target=st.integers(0, 200))
def test_text_functions_never_raise(text, numbers, target):
    problem = Countdown(tuple(numbers), target)
    steps = parse(text)
    assert steps is None or (steps and all(isinstance(s, Step) for s in steps))
    assert isinstance(problem.check(text), bool)
    key = problem.answer_key(text)
    assert (key is None) == (steps is None)
    assert isinstance(split_steps(text), list)
    assert problem.steps(text) == split_steps(text)


@pytest.mark.parametrize("value", [None, 42, b"1+2=3.", ["1+2=3."]])
def test_text_functions_tolerate_non_strings(value):
    problem = Countdown((1, 2), 3)
    assert parse(value) is None
    assert problem.check(value) is False
    assert problem.answer_key(value) is None
    assert split_steps(value) == []


@given(text=anything)
def test_split_steps_round_trips(text):
    pieces = split_steps(text)
    expected = text[: text.index(".") + 1] if "." in text else text
    assert "".join(pieces) == expected
    assert all(pieces)
    # every piece but the last ends with a separator; only the last may end with '.'
    assert all(p.endswith(",") for p in pieces[:-1])


def test_split_steps_examples():
    assert split_steps("13-7=6,6*4=24,24*2=48.") == ["13-7=6,", "6*4=24,", "24*2=48."]
    assert split_steps("13-7=6,6*4") == ["13-7=6,", "6*4"]
    assert split_steps("1+1=2.2+2=4.") == ["1+1=2."]
    assert split_steps("") == []


step_strategy = st.builds(Step, st.integers(0, 10**6), st.sampled_from("+-*/"), st.integers(0, 10**6), st.integers(0, 10**6))


@given(steps=st.lists(step_strategy, min_size=1, max_size=6), spaces=st.booleans())
def test_parse_round_trips_written_steps(steps, spaces):
    separator = " , " if spaces else ","
    text = separator.join(f"{s.left} {s.op} {s.right} = {s.result}" if spaces else str(s) for s in steps) + "."
    assert parse(text) == steps


# --- the answer key (what majority voting compares) ------------------------------------


def test_answer_key_ignores_commutative_order_and_independent_step_order():
    problem = Countdown((1, 2, 3, 4), 21)
    a = problem.answer_key("1+2=3,3+4=7,7*3=21.")
    assert a is not None
    assert problem.answer_key("2+1=3,4+3=7,3*7=21.") == a
    # independent steps in either order build the same expression
    problem = Countdown((2, 3, 5, 7), 72)
    key = problem.answer_key("2*3=6,5+7=12,6*12=72.")
    assert problem.answer_key("7+5=12,3*2=6,12*6=72.") == key
    assert problem.answer_key("5+7=12,2*3=6,6*12=72.") == key


def test_answer_key_reads_a_repeated_value_as_the_given_number_first():
    # "3" is both a given number and the result of 1+2: the key takes the given one first,
    # so the order of these two independent steps does not change the vote
    problem = Countdown((1, 2, 3, 4), 21)
    assert problem.answer_key("1+2=3,3+4=7,7*3=21.") == problem.answer_key("3+4=7,1+2=3,7*3=21.")


def test_parse_accepts_ascii_digits_only():
    assert parse("\u0661+\u0662=\u0663.") is None
    assert not Countdown((1, 2), 3).check("\uff11+\uff12=\uff13.")


def test_answer_key_tells_different_solutions_apart():
    problem = Countdown((1, 2, 3, 4), 10)
    assert problem.check("4*3=12,12-2=10,10*1=10.") and problem.check("1+2=3,3+3=6,6+4=10.")
    assert problem.answer_key("4*3=12,12-2=10,10*1=10.") != problem.answer_key("1+2=3,3+3=6,6+4=10.")
    # subtraction and division are not commutative
    problem = Countdown((6, 3), 3)
    assert problem.answer_key("6-3=3.") != problem.answer_key("3-6=3.")


@pytest.mark.parametrize("text", ["", "banana", "1+2=3 3*4=12.", ".", "1+2=3,,3*4=12."])
def test_answer_key_is_none_for_malformed(text):
    assert Countdown((1, 2, 3, 4), 12).answer_key(text) is None


@settings(max_examples=40)
@given(seed=st.integers(0, 2**32), flips=st.lists(st.booleans(), min_size=4, max_size=4))
def test_answer_key_is_invariant_to_swapping_operands_of_plus_and_times(seed, flips):
    [problem] = countdown.generate(1, seed=seed, sizes=(3, 4), split="any")
    steps = problem.solve(rng=random.Random(seed))
    swapped = [Step(s.right, s.op, s.left, s.result) if flip and s.op in "+*" else s for s, flip in zip(steps, flips)]
    original, other = problem.solution_text(steps), problem.solution_text(swapped)
    assert problem.check(other)
    assert problem.answer_key(other) == problem.answer_key(original)


def test_game_of_24_lists_every_solvable_set_of_four_once():
    from tsc.tasks import countdown

    every = countdown.game_of_24(split="any")
    assert len(every) == len({p.numbers for p in every}) == 1346  # 1,362 with fractions allowed
    assert all(p.target == 24 and len(p.numbers) == 4 and countdown.is_solvable(p.numbers, 24) for p in every)
    test, train = countdown.game_of_24(split="test"), countdown.game_of_24(split="train")
    assert len(test) + len(train) == len(every) and not {p.numbers for p in test} & {p.numbers for p in train}
    assert countdown.game_of_24(5, seed=3) == countdown.game_of_24(5, seed=3) != countdown.game_of_24(5, seed=4)
    assert (3, 3, 8, 8) not in {p.numbers for p in every}  # needs 8/(3-8/3): not whole numbers
    with pytest.raises(ValueError, match="only 136"):
        countdown.game_of_24(137)


# --- direct answers and thinking models -------------------------------------------------------


def test_a_direct_answer_is_one_expression_that_checks():
    problem = Countdown((13, 4, 7, 2), 48)
    steps = countdown.parse("13-7=6,6*4=24,24*2=48.")
    assert problem.direct_text(steps) == "(13-7)*4*2."
    assert problem.check("(13-7)*4*2.") and problem.check("2*4*(13-7).")
    assert not problem.check("13-7*4*2.")  # precedence: 13-28 goes negative
    assert not problem.check("(13-7)*4*2*1.")  # a number not on the table


@pytest.mark.parametrize("text", ["(13-7", "13-(7)*", ")(", "1--2", "8/3", "3-8", "((1)", "", "()", "2 2"])
def test_malformed_or_illegal_expressions_parse_to_none(text):
    assert countdown.parse_expression(text) is None


def test_expressions_from_random_solutions_check(rng=None):
    import random

    rng = random.Random(7)
    for problem in countdown.generate(300, seed=11, split="any"):
        steps = problem.solve(rng=rng)
        assert problem.check(problem.direct_text(steps)), (problem, steps)


def test_only_what_follows_the_last_hash_is_the_answer():
    problem = Countdown((13, 4, 7, 2), 48)
    assert problem.check("13+4=17,17*7=119#13-7=6,6*4=24,24*2=48.")
    assert not problem.check("13-7=6,6*4=24,24*2=48#13+4=17.")
    assert countdown.parse("thinking#") is None
