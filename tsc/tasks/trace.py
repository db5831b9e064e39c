"""Search traces for a thinking model: depth-first search over Countdown, written out.

A *trace model* (in the spirit of Stream of Search, Gandhi et al. 2024) is trained to write
its whole search before it answers: moves tried, dead ends, backtracking, and, once it has
found a solution, ``#`` (`THINK_END`) followed by the answer in Countdown's ordinary format.
Given more thinking tokens it searches further, so it solves more problems: the budget knob
of s1's budget forcing (Muennighoff et al. 2025, `tsc.strategies.thinking`).

The format, for the prompt ``13 4 7 2>48:`` (the trace follows it directly)::

    13+4=17 7 2,17+7=24 2,24+2=26>48|24-2=22>48|24*2=48>48#13+4=17,17+7=24,24*2=48.

``13+4`` leaves ``17 7 2``, ``17+7`` leaves ``24 2``, and of the last moves on ``24 2``,
``24+2=26`` and ``24-2=22`` miss the target while ``24*2=48`` hits it: ``#``, then the
answer. A search that has to back up further restates where it returns to, as in
``...|55/11=5>60|||5 6 11 5,6-5=1 11 5,...`` for ``5 6 11 5>60:``.

- A *node* is one move and the numbers left after it, result first: ``13+4=17 7 2`` is the
  move ``13+4=17`` that leaves ``17 7 2`` (everything after ``=``). The state is restated
  after every move, so the model copies the numbers it may use next instead of tracking
  them in its head.
- After a node comes ``,`` (go deeper: the next node is a move on this node's numbers),
  ``|`` (`BACKTRACK`: a dead end, back to the state this node came from) or, on a node
  that leaves one number, the target, ``#`` and the answer.
- The leaves are written out, each last move a node of its own, and the target is copied
  beside its result (``24*2=48>48``), so deciding between ``#`` and ``|`` is comparing two
  numbers side by side. Two designs that did not train, measured on a model of a million
  parameters: leaving the last move implicit (two numbers left: check all four operations
  against the target in the head, then ``#`` or ``|``; traces a third as long) and writing
  the last moves without the target beside them. Either way the model, after 400 steps,
  never wrote ``#`` where the search had found the target (0 of 40 held-out problems; on
  the second design it gave ``#`` a probability of 6 % there, its rate anywhere), so it
  never answered.
- After a single ``|`` the next move on the parent's numbers follows directly: the move just
  abandoned is right before the ``|``, and the parent's numbers are where its first child
  began. After two or more ``|`` in a row (a whole subtree exhausted) the state the search
  returns to is restated, then ``,`` and its next move, so the return point is always
  explicit: a single ``|`` goes up one level, a restated state says where the search is.
  (Restating the parent after every ``|`` as well makes traces half as long again.)
- Moves at a state are tried in one fixed order (pairs of numbers in the order the state is
  written, each pair's operations ``+ - * /`` on larger and smaller, as `countdown.moves`
  lists them), skipping a pair of values already tried at this state (``4 4 7``: one ``4,7``)
  and a move whose result an earlier move on the same pair gave (``6/1`` after ``6*1``). With
  a fixed order the model knows which moves it has tried at a state when it returns to it:
  the last one it tried is just before the ``|`` (or, after a restated state, the move that
  followed this state's previous occurrence), and the next one is its successor in the
  order. A heuristic order (closest result first) would make it compare every untried move
  in its head, and measured, it does not shorten the traces of four numbers.
- The thinking holds only digits, ``+-*/=``, space, ``,`` and ``|``: never ``.`` (where the
  sampler stops) and never ``#``. An exhausted search (no solution found) ends ``#.``.

So a leaf costs about 10 characters (one token each for the character-level tokenizer), a
move deeper about 12 and a restated state as many as it has; ``benchmarks/trace_lengths.py``
measures the traces. `split_trace` cuts a trace into thinking and answer, and
`check_thinking` replays a trace (the model's, say) move by move against Countdown's rules.
"""

from __future__ import annotations

import random
import re

from tsc.tasks.countdown import Countdown, Step, apply, moves

