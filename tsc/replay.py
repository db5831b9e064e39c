"""Replaying strategies on samples drawn once: every contender sees the very same samples.

Comparing a fixed-n vote, a stopping rule and an adaptive controller at many settings means
running each of them over the same problems again and again. Each draws from its problem's
own random stream (`tsc.lm.policy.LocalPolicy.sample` with a list of seeds; `offset` continues a
stream), so all of them see prefixes of the same sequence of samples. `tsc.analysis.draw`
draws that sequence once, the first ``n`` samples of every problem's stream (with
``verifiers={name: verifier}, one_by_one=True``, each sample's score as a strategy that checks
one candidate pays for it); `TablePolicy` and `TableVerifier` then serve any strategy from the table
with the charges the real models would make, so a grid of a hundred settings costs one
sampling pass, and the comparison is paired by construction: two strategies differ only in
how many of the shared samples they look at and what they make of them.

A strategy that asks for more samples than the table holds, or for another temperature,
gets a clear error rather than different samples. `check_replay` runs a strategy both ways
on a few problems and reports whether answers, tokens and FLOPs agree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tsc.analysis import SampleTable
from tsc.compute import Ledger
from tsc.core import Completion, confidence_cut, problem_seed


class TablePolicy:
    """``policy`` as a strategy sees it when its samples come from ``table``: the same texts
    and the same charges (each prompt read once per call, as `tsc.lm.policy.LocalPolicy.sample` does
    without a prefix cache), with no sampling at all. ``name``, ``prompt_format``, ``format``,
    ``encode`` and ``flops`` are the real policy's."""

    def __init__(self, policy, table: SampleTable):
        if table.one_stream:
            raise ValueError(
                "this table was drawn with one_stream=True, not as a strategy draws: draw it again without one_stream to replay it"
            )
        self.policy, self.table = policy, table
        self.name, self.prompt_format = policy.name, policy.prompt_format
        prompts = [policy.format(p) for p in table.problems]
        self._rows = {problem_seed(table.seed, p): (i, prompt) for i, (p, prompt) in enumerate(zip(table.problems, prompts))}
        self._prompt_len = [len(ids) for ids in policy.encode(prompts)] if prompts else []

    def __repr__(self) -> str:
        return f"TablePolicy({self.name!r}, {len(self.table.problems)} problems x {self.table.n} samples)"

    def format(self, problem) -> str:
        return self.policy.format(problem)

    def sample(
        self,
        prompts: list[str],
        *,
        n: int = 1,
        temperature: float = 1.0,
        seed=0,
        offset: int = 0,
        max_new_tokens: int = 64,
        ledger: Ledger | Sequence[Ledger] | None = None,
        stop_after: int | None = None,
        top_logprobs: int = 0,
        confidence_stop: tuple | None = None,
        **ignored,
    ) -> list[list[Completion]]:
        """The table's samples ``offset`` to ``offset + n - 1`` of each prompt, charged as the
        policy would charge them; with ``confidence_stop``, each cut where
        `tsc.core.confidence_cut` cuts it and charged only what it wrote, as the sampler does."""
        table = self.table
        if top_logprobs and (table.top_logprobs is None or any(len(t) < top_logprobs for t in table.top_logprobs[0][0][:1])):
            raise ValueError(f"top_logprobs={top_logprobs} asked of a table drawn without that many: draw(..., top_logprobs=k)")
        thresholds = [None] * len(prompts)
        if confidence_stop is not None:
            window, threshold = confidence_stop
            thresholds = list(threshold) if isinstance(threshold, (list, tuple)) else [threshold] * len(prompts)
        if not isinstance(seed, (list, tuple)):
            raise ValueError("a table replays per-problem streams: pass one seed per prompt (a list), as the strategies do")
        if temperature != table.temperature or max_new_tokens != table.max_new_tokens:
            raise ValueError(
                f"the table was drawn at temperature {table.temperature} with max_new_tokens {table.max_new_tokens}; "
                f"got {temperature} and {max_new_tokens}"
            )
        if offset + n > table.n:
            raise ValueError(f"samples {offset} to {offset + n - 1} asked of a table of {table.n} samples per problem: draw a larger table")
        ledgers = list(ledger) if isinstance(ledger, (list, tuple)) else [ledger] * len(prompts)  # one ledger: every prompt's charge
        out = []
        for prompt, s, mine, threshold in zip(prompts, seed, ledgers, thresholds):
            if s not in self._rows or self._rows[s][1] != prompt:
                raise ValueError(f"no row of the table for prompt {prompt!r} with seed {s}: the table holds other problems or another seed")
            i = self._rows[s][0]
            row = [
                self._completion(i, j, top_logprobs, None if threshold is None else (window, threshold)) for j in range(offset, offset + n)
            ]
            if stop_after is not None:
                row = self._stopped(i, row, stop_after)
            out.append(row)
            if mine is not None:
                mine.charge_policy(**self._charge(i, row))
        return out

    def _completion(self, i: int, j: int, k: int, stop: tuple | None) -> Completion:
        table = self.table
        text, tokens = table.texts[i][j], int(table.tokens[i][j])
        if table.top_logprobs is None:
            return Completion(text, tokens, 0.0)
        values, tops = table.token_logprobs[i][j], table.top_logprobs[i][j]
        at = confidence_cut(tops, *stop) if stop is not None else None
        if at is not None and at < tokens:  # cut as the sampler would: its text is the first `at` characters
            return Completion(text[:at], at, sum(values[:at]), tuple(values[:at]), tuple(t[:k] for t in tops[:at]) if k else (), True)
        return Completion(text, tokens, sum(values), tuple(values), tuple(t[:k] for t in tops) if k else ())

    def _stopped(self, i: int, row: list[Completion], stop_after: int) -> list[Completion]:
        """``row`` as a sampler that stops once ``stop_after`` samples have finished returns it
        (`tsc.lm.Policy.sample`): the finished ones in the order they ended, then the others
        cut at that step. A sample finished if it ended before its length limit (the
        smaller of ``max_new_tokens`` and what the policy's context leaves)."""
        limit = self.table.max_new_tokens
        if isinstance(getattr(self.policy, "max_len", None), int):
            limit = min(limit, self.policy.max_len - self._prompt_len[i])
        finished = sorted((j for j, c in enumerate(row) if c.num_tokens < limit), key=lambda j: (row[j].num_tokens, j))
        if len(finished) < stop_after:
            return [row[j] for j in finished] + [c for j, c in enumerate(row) if j not in finished]
        end = row[finished[stop_after - 1]].num_tokens
        ended = [j for j in finished if row[j].num_tokens <= end]
        rest = [self._cut(c, end) for j, c in enumerate(row) if j not in ended]
        return [row[j] for j in ended] + rest

    def _cut(self, completion: Completion, tokens: int) -> Completion:
        """The first ``tokens`` tokens of ``completion``."""
        if completion.num_tokens <= tokens:
            return completion
        tokenizer = getattr(self.policy, "tokenizer", None)
        text = (
            completion.text[:tokens]
            if tokenizer is None
            else tokenizer.decode(tokenizer(completion.text, add_special_tokens=False)["input_ids"][:tokens])
        )
        return Completion(text, tokens, 0.0)

    def _charge(self, i: int, row: list[Completion]) -> dict:
        p = self._prompt_len[i]
        base = self.policy.flops(p, 0)
        flops = base + sum(self.policy.flops(p, c.num_tokens) - base for c in row)
        return dict(prompt_tokens=p, generated_tokens=sum(c.num_tokens for c in row), flops=flops, seconds=0.0, samples=len(row))


