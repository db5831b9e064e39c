"""DeepConf (tsc.strategies.deepconf): confidence from the model's own tokens, offline and online.

A scripted policy gives each completion text its own per-token top log-probabilities, so the
tests know which traces are confident: budgets are respected, the offline form keeps the
confident traces, the online form cuts the unconfident ones as they are written (charging
only what they wrote), bad knobs are refused in one line, batched equals one at a time, and a
replay from a stored table equals the live run on the real arithmetic model.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import ScriptedPolicy

import tsc
from tsc.analysis import draw
from tsc.core import Completion, confidence_cut
from tsc.replay import TablePolicy
from tsc.strategies import STRATEGIES, deepconf, deepconf_many, majority_vote, solve_many
from tsc.strategies.deepconf import quantile, trace_confidence
from tsc.tasks import Countdown, arithmetic

P = Countdown((1, 2, 3), 6)
SURE = [-0.01, -5.0, -6.0]  # a token whose mass sits on one candidate: confidence 3.67
UNSURE = [-1.0, -1.2, -1.3]  # spread over three: confidence 1.17


class ConfidencePolicy(ScriptedPolicy):
    """The scripted policy with log-probabilities: a text in ``unsure`` gets UNSURE alternatives
    at every token from ``unsure[text]`` on (0: all), any other SURE ones. It cuts as the real
    sampler does (`confidence_cut`), so a cut completion is charged only what it wrote."""

    def __init__(self, texts, unsure: dict[str, int]):
        super().__init__({P.prompt(): texts})
        self.unsure = unsure

    def tops(self, text: str) -> list[list[float]]:
        start = self.unsure.get(text, len(text))
        return [SURE if t < start else UNSURE for t in range(len(text))]

    def sample(self, prompts, *, top_logprobs=0, confidence_stop=None, ledger=None, **options):
        rows = super().sample(prompts, **options)  # charges the whole texts to a private ledger
        out, thresholds = [], [None] * len(prompts)
        if confidence_stop is not None:
            window, threshold = confidence_stop
            thresholds = list(threshold) if isinstance(threshold, list) else [threshold] * len(prompts)
        for row, threshold in zip(rows, thresholds):
            mine = []
            for c in row:
                tops = self.tops(c.text)
                at = confidence_cut(tops, window, threshold) if threshold is not None else None
                length = at if at is not None and at < len(c.text) else len(c.text)
                values = [t[0] for t in tops[:length]]
                kept = tuple(tuple(t[:top_logprobs]) for t in tops[:length])
                mine.append(Completion(c.text[:length], length, sum(values), tuple(values), kept, length < len(c.text)))
            out.append(mine)
        targets = ledger if isinstance(ledger, list) else [ledger] * len(prompts)
        for prompt, row, target in zip(prompts, out, targets):
            if target is not None:
                written = sum(c.num_tokens for c in row)
                target.charge_policy(prompt_tokens=len(prompt) + 1, generated_tokens=written, flops=1000 * (len(prompt) + 1 + written),
                                     seconds=0.0, samples=len(row))  # fmt: skip
        return out


RIGHT, WRONG = "1+2=3,3+3=6.", "1*2=2,2*3=7."  # WRONG is wrong, and the policy is unsure of it


def test_trace_confidence_lowest_window_tail_and_short_traces():
    tops = [SURE] * 4 + [UNSURE] * 2 + [SURE] * 2
    sure, unsure = -sum(SURE) / 3, -sum(UNSURE) / 3
    assert trace_confidence(tops, group=2, measure="lowest") == pytest.approx(unsure)
    assert trace_confidence(tops, group=2, measure="tail") == pytest.approx(sure)
    assert trace_confidence(tops[:1], group=4) == pytest.approx(sure)  # shorter than a window: the mean
    assert quantile([3.0, 1.0, 2.0], 0.5) == 2.0 and quantile([1.0, 2.0], 0.25) == pytest.approx(np.percentile([1.0, 2.0], 25))


def test_offline_keeps_the_confident_traces_and_outvotes_the_majority():
    policy = ConfidencePolicy([RIGHT, WRONG, WRONG, RIGHT, WRONG], unsure={WRONG: 0})
    plain = majority_vote(P, policy, n=5, seed=0)
    result = deepconf(P, policy, n=5, online=False, keep=0.4, group=3, seed=0)
    assert not plain.correct and result.correct  # three unsure votes for WRONG lose to two sure ones
    assert result.trace["samples"] == 5 and result.ledger.samples == 5 and sum(result.trace["voted"]) == 2
    everyone = deepconf(P, policy, n=5, online=False, keep=1.0, group=3, seed=0)
    assert everyone.correct  # all vote, weighted by confidence: 2 x 3.67 > 3 x 1.17


def test_online_cuts_unconfident_traces_and_stops_on_consensus():
    other = "2*3=6,6*1=6."  # another right solution: the warm-up's vote is split, so sampling goes on
    policy = ConfidencePolicy([RIGHT, other, WRONG, WRONG, RIGHT, RIGHT, RIGHT, RIGHT], unsure={WRONG: 5})
    result = deepconf(P, policy, n=8, warmup=2, keep=0.9, group=3, consensus=0.7, per_round=1, seed=0)
    # the warm-up traces are sure, so the threshold is their confidence: the first window that takes in
    # an unsure token of WRONG (its 6th) falls below it, and WRONG is cut there
    texts = result.candidates
    assert texts[:2] == (RIGHT, other) and texts[2:4] == (WRONG[:6], WRONG[:6])
    assert result.trace["cut"] == 2 and result.trace["voted"][2:4] == [False, False]
    assert result.ledger.generated_tokens == sum(len(t) for t in texts)  # a cut trace costs what it wrote
    assert result.correct and result.trace["stopped"] == "consensus" and result.trace["samples"] == 6  # 3 sure votes of 4 > 0.7


@pytest.mark.parametrize("n, online", [(1, True), (3, True), (4, False), (7, True)])
def test_the_budget_is_respected(n, online):
    policy = ConfidencePolicy([RIGHT, WRONG, "2*3=6,6*1=6."], unsure={WRONG: 2})
    result = deepconf(P, policy, n=n, online=online, warmup=1, consensus=1.0, per_round=2, group=2, seed=3)
    assert result.trace["samples"] <= n and result.ledger.samples == result.trace["samples"]
    assert result.trace["samples"] == n or result.trace["stopped"] == "consensus"
    if not online:
        assert result.trace["samples"] == n


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"warmup": 0}, "warmup"),
        ({"warmup": 9}, "warmup"),
        ({"keep": 0.0}, "keep"),
        ({"keep": 1.5}, "keep"),
        ({"consensus": 0.5}, "consensus"),
        ({"group": 0}, "group"),
        ({"top_logprobs": 0}, "top_logprobs"),
        ({"per_round": 0}, "per_round"),
        ({"measure": "mean"}, "measure must be one of lowest, tail"),
    ],
)
def test_bad_knobs_are_refused_in_one_line(knobs, message):
    policy = ConfidencePolicy([RIGHT], unsure={})
    with pytest.raises(ValueError, match=message) as error:
        deepconf(P, policy, n=8, **knobs)
    assert "\n" not in str(error.value)


def test_a_policy_without_log_probabilities_is_refused():
    with pytest.raises(ValueError, match="returned no top_logprobs: DeepConf reads"):
        deepconf(P, ScriptedPolicy({P.prompt(): [RIGHT]}), n=4)


def test_deepconf_is_registered_and_batched():
    record = STRATEGIES["deepconf"]
    assert record.run is deepconf and record.batched is deepconf_many and record.family == "parallel"


@pytest.fixture(scope="module")
def arithmetic_model():
    return tsc.load_policy("arithmetic")


def test_batched_equals_one_at_a_time_and_replay_equals_live(arithmetic_model):
    questions = arithmetic.generate(16, seed=71)
    knobs = dict(n=8, temperature=0.8, warmup=4, keep=0.9, group=8, per_round=2)
    batched = solve_many(deepconf, questions, arithmetic_model, seed=5, **knobs)
    alone = [deepconf(q, arithmetic_model, seed=tsc.core.problem_seed(5, q), **knobs) for q in questions]
    assert [(r.answer, r.ledger.generated_tokens) for r in batched] == [(r.answer, r.ledger.generated_tokens) for r in alone]
    assert sum(r.trace["cut"] for r in batched) > 0  # the cut happens
    table = draw(questions, arithmetic_model, n=8, temperature=0.8, seed=5, top_logprobs=5)
    replayed = solve_many(deepconf, questions, TablePolicy(arithmetic_model, table), seed=5, **knobs)
    assert [(r.answer, r.ledger.generated_tokens, r.ledger.flops) for r in replayed] == [
        (r.answer, r.ledger.generated_tokens, r.ledger.flops) for r in batched
    ]


def test_solve_runs_deepconf_online_and_offline(tmp_path, capsys):
    from tsc.cli import main

    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"question": q.question}) + "\n" for q in arithmetic.generate(3, seed=9)))
    for flags in ((), ("--offline",), ("--warmup", "2", "--keep", "0.5", "--group", "4", "--consensus", "0.8")):
        out = tmp_path / "out.jsonl"
        assert (
            main(
                [
                    "solve",
                    "--model",
                    "arithmetic",
                    "--strategy",
                    "deepconf",
                    "--n",
                    "4",
                    *flags,
                    "--input",
                    str(source),
                    "--output",
                    str(out),
                ]
            )
            == 0
        )
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(records) == 3 and all("error" not in r and r["tokens"] > 0 for r in records)
    assert (
        main(["solve", "--model", "arithmetic", "--strategy", "deepconf", "--keep", "2", "--input", str(source), "--output", str(out)]) == 2
    )
    assert "--keep" in capsys.readouterr().err
