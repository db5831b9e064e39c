"""A scripted fake `Policy`: the real protocol, canned completions, exact compute charges.

Strategies never see a network, so tests can script exactly which completions a "model"
returns and check what a strategy does with them (its_hub and mctx test the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from tsc.compute import Ledger
from tsc.core import Completion
from tsc.tasks.countdown import Countdown

FLOPS_PER_TOKEN = 1000  # a fake model of 500 parameters: 2 * N FLOPs per token read or written


class ScriptedPolicy:
    """Answers each prompt from a script of completion texts.

    ``script`` maps a prompt to its completions (or is a function of the prompt). Greedy
    decoding (temperature 0) always returns the first text; sampling returns texts
    ``seed, seed+1, ...`` (cyclically), so ``n = len(texts)`` samples return every text
    once. Tokens are characters: a prompt costs ``len(prompt) + 1`` tokens (a BOS token)
    and a completion ``len(text)`` tokens (its stop character included).
    """

    name = "scripted"
    prompt_format = "compact"

    def __init__(self, script: dict[str, Sequence[str]] | Callable[[str], Sequence[str]]):
        self.script = script
        self.calls: list[dict] = []

    def format(self, problem) -> str:
        return problem.prompt()

    def texts(self, prompt: str) -> list[str]:
        return list(self.script(prompt) if callable(self.script) else self.script[prompt])

    def sample(
        self,
        prompts: list[str],
        *,
        n: int = 1,
        temperature: float = 1.0,
        top_p: float = 1.0,
        max_new_tokens: int = 64,
        seed: int | list[int] = 0,
        ledger: Ledger | list[Ledger] | None = None,
        offset: int = 0,
        **ignored,
    ) -> list[list[Completion]]:
        """Like `tsc.lm.policy.LocalPolicy.sample`: one seed (or one per prompt), one ledger (or one per
        prompt); ``offset`` skips that many samples of each prompt's cycle."""
        seeds = list(seed) if isinstance(seed, (list, tuple)) else [seed] * len(prompts)
        ledgers = list(ledger) if isinstance(ledger, (list, tuple)) else [Ledger() for _ in prompts]
        self.calls.append({"prompts": list(prompts), "n": n, "temperature": temperature, "seed": seed, "max_new_tokens": max_new_tokens})
        rows = []
        for prompt, prompt_seed, mine in zip(prompts, seeds, ledgers):
            texts = self.texts(prompt)
            picked = [texts[0]] * n if temperature == 0 else [texts[(prompt_seed + offset + j) % len(texts)] for j in range(n)]
            row, prompt_tokens, generated = [], 0, 0
            for text in picked:
                text = text[:max_new_tokens]
                row.append(Completion(text=text, num_tokens=max(1, len(text)), logprob=-0.5 * max(1, len(text))))
                prompt_tokens += len(prompt) + 1
                generated += max(1, len(text))
            rows.append(row)
            if mine is not None:
                mine.charge_policy(
                    prompt_tokens=prompt_tokens,
                    generated_tokens=generated,
                    flops=FLOPS_PER_TOKEN * (prompt_tokens + generated),
                    seconds=0.0,
                    samples=n,
                )
        if isinstance(ledger, Ledger):  # one ledger: charged once for the whole call
            total = sum(ledgers, Ledger())
            ledger.charge_policy(
                prompt_tokens=total.prompt_tokens, generated_tokens=total.generated_tokens, flops=total.policy_flops,
                seconds=0.0, samples=total.samples,
            )  # fmt: skip
        return rows


def countdown_prompt_problem(prompt: str):
    """The Countdown problem a compact prompt such as ``"13 4 7 2>48:"`` states."""
    from tsc.tasks.countdown import Countdown

    numbers, target = prompt.rstrip(":").split(">")
    return Countdown(tuple(int(x) for x in numbers.split()), int(target))


VERIFIER_FLOPS_PER_TOKEN = 300  # what the scripted verifier charges per character it reads


