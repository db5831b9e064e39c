"""A scripted fake `Policy`: the real protocol, canned completions, exact compute charges.

Strategies never see a network, so tests can script exactly which completions a "model"
returns and check what a strategy does with them (its_hub and mctx test the same way).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tsc.compute import Ledger
from tsc.core import Completion

FLOPS_PER_TOKEN = 1000  # a fake model of 500 parameters: 2 * N FLOPs per token read or written


class ScriptedPolicy:
    """Answers each prompt from a script of completion texts.

    ``script`` maps a prompt to its completions (or is a function of the prompt). Greedy
    decoding (temperature 0) always returns the first text; sampling returns texts
    ``seed, seed+1, ...`` (cyclically), so ``n = len(texts)`` samples return every text
    once. Tokens are characters: a prompt costs ``len(prompt) + 1`` tokens (a BOS token)
    and a completion ``len(text)`` tokens (its stop character included).
    """

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
        seed: int = 0,
        ledger: Ledger | None = None,
    ) -> list[list[Completion]]:
        self.calls.append({"prompts": list(prompts), "n": n, "temperature": temperature, "seed": seed, "max_new_tokens": max_new_tokens})
        rows, prompt_tokens, generated = [], 0, 0
        for prompt in prompts:
            texts = self.texts(prompt)
            picked = [texts[0]] * n if temperature == 0 else [texts[(seed + j) % len(texts)] for j in range(n)]
            row = []
            for text in picked:
                text = text[:max_new_tokens]
                row.append(Completion(text=text, num_tokens=max(1, len(text)), logprob=-0.5 * max(1, len(text))))
                prompt_tokens += len(prompt) + 1
                generated += max(1, len(text))
            rows.append(row)
        if ledger is not None:
            ledger.charge_policy(
                prompt_tokens=prompt_tokens,
                generated_tokens=generated,
                flops=FLOPS_PER_TOKEN * (prompt_tokens + generated),
                seconds=0.0,
                samples=len(prompts) * n,
            )
        return rows


def countdown_prompt_problem(prompt: str):
    """The Countdown problem a compact prompt such as ``"13 4 7 2>48:"`` states."""
    from tsc.tasks.countdown import Countdown

    numbers, target = prompt.rstrip(":").split(">")
    return Countdown(tuple(int(x) for x in numbers.split()), int(target))