THINK_END = "#"  # ends the thinking; the answer follows in the ordinary Countdown format
BACKTRACK = "|"  # a dead end: back to the state the last move came from
WAIT = BACKTRACK  # what budget forcing appends instead of an early THINK_END: "not solved, keep searching"
# The characters of the trace model's tokenizer: tsc.lm.tokenizer.CHARS (kept in the same
# order, so ids agree with the other models'; tasks do not import tsc.lm) plus the two marks.
TRACE_CHARS = [*"0123456789+-*/=, >:.", BACKTRACK, THINK_END]

_NODE = re.compile(r"(\d{1,12})([-+*/])(\d{1,12})=(\d{1,12}(?: \d{1,12})*)(?:>(\d{1,12}))?", re.ASCII)
_STATE = re.compile(r"\d{1,12}(?: \d{1,12})*", re.ASCII)


def format_state(numbers) -> str:
    """Numbers as a state is written: ``"17 7 2"``."""
    return " ".join(map(str, numbers))


def trace_moves(state, *, max_result: int | None = None) -> list[tuple[Step, tuple[int, ...]]]:
    """The moves a trace tries at ``state``, in order, each with the numbers it leaves
    (result first, then the numbers not used, in order).

    Pairs in the order the state is written; each pair's moves as `countdown.moves` lists
    them. Skipped: a pair of values already tried at this state, a move whose result an
    earlier move on the same pair gave (it leaves the same numbers), and with ``max_result``
    a move whose result is larger.
    """
    state = tuple(state)
    out: list[tuple[Step, tuple[int, ...]]] = []
    pairs: set[tuple[int, int]] = set()
    for i in range(len(state)):
        for j in range(i + 1, len(state)):
            pair = (min(state[i], state[j]), max(state[i], state[j]))
            if pair in pairs:
                continue
            pairs.add(pair)
            rest = state[:i] + state[i + 1 : j] + state[j + 1 :]
            results: set[int] = set()
            for left, op, right, result in moves(state[i], state[j]):
                if result in results or (max_result is not None and result > max_result):
                    continue
                results.add(result)
                out.append((Step(left, op, right, result), (result, *rest)))
    return out


def dfs_trace(problem: Countdown, *, rng: random.Random | None = None, max_result: int | None = None, limit: int | None = None) -> str:
    """The text a trace model is trained to write after ``problem.prompt()``: a depth-first
    search written out (format: the module docstring), then ``#`` and the solution, e.g.
    ``"13+4=17 7 2,17+7=24 2,24+2=26|24-2=22|24*2=48#13+4=17,17+7=24,24*2=48."`` for
    ``13 4 7 2>48:``.

    Moves are tried in `trace_moves` order; with ``rng`` each state's moves are shuffled
    instead, so repeated calls give different searches (the model must then read which moves
    it already tried off the trace: each earlier child of a state follows one of the state's
    occurrences; the fixed order is easier to learn). ``max_result`` prunes moves with larger
    results (a rule a model can imitate; the exhaustive `countdown.reachable` is never used,
    or there would be no search). ``limit`` stops the search once the thinking is longer than
    that many characters. A search that ends without a solution ends ``#.``.
    """
    numbers, target = tuple(problem.numbers), problem.target
    if len(numbers) < 2:
        raise ValueError(f"a trace needs at least 2 numbers, got {numbers!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a positive integer or None, got {limit!r}")
    parts: list[str] = []
    pops = 0  # BACKTRACK marks written since the last node
    path: list[Step] = []

    def visit(state: tuple[int, ...]) -> bool:
        """Search below ``state`` (already written); True once ``path`` reaches the target."""
        nonlocal pops
        if len(state) == 1:  # a leaf: the number just written is the target or not
            return state[0] == target
        children = trace_moves(state, max_result=max_result)
        if rng is not None:
            rng.shuffle(children)
        for step, child in children:
            if limit is not None and sum(map(len, parts)) > limit:
                return False
            if pops == 0:
                sep = "," if parts else ""
            elif pops == 1:
                sep = ""  # a sibling of the node just abandoned
            else:
                sep = format_state(state) + ","  # back up more than one level: say where
            pops = 0
            leaf = f">{target}" if len(child) == 1 else ""  # the target beside the last number: compare, then '#' or '|'
            parts.append(f"{sep}{step.left}{step.op}{step.right}={format_state(child)}{leaf}")
            path.append(step)
            if visit(child):
                return True
            path.pop()
            parts.append(BACKTRACK)
            pops += 1
        return False

    solved = visit(numbers)
    thinking = "".join(parts)
    if not solved:
        return thinking + THINK_END + "."
    return thinking + THINK_END + ",".join(map(str, path)) + "."