class ScriptedStepVerifier:
    """A step-level verifier (the shape of a PRM) whose step scores come from a script.

    ``script`` maps a completion text to its step scores (one per step prefix), or is a
    function ``(problem, text) -> scores``; a text missing from a dict scores 0.0 at every
    step. ``score`` is a completion's last step score (the whole completion's). Every call
    charges ``VERIFIER_FLOPS_PER_TOKEN`` per character of the texts it reads (prompt
    included) and is recorded in ``calls``.
    """

    name = "scripted_step"

    def __init__(self, script):
        self.script = script
        self.calls: list[dict] = []

    def _steps(self, problem, text: str) -> list[float]:
        if callable(self.script):
            return [float(s) for s in self.script(problem, text)]
        return [float(s) for s in self.script.get(text, [0.0] * len(problem.steps(text)))]

    def _charge(self, problem, texts, ledger, method: str) -> None:
        self.calls.append({"method": method, "texts": list(texts)})
        if ledger is not None:
            tokens = sum(len(problem.prompt()) + 1 + len(t) for t in texts)
            ledger.charge_verifier(tokens=tokens, flops=VERIFIER_FLOPS_PER_TOKEN * tokens)

    def score_steps(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[list[float]]:
        self._charge(problem, texts, ledger, "score_steps")
        return [self._steps(problem, t) for t in texts]

    def score(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[float]:
        self._charge(problem, texts, ledger, "score")
        return [(self._steps(problem, t) or [0.0])[-1] for t in texts]


def step_oracle_scores(problem, text: str) -> list[float]:
    """Exact step scores for a Countdown completion: 1.0 while every step so far is legal and
    the target is still reachable from the numbers left (the last step: while the whole
    completion is correct), 0.0 from the first step where that fails on."""
    from tsc.tasks.countdown import apply, parse, reachable

    pieces = problem.steps(text)
    scores, pool, good = [], list(problem.numbers), True
    for i, piece in enumerate(pieces):
        steps = parse(piece.rstrip(",.") + ".")
        good = good and steps is not None
        if good:
            [step] = steps
            for operand in (step.left, step.right):
                good = good and operand in pool
                if good:
                    pool.remove(operand)
            good = good and apply(step.left, step.op, step.right) == step.result
            if good:
                pool.append(step.result)
                good = problem.target in reachable(tuple(sorted(pool)))
        if i == len(pieces) - 1:
            good = good and problem.check(text)
        scores.append(1.0 if good else 0.0)
    return scores


class TinyStepOracle(ScriptedStepVerifier):
    """The exact step oracle as a verifier (no FLOPs: it runs no network)."""

    name = "step_oracle"

    def __init__(self):
        super().__init__(step_oracle_scores)

    def _charge(self, problem, texts, ledger, method: str) -> None:
        self.calls.append({"method": method, "texts": list(texts)})
        if ledger is not None:
            ledger.charge_verifier(tokens=0, flops=0)


# --- step-by-step search (tests/test_search.py, tests/test_tree_viewer.py) -------------------

P = Countdown((1, 2, 3, 4), 21)
PROMPT = P.prompt()
A = "1+2=3,3+4=7,7*3=21."  # correct
# the tree the scripted policy samples from: a prefix -> its next steps. "4*3=12," and
# "1+2=3,3*4=12," leave 21 out of reach: dead ends.
TREE = {
    "": ["1+2=3,", "4*3=12,"],
    "1+2=3,": ["3*4=12,", "3+4=7,"],
    "1+2=3,3+4=7,": ["7*3=21."],
    "1+2=3,3*4=12,": ["12+3=15."],
    "4*3=12,": ["12+2=14,", "12-2=10,"],
    "4*3=12,12+2=14,": ["14+1=15."],
    "4*3=12,12-2=10,": ["10+1=11."],
}


class StepPolicy(ScriptedPolicy):
    """The scripted policy, sampling one step at a time like the real sampler with
    ``stop=(",", ".")``: the next steps of a prefix come from ``tree``. A call that stops at
    ``.`` only (a rollout, MCTS's greedy completion) gets ``rest[prefix]``. ``tree`` may also
    be a function of the prefix. ``logprobs`` sets
    the log-probability of a step (default -0.5 per character)."""

    def __init__(self, tree=TREE, *, rest=None, logprobs=None):
        self.tree, self.rest, self.logprobs = tree, rest or {}, logprobs or {}
        super().__init__(self._texts)
        self.stop = (".",)

    def _texts(self, prompt: str) -> list[str]:
        prefix = prompt[len(PROMPT) :]
        if self.stop == (".",):
            return [self.rest.get(prefix, "9+9=18.")]
        return self.tree(prefix) if callable(self.tree) else self.tree.get(prefix, ["9+9=18."])

    def sample(self, prompts, *, stop=(".",), **options):
        self.stop = stop
        rows = super().sample(prompts, **options)
        self.calls[-1]["stop"] = stop
        return [[replace(c, logprob=self.logprobs.get(c.text, c.logprob)) for c in row] for row in rows]


def valued(values: dict[str, float]) -> ScriptedStepVerifier:
    """A step verifier whose score after each step is ``values[prefix up to that step]`` (0 if absent)."""

    def script(problem, text):
        prefix, out = "", []
        for step in problem.steps(text):
            prefix += step
            out.append(values.get(prefix, 0.0))
        return out

    return ScriptedStepVerifier(script)