class TableVerifier:
    """``verifier`` as a strategy sees it when the scores come from ``table``: each text's
    stored score by the table's verifier ``name`` (its only one by default), charged its stored
    cost. ``name`` is the real verifier's."""

    def __init__(self, verifier, table: SampleTable, name: str | None = None):
        if name is None and len(table.steps) != 1:
            raise ValueError(f"say which of the table's verifiers to replay (name=): it has {', '.join(table.steps) or 'none'}")
        name = name or next(iter(table.steps))
        scores, costs = table.scores(name, "last"), table.verifier_flops[name]
        self.verifier, self.table = verifier, table
        self.name = getattr(verifier, "name", None)
        self._scores = {}
        for i, p in enumerate(table.problems):
            for j, text in enumerate(table.texts[i]):
                self._scores.setdefault((p.prompt(), text), (float(scores[i][j]), int(costs[i][j])))

    def __repr__(self) -> str:
        return f"TableVerifier({self.name!r})"

    def score(self, problem, texts: list[str], *, ledger: Ledger | None = None) -> list[float]:
        out, flops = [], 0
        for text in texts:
            found = self._scores.get((problem.prompt(), text))
            if found is None:
                raise ValueError(f"the table has no score for {text!r} of {problem.prompt()!r}")
            out.append(found[0])
            flops += found[1]
        if ledger is not None:
            ledger.charge_verifier(tokens=0, flops=flops)
        return out


def check_replay(strategy: Callable, problems: Sequence, policy, table: SampleTable, *, seed: int, verifier=None, **knobs) -> dict:
    """Run ``strategy`` live and from ``table`` on ``problems``; how many agree in answer and in
    generated tokens, and the ratio of their FLOPs (replayed over live)."""
    from tsc.strategies import solve_many

    extra = {"verifier": verifier} if verifier is not None else {}
    replay_extra = {"verifier": TableVerifier(verifier, table)} if verifier is not None else {}
    live = solve_many(strategy, problems, policy, seed=seed, temperature=table.temperature, **extra, **knobs)
    replayed = solve_many(strategy, problems, TablePolicy(policy, table), seed=seed, temperature=table.temperature, **replay_extra, **knobs)
    return {
        "problems": len(live),
        "same_answer": sum(a.answer == b.answer for a, b in zip(live, replayed)),
        "same_tokens": sum(a.ledger.generated_tokens == b.ledger.generated_tokens for a, b in zip(live, replayed)),
        "flops_ratio": sum(b.ledger.flops for b in replayed) / max(1, sum(a.ledger.flops for a in live)),
    }
