"""Countdown: combine the given numbers with + - * / to reach the target.

The running example of the book. A problem such as ``13 4 7 2>48:`` asks the model to use
every number exactly once; a solution is a chain of steps, each combining two numbers still
on the table into a new one, ``13-7=6,6*4=24,24*2=48.`` Subtraction may not go negative and
division must be exact, so correctness is exactly checkable (the oracle) and every solution
splits into steps (the unit that process reward models and tree search work on).

Problems for evaluation are drawn *uniformly over solvable problems*: numbers and target are
drawn uniformly and the problem is kept if an exhaustive solver finds a solution. Problems
built backwards from a random solution are easier and are never used here.
"""

from __future__ import annotations

import hashlib
import itertools
import numbers as _numbers
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from tsc.tasks import freetext

MAX_NUMBER = 13  # numbers are drawn from 1..MAX_NUMBER
MAX_TARGET = 100  # targets are drawn from 1..MAX_TARGET
SIZES = (3, 4, 5)  # how many numbers a problem has: the difficulty dial
TEST_BUCKETS = 10  # one problem in TEST_BUCKETS is held out of training (see `split_of`)
MAX_DRAWS = 100_000  # `generate` gives up on a dial after this many unsolvable draws in a row
MIN_SIZE, MAX_SIZE = 2, 6  # how many numbers a problem given to a model may have (see `Limits`)
MAX_ANY_TARGET = 1_000_000  # the largest target accepted from a reader (a prompt must fit the context)
MAX_ANY_NUMBER = 1000  # the largest number accepted for a model without a Countdown card (e.g. an LLM)

_STEP = re.compile(r"^\s*(\d{1,12})\s*([-+*/])\s*(\d{1,12})\s*=\s*(\d{1,12})\s*$", re.ASCII)


@dataclass(frozen=True)
class Step:
    """One step ``left op right = result`` as the model wrote it (result may be wrong)."""

    left: int
    op: str
    right: int
    result: int

    def __str__(self) -> str:
        return f"{self.left}{self.op}{self.right}={self.result}"


def apply(left: int, op: str, right: int) -> int | None:
    """The value of ``left op right`` under Countdown's rules, or None if the rules forbid it."""
    if op == "+":
        return left + right
    if op == "*":
        return left * right
    if op == "-":
        return left - right if left >= right else None
    if op == "/":
        return left // right if right != 0 and left % right == 0 else None
    return None


