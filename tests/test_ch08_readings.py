"""Chapter 8's readings of its experiments (tsc.experiments.ch08): the sentence a paired
interval allows, a belief level that answers reach, samples drawn after the vote was decided."""

from __future__ import annotations

import numpy as np
from fakes import ScriptedPolicy

from tsc.experiments import ch08
from tsc.strategies import majority_vote
from tsc.tasks.arithmetic import Arithmetic


def test_verdict_says_no_more_than_the_interval():
    assert "within the noise" in ch08.verdict({"difference": 0.01, "difference_low": -0.01, "difference_high": 0.03}, "a", "b")
    assert ch08.verdict({"difference": 0.02, "difference_low": 0.01, "difference_high": 0.03}, "the controller", "the rule").startswith(
        "The controller is ahead"
    )
    assert ch08.verdict({"difference": -0.02, "difference_low": -0.03, "difference_high": -0.01}, "a", "the rule").startswith("The rule")


def test_reached_level_is_never_an_empty_set():
    beliefs = np.concatenate([np.full(40, 0.95), np.full(100, 0.5)])
    assert ch08.reached_level(beliefs) == 0.95
    assert ch08.reached_level(np.full(100, 0.896)) == 0.85  # the highest belief is 0.896: 0.9 is never reached
    assert ch08.reached_level(np.full(10, 0.3)) == 0.5  # nothing reached often enough: the lowest level
    assert ch08.same_samples({"samples": [1, 2, 3]}, {"samples": [1, 2, 4]}) == 2 / 3


def test_samples_after_the_vote_was_decided():
    q = Arithmetic("1+2")
    policy = ScriptedPolicy({q.prompt(): ["1+2=3.", "1+2=3.", "1+2=3.", "1+2=4."]})
    result = majority_vote(q, policy, n=4, seed=0)  # 3, 3, 3, 4: two votes for 3 of at most four decide it (a tie goes to 3)
    assert ch08.after_decided(q, result, 4) == 2
    assert ch08.after_decided(q, majority_vote(q, policy, n=2, seed=0), 4) == 0


def test_cheaper_rival_spends_at_most_as_much():
    rivals = [{"knobs": {"n": k}, "flops": [10.0 * k, 10.0 * k]} for k in (1, 2, 4, 8)]
    data = {"contenders": {"best-of-n": rivals}}
    assert ch08.cheaper_rival(data, {"flops": [30.0, 50.0]}, "best-of-n")["knobs"] == {"n": 4}  # 40 fits, 80 does not
    assert ch08.cheaper_rival(data, {"flops": [40.0, 40.0]}, "best-of-n")["knobs"] == {"n": 4}  # equal spending counts
    assert ch08.cheaper_rival(data, {"flops": [5.0, 5.0]}, "best-of-n") is None  # every rival spends more
