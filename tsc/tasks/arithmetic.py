"""Multi-step arithmetic: evaluate an expression such as ``7*8-13+6*4`` step by step.

The book's second task. A question is an expression without parentheses over non-negative
integers with ``+ - *`` and the usual precedence; the model answers with one step per
operation, ``7*8=56,6*4=24,56-13=43,43+24=67.``, and the answer is the result of the last
step. Like Countdown, correctness is exactly checkable (the oracle: the answer equals the
value, computed here with Python integers) and every solution splits into steps.

Why a second task: in Countdown the target is given, so the final value of a correct solution
says nothing and self-consistency can only count identical solutions. Here the answer is a
number the model has to find, so majority voting compares something meaningful
(`Arithmetic.answer_key` is that number). Different orders of the steps reach the same
answer, and the gap between a chain of thought and a direct answer (``67.``, see
`Arithmetic.direct_text`) is large.

Valid step orders follow precedence: at each step either any multiplication (its two
operands are numbers of the expression as it stands), or the leftmost ``+``/``-`` once
neither of its operands is part of a pending multiplication. Additions and subtractions thus
run left to right, so the running total never depends on the order, and a question is kept
only if every value any valid order writes stays in 0..``MAX_VALUE`` (the model never writes
a negative number). The format uses only characters of the char tokenizer
(``0123456789+-*=,:.``): the prompt is the question then ``:``, e.g. ``7*8-13+6*4:``.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from tsc.tasks import freetext
from tsc.tasks.countdown import Step, answer_part, check_split, cut, describe_value, is_int, read_steps, split_by_hash
from tsc.tasks.countdown import split_steps as countdown_split_steps

OPS = (2, 3, 4)  # how many operations a training problem has: the first difficulty dial
DIGITS = 2  # operands have 1..DIGITS digits (drawn from 1..10**DIGITS-1): the second dial
MAX_VALUE = 9999  # every value and intermediate result stays within 0..MAX_VALUE
MAX_OPS = 8  # the most operations a question may have (generated or given by a reader)
MAX_DIGITS = 4  # the most digits an operand may have
OPERATORS = "+-*"
MAX_DRAWS = 100_000  # `generate` gives up on a dial after this many rejected draws in a row
EXAMPLE = "7*8-13+6*4"

_NUMBER = re.compile(r"^\s*(\d{1,12})\s*$", re.ASCII)
_STEP = re.compile(r"^\s*(\d{1,12})\s*([-+*])\s*(\d{1,12})\s*=\s*(\d{1,12})\s*$", re.ASCII)

State = tuple[tuple[int, ...], tuple[str, ...]]  # the expression as it stands: numbers, operators


@dataclass(frozen=True)
class Parsed:
    """A parsed completion: its steps (empty for a direct answer) and its answer (the bare
    number, or the result of the last step as written, right or wrong)."""

    steps: tuple[Step, ...]
    answer: int


# --- reading questions --------------------------------------------------------------------


def _diagnose(question) -> tuple[str | None, str | None]:
    """(the question in canonical form, None) or (None, what is wrong with it). Never raises.

    Canonical form: no spaces, operands without leading zeros. The error is one line that
    names the fault and says what is allowed.
    """
    allowed = f"write non-negative integers joined by + - *, such as {EXAMPLE!r} (no parentheses, no negative numbers)"
    if not isinstance(question, str):
        return None, f"the question must be a string, got {describe_value(question)}; {allowed}"
    text = question.strip()
    if not text:
        return None, f"the question is empty; {allowed}"
    bad = next((c for c in text if c not in "0123456789+-* "), None)
    if bad is not None:
        return None, f"the question may hold only digits, + - * and spaces, got {bad!r} in {cut(text)!r}; {allowed}"
    if re.search(r"\d\s+\d", text):
        return None, f"a space between two digits in {cut(text)!r}: write one number, or put an operator between two"
    compact = text.replace(" ", "")
    tokens = re.findall(r"\d+|[-+*]", compact)
    if tokens[0] in OPERATORS:
        return None, f"the question {cut(compact)!r} starts with an operator; {allowed}"
    if tokens[-1] in OPERATORS:
        return None, f"the question {cut(compact)!r} ends with an operator; {allowed}"
    for a, b in zip(tokens, tokens[1:]):
        if a in OPERATORS and b in OPERATORS:
            return None, f"two operators in a row ({a}{b}) in {cut(compact)!r}; {allowed}"
    n_ops = len(tokens) // 2
    if n_ops > MAX_OPS:
        return None, f"the question has {n_ops} operations; at most {MAX_OPS} are allowed"
    for token in tokens[::2]:
        if len(token.lstrip("0")) > MAX_DIGITS:
            return None, f"the operand {cut(token)} has more than {MAX_DIGITS} digits; operands are 0 to {MAX_VALUE}"
    numbers = tuple(int(t) for t in tokens[::2])
    operators = tuple(tokens[1::2])
    canonical = _join(numbers, operators)
    error = _limit_error(numbers, operators)
    return (None, error) if error else (canonical, None)


def _limit_error(numbers: tuple[int, ...], operators: tuple[str, ...]) -> str | None:
    """What breaks the limits (a value beyond MAX_VALUE, a negative running total), or None.

    Multiplications may run in any order, so every product of consecutive factors of a
    product is checked; additions and subtractions run left to right, so the running totals
    are the only other intermediate values.
    """
    terms: list[tuple[int, int]] = []  # (first index, last index) of each product term
    start = 0
    for i, op in enumerate(operators):
        if op != "*":
            terms.append((start, i))
            start = i + 1
    terms.append((start, len(numbers) - 1))
    limit = f"every value and intermediate result must stay within 0..{MAX_VALUE}"
    for first, last in terms:
        for i in range(first, last + 1):
            for j in range(i + 1, last + 1):
                product = math.prod(numbers[i : j + 1])
                if product > MAX_VALUE:
                    part = "*".join(map(str, numbers[i : j + 1]))
                    return f"{cut(_join(numbers, operators))!r} goes beyond {MAX_VALUE}: {part} = {product} ({limit})"
    total = math.prod(numbers[terms[0][0] : terms[0][1] + 1])
    for first, last in terms[1:]:
        term = math.prod(numbers[first : last + 1])
        total = total + term if operators[first - 1] == "+" else total - term
        prefix = _join(numbers[: last + 1], operators[:last])
        if total > MAX_VALUE:
            return f"{cut(_join(numbers, operators))!r} goes beyond {MAX_VALUE}: {prefix} = {total} ({limit})"
        if total < 0:
            return (
                f"{cut(_join(numbers, operators))!r} goes negative: {prefix} = {total} (the steps never write a negative number; {limit})"
            )
    return None


def _join(numbers, operators) -> str:
    """Numbers and operators written as an expression, e.g. ``7*8-13``."""
    return "".join(f"{op}{n}" for op, n in zip(("",) + tuple(operators), numbers))


@lru_cache(maxsize=100_000)
def _state(question: str) -> State:
    """The numbers and operators of a canonical question."""
    tokens = re.findall(r"\d+|[-+*]", question)
    return tuple(int(t) for t in tokens[::2]), tuple(tokens[1::2])


# --- steps and orders ---------------------------------------------------------------------


def _moves(state: State) -> list[tuple[int, Step]]:
    """Every valid next step of the expression ``state``, as (operator index, step).

    Any multiplication is valid; the leftmost ``+``/``-`` only once no multiplication is
    pending on either side of it, i.e. when it is the first operator and the next one is not
    ``*``.
    """
    numbers, operators = state
    moves = [(i, Step(numbers[i], "*", numbers[i + 1], numbers[i] * numbers[i + 1])) for i, op in enumerate(operators) if op == "*"]
    if operators and operators[0] != "*" and (len(operators) == 1 or operators[1] != "*"):
        op = operators[0]
        moves.append((0, Step(numbers[0], op, numbers[1], numbers[0] + numbers[1] if op == "+" else numbers[0] - numbers[1])))
    moves.sort(key=lambda move: (move[1].op != "*", move[0]))  # the canonical order first
    return moves


def _reduce(state: State, index: int, result: int) -> State:
    """The expression after the operation at ``index`` is replaced by its ``result``."""
    numbers, operators = state
    return numbers[:index] + (result,) + numbers[index + 2 :], operators[:index] + operators[index + 1 :]


def _successors(state: State, step: Step) -> list[State]:
    """The expressions a written step can lead to from ``state`` (empty if it is no valid
    next step or is miscomputed). Operands of + and * may be written in either order; the same
    multiplication can occur twice (``2*3+2*3``), hence a list."""
    out = []
    for index, move in _moves(state):
        same = (step.left, step.right) == (move.left, move.right)
        swapped = move.op in "+*" and (step.right, step.left) == (move.left, move.right)
        if step.op == move.op and (same or swapped) and step.result == move.result:
            out.append(_reduce(state, index, move.result))
    return out


# --- reading completions ------------------------------------------------------------------


def parse(text: str) -> Parsed | None:
    """The steps and answer of a completion, or None if it is malformed. Never raises.

    Only what follows the last ``#`` counts (thoughts come before it), and the completion
    ends at the first ``.`` (optional). It is either a bare number (a direct answer) or steps
    ``a op b = c`` (op one of ``+ - *``, spaces allowed) separated by commas; the answer is the
    bare number or the result of the last step as written.
    """
    if not isinstance(text, str):
        return None
    if freetext.is_free(answer_part(text)):  # a real model's prose: its answer, not its steps
        answer = read_free_answer(text)
        return Parsed((), answer) if answer is not None else None
    body = answer_part(text).split(".", 1)[0]
    number = _NUMBER.match(body)
    if number is not None:
        return Parsed((), int(number.group(1)))
    steps = read_steps(body, _STEP)
    return Parsed(tuple(steps), steps[-1].result) if steps else None


def read_free_answer(text: str) -> int | None:
    """The answer in a real model's free text (see `tsc.tasks.freetext`), or None: the number
    after the last ``=`` of the line after the last ``Answer:``, else that line's last number,
    else the last number of the text. Never raises."""
    body = freetext.clean(text)
    if body is None:
        return None
    region = freetext.answer_region(body)
    if region:
        return freetext.last_number(region.rsplit("=", 1)[-1]) if "=" in region else freetext.last_number(region)
    return freetext.last_number(body)


def split_steps(text: str) -> list[str]:
    """The completion cut into its steps as text (the unit of process rewards and search).

    Each piece keeps its trailing separator and pieces stop at the first ``.`` after the last
    ``#``; thoughts up to and including that ``#`` stay at the head of the first piece, so
    ``"".join(split_steps(t))`` rebuilds the completion up to and including its final ``.``.
    """
    if not isinstance(text, str):
        return []
    head, hash_, tail = text.rpartition("#")
    head += hash_
    out = countdown_split_steps(tail)  # the same separators as Countdown's steps
    if head:
        out = [head + out[0]] + out[1:] if out else [head]
    return out


def split_of(question: str) -> str:
    """``"test"`` for the held-out tenth of all questions, else ``"train"`` (stable hash)."""
    return split_by_hash(question.replace(" ", ""))


@dataclass(frozen=True)
class Arithmetic:
    """One question: evaluate ``question`` (canonical form, e.g. ``"7*8-13+6*4"``).

    Building one checks the question (a ValueError says what is wrong); `validate` also
    accepts a reader's spelling (spaces, leading zeros) and returns the canonical problem.
    """

    question: str

    task = "arithmetic"

    def __post_init__(self) -> None:
        canonical, error = _diagnose(self.question)
        if error:
            raise ValueError(error)
        if canonical != self.question:
            raise ValueError(f"write the question as {canonical!r} (no spaces, no leading zeros), or pass it to arithmetic.validate")

    @property
    def value(self) -> int:
        """The exact value of the question (the answer the oracle expects; Python integers, no ``eval``)."""
        steps = self.solve()
        return steps[-1].result if steps else _state(self.question)[0][0]

    @property
    def difficulty(self) -> int:
        """The problem's place on the difficulty dial: how many operations it has."""
        return sum(c in OPERATORS for c in self.question)

    def question_text(self) -> str:
        """The question in words, for a real language model (`tsc.tasks.prompts`)."""
        return f"Evaluate: {self.question}"

    def prompt(self) -> str:
        """The compact prompt: the question then ``:``, e.g. ``"7*8-13+6*4:"``."""
        return self.question + ":"

    def check(self, text: str) -> bool:
        """The oracle: the answer equals the value. A malformed completion is simply wrong.

        The steps are not checked (final-answer grading, as for GSM8K): a lucky answer after
        wrong steps counts. `step_labels` judges the steps.
        """
        parsed = parse(text)
        return parsed is not None and parsed.answer == self.value

    def answer_key(self, text: str) -> str | None:
        """What voting compares: the answer number (``"67"``), None if malformed.

        Chains that take the steps in different orders, or reach the answer directly, vote
        together.
        """
        parsed = parse(text)
        return None if parsed is None else str(parsed.answer)

    def steps(self, text: str) -> list[str]:
        """The completion split into steps (see `split_steps`)."""
        return split_steps(text)

    def step_labels(self, text: str) -> list[float]:
        """A step-level oracle, one label per piece of `steps`: 1.0 while each step is
        correctly computed and a valid next step of the expression left by the steps before
        it, 0.0 from the first step that is not (what a process reward model learns).

        Operands of + and * may be written in either order. A step that ends the completion
        (with ``.``) must also finish the evaluation: stopping early is a bad step. A direct
        answer (a bare number alone) is labelled 1.0 if it is the value. Never raises.
        """
        pieces = split_steps(text)
        if not pieces:
            return []
        body = split_steps(answer_part(text))
        labels: list[float] = []
        states = [_state(self.question)]
        for i, piece in enumerate(body):
            content = piece[:-1] if piece.endswith((",", ".")) else piece
            final = piece.endswith(".")
            written = read_steps(content, _STEP)  # one step: the piece holds no comma
            if written:
                states = [new for state in states for new in _successors(state, written[0])]
                good = bool(states) and (not final or any(not ops for _, ops in states))
            else:
                number = _NUMBER.match(content)
                good = number is not None and i == 0 and len(body) == 1 and piece[-1:] != "," and int(number.group(1)) == self.value
            if not good:
                break
            labels.append(1.0)
        return labels + [0.0] * (len(pieces) - len(labels))

    def solve(self, *, rng: random.Random | None = None) -> list[Step]:
        """The steps that evaluate the question, one per operation.

        Without ``rng`` in the canonical order (multiplications left to right, then additions and
        subtractions left to right); with ``rng`` a uniformly random valid next step at each step,
        so repeated calls write different chains that reach the same answer (the training data
        uses this variety, so that sampled chains differ and self-consistency has votes to count).
        """
        state = _state(self.question)
        steps = []
        while state[1]:
            moves = _moves(state)
            index, step = rng.choice(moves) if rng else moves[0]
            steps.append(step)
            state = _reduce(state, index, step.result)
        return steps

    def solution_text(self, steps: list[Step]) -> str:
        """Steps in the model's format: ``"7*8=56,6*4=24,56-13=43,43+24=67."``."""
        return ",".join(map(str, steps)) + "."

    def direct_text(self) -> str:
        """The direct-answer target: the value and ``.``, e.g. ``"67."``."""
        return f"{self.value}."

    def training_text(self, kind: str, rng: random.Random) -> str:
        """What a model of ``kind`` is trained to write: the steps in a random valid order,
        each + and * with its operands swapped or not at random (``78*98=7644`` or
        ``98*78=7644``), or the value alone (``direct``). Sampled chains of thought of a
        ``policy`` model then differ in how they compute, not only in their order, so their
        mistakes are less alike and a vote has more to gain."""
        if kind == "direct":
            return self.direct_text()
        if kind == "policy":
            steps = self.solve(rng=rng)
            return self.solution_text([Step(s.right, s.op, s.left, s.result) if s.op in "+*" and rng.random() < 0.5 else s for s in steps])
        raise ValueError(f"no arithmetic training text for a {kind!r} model; kinds: policy, direct")

    def to_json(self) -> dict:
        return {"question": self.question}