def split_trace(text: str) -> tuple[str, str | None]:
    """``(thinking, answer)`` of a trace: the text before the last ``#`` and after it (as
    `countdown.parse` reads it), or ``(text, None)`` when there is no ``#``. Never raises."""
    if not isinstance(text, str):
        return "", None
    thinking, mark, answer = text.rpartition(THINK_END)
    return (thinking, answer) if mark else (text, None)


def check_thinking(problem: Countdown, thinking: str, *, cut: bool = False) -> str | None:
    """What is wrong with ``thinking`` (the part of a trace before ``#``), first; None if
    nothing: every move uses numbers of the state it is made at, is legal and correctly
    computed, every state written holds the right numbers (in any order), backtracking never
    goes above the problem's numbers and the marks follow the format. With ``cut`` the
    thinking was cut off by a budget: its last piece, perhaps unfinished, is not checked.
    Never raises.

    It checks the rules, not the search order: a model that tries moves in its own order,
    or repeats one, writes valid thinking.
    """
    if not isinstance(thinking, str):
        return f"thinking must be a string, got {type(thinking).__name__}"
    stray = sorted((set(thinking) - set(TRACE_CHARS)) | (set(thinking) & {THINK_END, ".", ":"}))
    if stray:
        return f"thinking holds characters it may not: {''.join(stray)!r}"
    pieces = [p for p in re.split(r"([,|])", thinking) if p]
    if cut and pieces and pieces[-1] not in (",", BACKTRACK):
        pieces.pop()
    stack: list[list[int]] = [list(problem.numbers)]  # the states from the problem's down to the current one
    previous = ""  # "" at the start, else "node", "state" (restated), "," or "|"
    for piece in pieces:
        if piece == ",":
            if previous not in ("node", "state"):
                return "',' not after a move or a restated state"
        elif piece == BACKTRACK:
            if previous not in ("node", BACKTRACK):
                return "'|' not after a move or another '|'"
            if len(stack) == 1:
                return "backtracks above the problem's numbers"
            stack.pop()
        elif match := _NODE.fullmatch(piece):
            if previous not in ("", ",", BACKTRACK):
                return f"{piece!r} follows a {previous} without ','"
            left, op, right = int(match[1]), match[2], int(match[3])
            written = [int(x) for x in match[4].split()]
            state = stack[-1]
            pool = list(state)
            for operand in (left, right):
                if operand not in pool:
                    return f"{piece!r}: {operand} is not among the numbers {format_state(state)}"
                pool.remove(operand)
            value = apply(left, op, right)
            if value is None:
                return f"{piece!r}: {left}{op}{right} breaks the rules"
            if value != written[0]:
                return f"{piece!r}: {left}{op}{right} is {value}, not {written[0]}"
            if sorted(written) != sorted([value, *pool]):
                return f"{piece!r}: the numbers left are {format_state([value, *pool])}"
            if match[5] is not None and (len(written) != 1 or int(match[5]) != problem.target):
                return f"{piece!r}: only the last number is compared, with the target {problem.target}"
            stack.append(written)
            piece = "node"
        elif _STATE.fullmatch(piece):
            if previous != BACKTRACK:
                return f"a restated state {piece!r} not after '|'"
            if sorted(int(x) for x in piece.split()) != sorted(stack[-1]):
                return f"restated {piece!r}, but the search is back at {format_state(stack[-1])}"
            piece = "state"
        else:
            return f"cannot read {piece!r}"
        previous = piece
    if previous == "," and not cut:
        return "ends with ','"
    return None
