"""The revision model's data: failed attempts of the policy, followed by a correct one.

Sequential revisions (Snell et al. 2024) need a model that reads its earlier attempts and
tries again. Snell et al. fine-tune on trajectories of up to four incorrect answers followed
by a correct one, all sampled from the base model; here, on Countdown:

1. a pool of *training-split* problems is drawn (uniform over solvable ones, as everywhere),
   and the bundled policy samples ``pool_samples`` attempts for each at temperature 1;
2. each training sequence takes one problem of the pool, 0 to ``MAX_FAILED`` of its failed
   attempts in random order, and a correct attempt: one of the policy's own when it found
   any, else a random solution from the exhaustive solver. The sequence is the revision
   prompt (`tsc.core.revision_prompt`: the problem's prompt followed by the failed attempts)
   then the correct attempt and the end token, and the loss falls on the correct attempt
   only (`tsc.lm.train.collate`): the model learns to answer *given* what failed, not to
   write failures.

The model is the countdown policy fine-tuned (recipe ``revision`` in `tsc.lm.train`), with its
context raised from 96 to 192 positions: rotary embeddings have no learned positions, so only
the config changes. Sequences with no failed attempt keep its first-attempt skill.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path

from tsc.compute import Ledger
from tsc.core import revision_prompt
from tsc.io import read_json_cache, write_json_cache
from tsc.lm.recipes import Recipe
from tsc.tasks import countdown

MAX_FAILED = 3  # failed attempts a training sequence holds at most (revise reads the last 3)
POOL_CHUNK = 256  # problems per sampling call while building the pool (x pool_samples sequences)


@dataclass(frozen=True)
class PoolEntry:
    """One problem of the pool with the policy's distinct failed and correct attempts."""

    problem: countdown.Countdown
    failed: tuple[str, ...]
    correct: tuple[str, ...]


@dataclass
class RevisionData:
    """The sampled pool and the training sequences built from it, step by step.

    ``ledger`` is what sampling the pool cost (policy tokens and FLOPs); ``seconds`` its wall
    time. `examples(step)` is a pure function of the recipe's seed and the step.
    """

    entries: list[PoolEntry]
    recipe: Recipe  # its seed, batch size and context length shape the examples
    ledger: Ledger
    seconds: float

    @classmethod
    def build(cls, recipe, policy, *, cache: Path | None = None, progress: bool = False) -> RevisionData:
        """Sample the pool of ``recipe`` from ``policy`` (or read it back from ``cache``)."""
        config = {"pool": recipe.pool, "pool_samples": recipe.pool_samples, "seed": recipe.seed, "sizes": list(recipe.sizes)}
        card = getattr(policy, "card", None) or {}
        config["policy"] = card.get("weights_sha256") or getattr(policy, "name", type(policy).__name__)
        stored = read_json_cache(cache)
        if stored is not None and stored.get("config") == config:
            return cls._from_json(stored, recipe)
        started = time.perf_counter()
        problems = countdown.generate(recipe.pool, seed=recipe.seed + 7919, sizes=recipe.sizes, split="train")
        ledger = Ledger()
        entries = []
        for start in range(0, len(problems), POOL_CHUNK):
            chunk = problems[start : start + POOL_CHUNK]
            rows = policy.sample(
                [p.prompt() for p in chunk], n=recipe.pool_samples, temperature=1.0, seed=recipe.seed + start, ledger=ledger
            )
            for problem, row in zip(chunk, rows):
                texts = list(dict.fromkeys(c.text for c in row))  # distinct, in sampling order
                entries.append(
                    PoolEntry(problem, tuple(t for t in texts if not problem.check(t)), tuple(t for t in texts if problem.check(t)))
                )
            if progress:
                print(f"revision pool: {len(entries):,} / {len(problems):,} problems sampled", flush=True)
        data = cls(entries, recipe, ledger, time.perf_counter() - started)
        write_json_cache(cache, data._to_json(config))  # atomically: an interrupted run leaves no half-written pool
        return data

    def examples(self, step: int) -> list[tuple[str, str]]:
        """The (revision prompt, correct attempt) pairs of one step's batch."""
        rng = random.Random(self.recipe.seed * 1_000_003 + step)
        out = []
        for _ in range(self.recipe.batch_size):
            entry = self.entries[rng.randrange(len(self.entries))]
            failed = rng.sample(entry.failed, rng.randint(0, min(MAX_FAILED, len(entry.failed))))
            if entry.correct:
                answer = rng.choice(entry.correct)
            else:  # the policy never solved it: a solution from the exhaustive solver
                answer = entry.problem.solution_text(entry.problem.solve(rng=rng))
            while failed and len(revision_prompt(entry.problem.prompt(), failed)) + len(answer) + 2 > self.recipe.shape.max_len:
                failed.pop(0)  # bos and eos included, the sequence must fit the context
            out.append((revision_prompt(entry.problem.prompt(), failed), answer))
        return out

    def summary(self) -> dict:
        """What the pool holds, for the card."""
        n = len(self.entries)
        return {
            "problems": n,
            "solved_by_sampling": round(sum(bool(e.correct) for e in self.entries) / n, 4),
            "mean_distinct_failed": round(sum(len(e.failed) for e in self.entries) / n, 3),
            "sampling_tokens": self.ledger.tokens,
            "sampling_flops": self.ledger.flops,
            "sampling_seconds": round(self.seconds, 1),
        }

    def _to_json(self, config: dict) -> dict:
        return {
            "config": config,
            "ledger": self.ledger.to_json(),
            "seconds": self.seconds,
            "entries": [[list(e.problem.numbers), e.problem.target, list(e.failed), list(e.correct)] for e in self.entries],
        }

    @classmethod
    def _from_json(cls, stored: dict, recipe) -> RevisionData:
        entries = [PoolEntry(countdown.Countdown(tuple(n), t), tuple(f), tuple(c)) for n, t, f, c in stored["entries"]]
        fields = ("prompt_tokens", "generated_tokens", "policy_flops", "samples", "calls")  # what the pool's sampling spent
        ledger = Ledger(**{field: stored["ledger"][field] for field in fields})
        return cls(entries, recipe, ledger, stored["seconds"])


def describe(recipe, data: RevisionData) -> str:
    """The card's ``data`` sentence for a revision model."""
    return (
        f"{recipe.pool:,} training-split Countdown problems (uniform over solvable ones), {recipe.pool_samples} attempts each "
        f"sampled from the bundled {recipe.init_from} policy at temperature 1; each sequence is one problem's prompt, 0-{MAX_FAILED} "
        "of its distinct failed attempts in random order, then a correct attempt (the policy's own when it found one, else "
        "a random solution from the exhaustive solver) and the end token; loss on the correct attempt only"
    )
