"""Answers written the way real models write them are read; compact answers as before."""

from __future__ import annotations

import pytest

from tsc.tasks import Arithmetic, Countdown, freetext, get_task
from tsc.tasks.countdown import parse

P = Countdown((13, 4, 7, 2), 48)
Q = Arithmetic("7*8-13+6*4")

RIGHT = [
    "Sure! Let's work it out.\n13 - 7 = 6\n6 × 4 = 24\n24 × 2 = 48\nAnswer: (13 − 7) × 4 × 2",
    "<think>\nMaybe 13 + 4 = 17 first? No.\n</think>\n13 - 7 = 6\n6 * 4 = 24\n24 * 2 = 48\n\n**Answer:** $(13-7) \\times 4 \\times 2 = 48$",
    "We can do: 13 - 7 = 6, then 6 * 4 = 24, then 24 * 2 = 48. So the answer is 48.",
    "1. 13 - 7 = 6\n2. 6 * 4 = 24\n3. 24 * 2 = 48",
    "- 13 - 7 = 6\n- 6 * 4 = 24\n- 24 * 2 = 48\n",
    "* 13 - 7 = 6\n* 6 x 4 = 24\n* 24 x 2 = 48",
    "Answer: \\boxed{(13-7)*4*2}",
    "### Solution\nStep 1: 13 - 7 = 6  \nStep 2: 6 × 4 = 24  \nStep 3: 24 × 2 = 48\n\nAnswer: 48",
    "Answer: 13-7=6, 6*4=24, 24*2=48",
    "I think the thought ends here.</think>\n(13 - 7) * 4 * 2 = 48",  # the <think> was in the prompt
    "2+13=15... no. Final answer: 2 * (13 - 7) * 4",
]
WRONG = [
    "Answer: (13 + 7) * 2 = 40",  # misses the target, leaves 4 unused
    "<think> I will try 13 * 4 = 52 and then",  # the thinking never ended: no answer
    "13 - 7 = 6\n6 * 4 = 25\n25 * 2 = 50\nAnswer: 50",  # a step computed wrongly
    "Answer: 13 * 4 - 7 + 2",  # 47
    "I cannot solve this puzzle.",
    "Answer: 48",  # the target alone, with no steps anywhere
    "",
]


@pytest.mark.parametrize("text", RIGHT)
def test_countdown_reads_what_real_models_write(text):
    assert P.check(text), (text, parse(text))


@pytest.mark.parametrize("text", WRONG)
def test_countdown_free_text_that_is_wrong_is_simply_wrong(text):
    assert not P.check(text)
    P.answer_key(text)  # never raises
    get_task("countdown").answer(text)


def test_one_solution_written_two_ways_gets_one_vote():
    keys = {P.answer_key(t) for t in (RIGHT[0], RIGHT[3], RIGHT[6], "13-7=6,6*4=24,24*2=48.")}
    assert len(keys) == 1 and None not in keys


def test_solve_writes_the_steps_of_a_prose_answer():
    assert get_task("countdown").answer(RIGHT[0]) == "13-7=6, 6*4=24, 24*2=48"
    assert get_task("countdown").answer("I cannot solve this puzzle.") == "I cannot solve this puzzle."


ARITHMETIC = [
    ("7 × 8 = 56\n6 × 4 = 24\n56 − 13 = 43\n43 + 24 = 67\nAnswer: 67", 67),
    ("The answer is **67**.", 67),
    ("So we get \\boxed{67}", 67),
    ("7*8-13+6*4 = 67\n", 67),
    ("Answer: 7*8-13+6*4 = 67", 67),
    ("<think>It could be 70.</think>The result is 1,234", 1234),
    ("Answer: -5", -5),
    ("<think>56 - 13 is", None),
    ("no idea", None),
]


@pytest.mark.parametrize("text, answer", ARITHMETIC)
def test_arithmetic_reads_the_answer_of_prose(text, answer):
    assert get_task("arithmetic").answer(text) == answer
    assert Q.check(text) == (answer == 67)
    assert Q.answer_key(text) == (None if answer is None else str(answer))


@pytest.mark.parametrize("text", ["13-7=6,6*4=24,24*2=48.", "(13-7)*4*2.", "13 4 7#13-7=6,6*4=24,24*2=48.", "1+2=3 3*4=12."])
def test_compact_text_is_not_free(text):
    assert not freetext.is_free(text.rsplit("#", 1)[-1].split(".", 1)[0])


def test_compact_looking_text_that_is_not_compact_is_read_leniently():
    assert P.check("13-7=6,6*4=24,24*2=48.then some words")  # prose after the answer: free text, same steps
    assert Arithmetic("7*8-13").answer_key("7*8-13 = 43") is None  # compact characters only: the compact reader, strict