def moves(a: int, b: int) -> list[tuple[int, str, int, int]]:
    """Every legal step on the pair {a, b}, as (left, op, right, result)."""
    hi, lo = max(a, b), min(a, b)
    moves = [(hi, "+", lo, hi + lo), (hi, "-", lo, hi - lo), (hi, "*", lo, hi * lo)]
    if lo != 0 and hi % lo == 0:
        moves.append((hi, "/", lo, hi // lo))
    return moves  # (0 / hi = 0 is legal too, but 0 * hi reaches the same value)


@lru_cache(maxsize=200_000)
def reachable(numbers: tuple[int, ...]) -> frozenset[int]:
    """All values reachable by combining *all* of ``numbers`` (a sorted tuple)."""
    if len(numbers) == 1:
        return frozenset(numbers)
    values: set[int] = set()
    for i in range(len(numbers)):
        for j in range(i + 1, len(numbers)):
            rest = numbers[:i] + numbers[i + 1 : j] + numbers[j + 1 :]
            for _, _, _, result in moves(numbers[i], numbers[j]):
                values |= reachable(tuple(sorted(rest + (result,))))
    return frozenset(values)


def is_solvable(numbers: tuple[int, ...] | list[int], target: int) -> bool:
    """Whether some solution uses every number once and reaches ``target`` (exhaustive)."""
    return target in reachable(tuple(sorted(numbers)))


def split_of(numbers: tuple[int, ...] | list[int], target: int) -> str:
    """``"test"`` for the held-out tenth of all problems, else ``"train"`` (stable hash)."""
    return split_by_hash(",".join(map(str, sorted(numbers))) + f">{target}")


def split_by_hash(key: str) -> str:
    """``"test"`` for one key in `TEST_BUCKETS` by a stable hash (a task's held-out split), else ``"train"``."""
    return "test" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % TEST_BUCKETS == 0 else "train"


def check_split(split: str) -> None:
    """Raise a ValueError unless ``split`` is one a task's generator takes."""
    if split not in ("test", "train", "any"):
        raise ValueError(f"split must be 'test', 'train' or 'any', not {split!r}")


def parse(text: str) -> list[Step] | None:
    """The steps of a completion, or None if it is malformed. Never raises.

    The completion ends at the first ``.``; steps are separated by commas and read
    ``a op b = c`` (spaces allowed). A direct-answer model writes one expression instead,
    such as ``(13-7)*4*2.``: it reads as the steps that evaluate it (see `parse_expression`).
    A thinking model writes its search before ``#`` (`tsc.tasks.trace`): only what follows
    the last ``#`` is the answer. Anything else makes the whole completion malformed.
    """
    if not isinstance(text, str):
        return None
    if freetext.is_free(answer_part(text)):  # a real model's prose (`tsc.tasks.freetext`)
        return read_free(text)
    body = answer_part(text).split(".", 1)[0]
    if not body.strip():
        return None
    if "=" not in body:
        return parse_expression(body)
    return read_steps(body)


def answer_part(text: str) -> str:
    """What follows the last ``#`` (a thinking model writes its thoughts before it; all of ``text`` without one)."""
    return text.rsplit("#", 1)[-1]


def read_free(text: str) -> list[Step] | None:
    """The solution in a real model's free text (see `tsc.tasks.freetext`), or None. Never raises.

    The line after the last ``Answer:`` counts: its steps ``a op b = c``, else its expression
    (``(13-7)*4*2``, a trailing ``= 48`` dropped). Without such a line, or when it holds
    neither (``Answer: 48``), the last run of lines with steps counts, else the last line
    with an expression.
    """
    body = freetext.clean(text)
    if body is None:
        return None
    region = freetext.answer_region(body)
    candidates = [region] if region else []
    for line in candidates:
        found = freetext.step_matches(line)
        if found:
            return [Step(*step) for step in found]
        expression = freetext.expression_in(line)
        if expression:
            return parse_expression(expression)
    block = freetext.last_step_block(body if region is None else body[: body.lower().rfind("answer")])
    if block:
        return [Step(*step) for step in block]
    for line in reversed(body.splitlines()):
        expression = freetext.expression_in(line)
        if expression:
            return parse_expression(expression)
    return None


def read_steps(body: str, pattern: re.Pattern = _STEP) -> list[Step] | None:
    """Comma-separated steps ``a op b = c`` (one ``pattern`` match each; Countdown's allows
    the four operations), or None if any part is not one. Never raises."""
    steps = []
    for part in body.split(","):
        match = pattern.match(part)
        if match is None:
            return None
        left, op, right, result = match.groups()
        steps.append(Step(int(left), op, int(right), int(result)))
    return steps


_TOKEN = re.compile(r"\s*(\d{1,12}|[-+*/()])", re.ASCII)


def parse_expression(text: str) -> list[Step] | None:
    """An expression such as ``(13-7)*4*2`` as the steps that evaluate it, innermost first
    (``13-7=6,6*4=24,24*2=48``), or None if it is malformed or breaks Countdown's rules on
    the way (a negative difference, an inexact division). Usual precedence, left to right."""
    tokens, at = [], 0
    text = text.rstrip()
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            return None
        tokens.append(match.group(1))
        at = match.end()
    steps: list[Step] = []

    def operand(i: int) -> tuple[int, int] | None:  # (value, next index)
        if i < len(tokens) and tokens[i].isdigit():
            return int(tokens[i]), i + 1
        if i < len(tokens) and tokens[i] == "(":
            inner = chain(i + 1, "+-")
            if inner and inner[1] < len(tokens) and tokens[inner[1]] == ")":
                return inner[0], inner[1] + 1
        return None

    def chain(i: int, ops: str) -> tuple[int, int] | None:  # a sum of products, or a product of operands
        first = chain(i, "*/") if ops == "+-" else operand(i)
        if first is None:
            return None
        value, i = first
        while i < len(tokens) and tokens[i] in ops:
            nxt = chain(i + 1, "*/") if ops == "+-" else operand(i + 1)
            if nxt is None:
                return None
            result = apply(value, tokens[i], nxt[0])
            if result is None:
                return None
            steps.append(Step(value, tokens[i], nxt[0], result))
            value, i = result, nxt[1]
        return value, i

    if len(tokens) > 64:  # far beyond any Countdown answer: refuse rather than recurse
        return None
    parsed = chain(0, "+-")
    return steps if parsed is not None and parsed[1] == len(tokens) and steps else None


def remaining(numbers: tuple[int, ...] | list[int], steps: list[Step]) -> list[int] | None:
    """The numbers left on the table after ``steps``, or None if a step breaks the rules
    (an operand not on the table, a forbidden or wrongly computed result). Never raises."""
    pool = list(numbers)
    for step in steps:
        for operand in (step.left, step.right):
            if operand not in pool:
                return None
            pool.remove(operand)
        if apply(step.left, step.op, step.right) != step.result:
            return None
        pool.append(step.result)
    return pool


def split_steps(text: str) -> list[str]:
    """The completion cut into its steps as text (the unit of process rewards and search).

    Each piece keeps its trailing separator, so ``"".join(split_steps(t))`` rebuilds the
    completion up to and including its final ``.``.
    """
    if not isinstance(text, str):
        return []
    pieces = re.findall(r"[^,.]*[,.]|[^,.]+$", text)
    out: list[str] = []
    for piece in pieces:
        out.append(piece)
        if piece.endswith("."):
            break
    return out


@dataclass(frozen=True)
class Countdown:
    """One Countdown problem: reach ``target`` using every one of ``numbers`` once."""

    numbers: tuple[int, ...]
    target: int

    task = "countdown"

    def prompt(self) -> str:
        """The compact prompt the bundled models were trained on, e.g. ``"13 4 7 2>48:"``."""
        return " ".join(map(str, self.numbers)) + f">{self.target}:"

    def check(self, text: str) -> bool:
        """The oracle: every number used once, each step legal and correctly computed,
        and the last value equals the target. A malformed completion is simply wrong."""
        steps = parse(text)
        return steps is not None and remaining(self.numbers, steps) == [self.target]

    def answer_key(self, text: str) -> str | None:
        """What voting compares: the solution as a canonical expression.

        The target is given, so the final value says nothing; two completions vote together
        when they build the same expression, whatever the order of independent steps or of
        the operands of + and *. Malformed completions have no key (None).
        """
        steps = parse(text)
        if steps is None:
            return None
        exprs: dict[int, list[str]] = {}
        for n in self.numbers:
            exprs.setdefault(n, []).append(str(n))
        last = ""
        for step in steps:
            sides = []
            for operand in (step.left, step.right):
                stack = exprs.get(operand)
                sides.append(stack.pop(0) if stack else str(operand))  # given numbers before results
            if step.op in "+*":
                sides.sort()
            last = f"({sides[0]}{step.op}{sides[1]})"
            exprs.setdefault(step.result, []).append(last)
        return last

    def steps(self, text: str) -> list[str]:
        """The completion split into steps (see `split_steps`)."""
        return split_steps(text)

    def step_labels(self, text: str) -> list[float]:
        """A step-level oracle, one label per piece of `steps`: 1.0 after a step while every
        step so far is legal and the target can still be reached from the numbers left on the
        table (the exhaustive solver decides), else 0.0; the last piece gets the oracle's
        verdict on the whole completion. Never raises."""
        pieces = self.steps(text)
        labels, prefix = [], ""
        for piece in pieces[:-1]:
            prefix += piece
            pool = self.left_after(prefix)
            alive = pool is not None and len(pool) >= 2 and self.target in reachable(tuple(sorted(pool)))
            labels.append(1.0 if alive else 0.0)
        return labels + [1.0 if self.check(text) else 0.0] if pieces else []

    def left_after(self, prefix: str) -> list[int] | None:
        """The numbers left on the table after a step prefix (ending in ``,``), or None if it
        already breaks the rules (a malformed step, an operand not on the table, a wrong result)."""
        steps = parse(prefix.rstrip(","))
        return remaining(self.numbers, steps) if steps is not None else None

    @property
    def difficulty(self) -> int:
        """The problem's place on the difficulty dial: how many numbers it has."""
        return len(self.numbers)

    def question_text(self) -> str:
        """The problem in words, for a real language model (`tsc.tasks.prompts`)."""
        return f"Numbers: {', '.join(map(str, self.numbers))}. Target: {self.target}."

    def solve(self, *, rng: random.Random | None = None) -> list[Step] | None:
        """One solution as a list of steps found by exhaustive search, or None if there is none.

        With ``rng`` the search tries moves in random order, so repeated calls return different
        solutions (the training data uses this so the model sees the variety of correct paths).
        """
        pool, target = list(self.numbers), self.target
        if target not in reachable(tuple(sorted(pool))):
            return None
        steps: list[Step] = []
        while len(pool) > 1:
            options = []
            for i in range(len(pool)):
                for j in range(i + 1, len(pool)):
                    rest = pool[:i] + pool[i + 1 : j] + pool[j + 1 :]
                    for left, op, right, result in moves(pool[i], pool[j]):
                        if target in reachable(tuple(sorted(rest + [result]))):
                            options.append((rest, Step(left, op, right, result)))
            rest, step = rng.choice(options) if rng else options[0]
            steps.append(step)
            pool = rest + [step.result]
        return steps

    def solution_text(self, steps: list[Step]) -> str:
        """Steps in the model's format: ``"13-7=6,6*4=24,24*2=48."``."""
        return ",".join(map(str, steps)) + "."

    def direct_text(self, steps: list[Step]) -> str:
        """The solution as a direct-answer model writes it, one expression with as few brackets as
        precedence allows: ``13-7=6,6*4=24,24*2=48`` on ``13 4 7 2`` gives ``"(13-7)*4*2."``.
        Each step's operands are taken from the given numbers and earlier results."""
        exprs: dict[int, list[tuple[str, str]]] = {}  # value -> [(text, weakest operator outside brackets)]
        for n in self.numbers:
            exprs.setdefault(n, []).append((str(n), ""))
        text = ""
        for step in steps:
            sides = []
            for operand in (step.left, step.right):
                stack = exprs.get(operand)
                sides.append(stack.pop(0) if stack else (str(operand), ""))
            (left, left_op), (right, right_op) = sides
            if step.op in "*/":
                left = f"({left})" if left_op in ("+", "-") else left
                right = f"({right})" if right_op in ("+", "-") or (step.op == "/" and right_op in ("*", "/")) else right
                weakest = "*"
            else:
                right = f"({right})" if step.op == "-" and right_op in ("+", "-") else right
                weakest = "+"
            text = f"{left}{step.op}{right}"
            exprs.setdefault(step.result, []).append((text, weakest))
        return text + "."

    def training_text(self, kind: str, rng: random.Random) -> str:
        """What a model of ``kind`` is trained to write for this problem: a random solution's
        steps (``policy``) or its one expression (``direct``); a ``trace`` model's, a depth-first
        search written out then the answer, is `tsc.tasks.trace.dfs_trace`."""
        steps = self.solve(rng=rng)
        if steps is None:
            raise ValueError(f"{self.prompt()} has no solution to train on")
        if kind == "direct":
            return self.direct_text(steps)
        if kind == "policy":
            return self.solution_text(steps)
        raise ValueError(f"no Countdown training text for a {kind!r} model; kinds: policy, direct (trace: tsc.tasks.trace.dfs_trace)")

    def to_json(self) -> dict:
        return {"numbers": list(self.numbers), "target": self.target}


@dataclass(frozen=True)
class Limits:
    """Which problems a model accepts, and the range it was trained on (said in every error).

    A model accepts problems of ``MIN_SIZE``..``MAX_SIZE`` numbers, each from 1 to
    ``max_number``, and a target from 1 to ``max_target``. For a model trained by `tsc` the
    numbers are held to the range it saw in training (1..13 for the bundled model): outside it
    the prompt holds numbers the model has never read, and its answers mean nothing. Sizes 2
    and 6 and targets above those trained on are accepted but untested; ``trained`` says so.
    """

    max_number: int = MAX_NUMBER
    max_target: int = MAX_ANY_TARGET
    trained: str | None = f"{SIZES[0]}-{SIZES[-1]} numbers from 1 to {MAX_NUMBER}, targets 1 to {MAX_TARGET}"
    model: str = "the bundled model"

    @classmethod
    def for_model(cls, card: dict | None, name: str = "the model") -> Limits:
        """The limits of a model from its card: the trained range for a Countdown model
        trained by `tsc` (read from the card's ``problems`` or ``recipe``, else this module's
        defaults), generous ones (numbers up to ``MAX_ANY_NUMBER``) for any other model."""
        card = card if isinstance(card, dict) else {}
        if card.get("task") != "countdown":
            return cls(max_number=MAX_ANY_NUMBER, trained=None, model=f"model {name!r}")
        seen, recipe = (card[key] if isinstance(card.get(key), dict) else {} for key in ("problems", "recipe"))
        try:
            sizes = [int(s) for s in seen.get("sizes") or recipe.get("sizes") or SIZES]
            max_number = int(seen.get("max_number") or recipe.get("max_number") or MAX_NUMBER)
            max_target = int(seen.get("max_target") or recipe.get("max_target") or MAX_TARGET)
        except (TypeError, ValueError):  # a hand-edited card: fall back to the defaults
            sizes, max_number, max_target = list(SIZES), MAX_NUMBER, MAX_TARGET
        trained = f"{min(sizes)}-{max(sizes)} numbers from 1 to {max_number}, targets 1 to {max_target}"
        return cls(max_number=max_number, max_target=max(max_target, MAX_ANY_TARGET), trained=trained, model=f"model {name!r}")

    def error(self, numbers, target) -> str | None:
        """What is wrong with a problem of ``numbers`` and ``target`` (None if nothing). Never raises."""
        trained = f" ({self.model} was trained on {self.trained})" if self.trained else ""
        numbers = _as_list(numbers)
        if not isinstance(numbers, list):
            return f"'numbers' must be a list of {MIN_SIZE} to {MAX_SIZE} integers, got {describe_value(numbers)}"
        if not MIN_SIZE <= len(numbers) <= MAX_SIZE:
            return f"'numbers' must hold {MIN_SIZE} to {MAX_SIZE} numbers{trained}, got {len(numbers)}"
        for x in numbers:
            if not is_int(x) or not 1 <= x <= self.max_number:
                return f"'numbers' must be integers from 1 to {self.max_number}{trained}, got {describe_value(x)}"
        if not is_int(target) or not 1 <= target <= self.max_target:
            return f"'target' must be an integer from 1 to {self.max_target:,}{trained}, got {describe_value(target)}"
        return None

    def validate(self, numbers, target) -> Countdown:
        """The problem, or a ValueError that says what is wrong and which range is allowed."""
        error = self.error(numbers, target)
        if error:
            raise ValueError(error)
        return Countdown(tuple(int(x) for x in _as_list(numbers)), int(target))


def answer_text(text: str) -> str:
    """A completion as `python -m tsc solve` writes its answer: the steps ``13-7=6, 6*4=24,
    24*2=48`` (a direct model's expression or a real model's prose read as the same steps),
    else what follows a thinking model's ``#``, else the text itself, stripped."""
    steps = parse(text)
    if steps:
        return ", ".join(map(str, steps))
    answer = answer_part(text)
    return text.strip() if freetext.is_free(answer) else answer.strip()


def from_record(record: dict, card: dict | None = None, model: str = "the model") -> Countdown:
    """The problem of a `solve` input line ``{"numbers": [...], "target": T}``, within the
    range the model (its card) accepts; a one-line ValueError says what is wrong."""
    missing = [k for k in ("numbers", "target") if record.get(k) is None]
    if missing:
        raise ValueError(f"missing key(s): {', '.join(missing)}")
    return Limits.for_model(card, model).validate(record["numbers"], record["target"])


CHAT_RULES = (
    "You solve Countdown puzzles. Combine all of the given numbers, each exactly once, with +, -, * and / "
    "to reach the target. Every intermediate result must be a whole number that is not negative, so a "
    "division must be exact. Write one step per line as `a op b = c`, then a last line `Answer: ` followed "
    "by your solution as one expression."
)
CHAT_EXAMPLE_ANSWER = "13 - 7 = 6\n6 * 4 = 24\n24 * 2 = 48\nAnswer: (13 - 7) * 4 * 2"


def validate(numbers, target, *, limits: Limits | None = None) -> Countdown:
    """``Countdown(numbers, target)`` if a model with ``limits`` (default: the bundled
    model's) accepts it, else a ValueError naming the problem and the allowed range."""
    return (limits or Limits()).validate(numbers, target)


def _as_list(numbers):
    """A list or tuple as a list, a 1-D numpy array as its list of Python numbers; else as is."""
    if isinstance(numbers, (list, tuple)):
        return list(numbers)
    if getattr(numbers, "ndim", None) == 1 and callable(getattr(numbers, "tolist", None)):
        return numbers.tolist()
    return numbers


def is_int(x) -> bool:
    """An integer (Python or numpy), not a bool."""
    return isinstance(x, _numbers.Integral) and not isinstance(x, bool)


def describe_value(x) -> str:
    """A short description of a value for an error message (its repr, cut, and its type)."""
    try:
        text = repr(x)
    except Exception:  # e.g. an int beyond Python's 4,300-digit str limit
        text = "?"
    text = cut(text)
    return text if x is None or isinstance(x, bool) or type(x) is int else f"{text} (a {type(x).__name__})"


def cut(text: str) -> str:
    """``text``, cut to 40 characters with ``...`` if it is longer (for an error message)."""
    return text if len(text) <= 40 else text[:37] + "..."


def game_of_24(count: int | None = None, *, seed: int = 0, split: str = "test") -> list[Countdown]:
    """Game of 24 (the benchmark of Tree of Thoughts, Yao et al. 2023) as Countdown problems:
    four numbers from 1..13 and the target 24, every solvable set of four once, in an order
    shuffled by ``seed``; ``count`` of them (all with None). Our rules are Countdown's: whole
    numbers only, so a game that needs a fraction (``3 3 8 8``: 8/(3-8/3)) does not count as
    solvable here. ``split`` as in `generate` (the held-out tenth by default)."""
    check_split(split)
    games = [
        numbers
        for numbers in itertools.combinations_with_replacement(range(1, 14), 4)
        if (split == "any" or split_of(numbers, 24) == split) and is_solvable(numbers, 24)
    ]
    random.Random(seed).shuffle(games)
    if count is not None:
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise ValueError(f"count must be a non-negative integer or None, got {count!r}")
        if count > len(games):
            raise ValueError(f"only {len(games)} solvable games of 24 in the {split!r} split; asked for {count}")
        games = games[:count]
    return [Countdown(numbers, 24) for numbers in games]


def generate(
    count: int,
    *,
    seed: int,
    sizes: tuple[int, ...] = SIZES,
    max_number: int = MAX_NUMBER,
    max_target: int = MAX_TARGET,
    split: str = "test",
) -> list[Countdown]:
    """``count`` problems drawn uniformly over solvable ones, reproducibly from ``seed``.

    Each problem first draws its size uniformly from ``sizes`` (the difficulty dial), then
    numbers in 1..max_number and a target in 1..max_target uniformly until the problem is
    solvable. ``split="test"`` keeps only the held-out tenth of problems that training never
    sees, ``"train"`` only the rest, ``"any"`` both.
    """
    check_split(split)
    if not sizes or any(not isinstance(s, int) or s < 2 for s in sizes):
        raise ValueError(f"sizes must be integers >= 2, got {sizes!r}")
    if max_number < 1 or max_target < 1:
        raise ValueError("max_number and max_target must be positive")
    rng = random.Random(seed)
    problems: list[Countdown] = []
    while len(problems) < count:
        size = rng.choice(sizes)
        for _ in range(MAX_DRAWS):
            numbers = tuple(rng.randint(1, max_number) for _ in range(size))
            target = rng.randint(1, max_target)
            if (split == "any" or split_of(numbers, target) == split) and is_solvable(numbers, target):
                break
        else:  # a dial so narrow that no solvable problem of this split exists would loop forever
            raise ValueError(
                f"no solvable {split!r} problem of {size} numbers in 1..{max_number}, target 1..{max_target} in {MAX_DRAWS:,} draws"
            )
        problems.append(Countdown(numbers, target))
    return problems