def answer_text(text: str) -> int | None:
    """A completion as `python -m tsc solve` writes its answer: the number (None if none)."""
    parsed = parse(text)
    return parsed.answer if parsed is not None else None


def from_record(record: dict, card: dict | None = None, model: str = "the model") -> Arithmetic:
    """The question of a `solve` input line ``{"question": "7*8-13+6*4"}``; a one-line
    ValueError says what is wrong."""
    if record.get("question") is None:
        raise ValueError('missing key: question (arithmetic lines read {"question": "7*8-13+6*4"})')
    return validate(record["question"])


CHAT_RULES = (
    "You evaluate arithmetic expressions with the usual precedence: multiplications first, then additions "
    "and subtractions from left to right. Write one operation per line as `a op b = c`, then a last line "
    "`Answer: ` followed by the value."
)
CHAT_EXAMPLE_ANSWER = "7 * 8 = 56\n6 * 4 = 24\n56 - 13 = 43\n43 + 24 = 67\nAnswer: 67"


def validate(question: str) -> Arithmetic:
    """The problem for a reader's ``question`` (spaces allowed, removed), or a one-line
    ValueError that says what is wrong and what is allowed: only digits, ``+ - *`` and
    spaces; numbers and operators alternating; at most ``MAX_OPS`` operations and
    ``MAX_DIGITS`` digits an operand; every value and intermediate result in 0..MAX_VALUE."""
    canonical, error = _diagnose(question)
    if error or canonical is None:
        raise ValueError(error)
    return Arithmetic(canonical)


def generate(count: int, *, seed: int, ops: tuple[int, ...] = OPS, digits: int = DIGITS, split: str = "test") -> list[Arithmetic]:
    """``count`` questions, reproducibly from ``seed``.

    Each question first draws its number of operations uniformly from ``ops`` (the difficulty
    dial), then operands of 1..``digits`` digits (the digit count uniform, see `_operand`) and
    operators uniformly from ``+ - *``,
    until the draw keeps within the limits (see `validate`) and belongs to ``split``:
    ``"test"`` keeps only the held-out tenth that training never sees, ``"train"`` only the
    rest, ``"any"`` both.
    """
    check_split(split)
    if isinstance(ops, int) and not isinstance(ops, bool):
        ops = (ops,)
    if not isinstance(ops, (tuple, list)) or not ops or any(not is_int(k) or not 1 <= k <= MAX_OPS for k in ops):
        raise ValueError(f"ops must be a non-empty tuple of operation counts from 1 to {MAX_OPS}, got {ops!r}")
    if not is_int(digits) or not 1 <= digits <= MAX_DIGITS:
        raise ValueError(f"digits must be an integer from 1 to {MAX_DIGITS}, got {digits!r}")
    if not is_int(count) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    rng = random.Random(seed)
    problems: list[Arithmetic] = []
    while len(problems) < count:
        n_ops = rng.choice(tuple(ops))
        for _ in range(MAX_DRAWS):
            numbers = tuple(_operand(rng, digits) for _ in range(n_ops + 1))
            operators = tuple(rng.choice(OPERATORS) for _ in range(n_ops))
            question = _join(numbers, operators)
            if (split == "any" or split_of(question) == split) and _limit_error(numbers, operators) is None:
                break
        else:  # no draw of this dial keeps within the limits: give up instead of looping forever
            raise ValueError(
                f"no {split!r} question of {n_ops} operations on {digits}-digit operands within 0..{MAX_VALUE} in {MAX_DRAWS:,} draws"
            )
        problems.append(Arithmetic(question))
    return problems


def _operand(rng: random.Random, digits: int) -> int:
    """An operand of 1..``digits`` digits: the digit count uniform, then the number uniform
    among those with that many digits (1..9, 10..99, ...), so short operands stay common:
    `7*43` is a step a small model can learn, `78*98` in one go much less so."""
    width = rng.randint(1, digits)
    return rng.randint(1 if width == 1 else 10 ** (width - 1), 10**width - 1)
