"""Tree search over reasoning steps: step beam search, DVTS, Tree of Thoughts (BFS, DFS), MCTS.

A *step* is one piece of a solution up to and including its separator: a Countdown step is
one equation ending in ``,`` or, for the last one, ``.`` (``13-7=6,``). Every strategy here
grows a tree whose root is the prompt and whose nodes are partial solutions, one step
deeper than their parent. They share one primitive, `Tree.expand`: a single batched policy
call samples the next step of every node it is given (``stop=(",", ".")``), and a single
verifier call scores the new partial solutions step by step (``verifier.score_steps``).
The strategies differ only in which nodes they expand and which they keep:

- beam_search: keep the ``beam_width`` best partial solutions, each sampling ``expansions``
  next steps (step-level beam search guided by a PRM, as in huggingface/search-and-learn).
- dvts: ``subtrees`` independent beams of width one (diverse verifier tree search,
  Beeching et al. 2024): less greedy than one wide beam, so more diverse answers.
- tot_bfs: Tree of Thoughts breadth-first search (Yao et al. 2023): keep the ``breadth`` best
  states of each depth, finished ones included.
- dfs: Tree of Thoughts depth-first search: best child first, prune below ``threshold``,
  backtrack from dead ends, stop at the first solution the verifier accepts.
- mcts: Monte Carlo tree search with PUCT selection (AlphaZero, Silver et al. 2017): the
  policy's step probabilities are the ``prior``, the verifier's score (or a ``rollout``'s) the
  ``value``; ``visits`` decide the answer.

The particle filter (`tsc.strategies.particle`) grows the same `Tree` with the same
``expand``, keeping partial solutions in proportion to the verifier's scores instead.

The model stays outside the search (mctx style): it is reached only through
``policy.sample`` and the verifier, and every call is charged to the `Result`'s ledger,
policy and verifier FLOPs apart. Malformed model output is a dead branch (value 0), never an
error; a search that ends without a finished solution answers with its best partial one
completed greedily by the policy (charged like every other call). ``trace["tree"]`` lists
every node (id, parent, step, text, score, prior, visits, value, kept, chosen, ...) so the
search can be drawn.

Glossary of knobs: ``expansions`` = next steps sampled per expanded node; ``beam_width`` and
``breadth`` = nodes kept per depth; ``max_steps`` = deepest level searched (a Countdown
problem of k numbers needs k-1 steps); ``max_new_tokens`` = the most tokens one policy call
may write (one step, or one rollout); ``aggregate`` = how a node's step scores become one
score (``"last"``: the verifier's judgement after its newest step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tsc.compute import Ledger
from tsc.core import AGGREGATES, Policy, Problem, Result, StepVerifier, Verifier, is_real, writes_compact
from tsc.strategies.base import MAX_SAMPLES, check_knobs, check_problem, check_step_verifier, is_int, make_result, softmax
from tsc.strategies.reuse import reuses_prefixes
from tsc.strategies.sequential import check_threshold

STEP_END = (",", ".")  # a step ends at a comma; the last step at the full stop
MAX_STEPS = 64  # deeper than any problem a model of ours can read
MAX_CALLS = 10_000  # sequential policy calls (simulations, DFS expansions): beyond this a CPU runs for hours
VALUES = ("verifier", "rollout")
RESAMPLING = ("systematic", "multinomial")  # how a particle filter draws its next particles
# the columns of trace["tree"], one row per node (`Tree.trace`)
NODE_FIELDS = ("id", "parent", "step", "text", "depth", "score", "prior", "logprob", "count", "visits", "value", "group", "finished",
               "dead", "kept", "chosen", "rollout")  # fmt: skip


@dataclass(eq=False)
class Node:
    """One state of the search: the partial solution ``text`` (every step so far).

    ``step`` is the last step (``text`` of the parent plus ``step`` is ``text``), ``count`` how
    many samples proposed it, ``logprob`` its log-probability under the policy, ``prior`` that
    probability normalised over its siblings, ``score`` the verifier's judgement (None while
    unscored), ``visits`` and ``value`` (mean backed-up value) MCTS's statistics.
    """

    id: int
    parent: Node | None
    text: str
    step: str
    depth: int
    logprob: float = 0.0
    count: int = 1
    group: int = 0
    prior: float = 1.0
    score: float | None = None
    visits: int = 0
    value_sum: float = 0.0
    kept: bool = False
    rollout: str | None = None
    children: list[Node] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.step.endswith(".") and not self.dead

    @property
    def dead(self) -> bool:
        """A step the policy did not end (cut off) or left empty: a branch that leads nowhere."""
        return self.parent is not None and (not self.step.endswith(STEP_END) or not self.step.rstrip(",.").strip())

    @property
    def value(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0


def check_search_knobs(
    *,
    beam_width=None,
    expansions=None,
    subtrees=None,
    breadth=None,
    simulations=None,
    max_expansions=None,
    max_steps=None,
    c_puct=None,
    aggregate=None,
    value=None,
    particles=None,
    reward_temperature=None,
    resampling=None,
    threshold=None,
) -> None:
    """Raise a ValueError naming the knob, its allowed range and the value given (None: not checked).

    The strategies check their knobs with it before sampling; the CLI before it loads a model.
    """
    for name, x, top, what in (
        ("beam_width", beam_width, MAX_SAMPLES, "partial solutions kept per depth"),
        ("expansions", expansions, MAX_SAMPLES, "next steps sampled per node"),
        ("subtrees", subtrees, MAX_SAMPLES, "independent beams"),
        ("breadth", breadth, MAX_SAMPLES, "states kept per depth"),
        ("simulations", simulations, MAX_CALLS, "MCTS simulations"),
        ("max_expansions", max_expansions, MAX_CALLS, "policy calls"),
        ("max_steps", max_steps, MAX_STEPS, "deepest level searched"),
        ("particles", particles, MAX_SAMPLES, "partial solutions carried from step to step"),
    ):
        if x is not None and (not is_int(x) or not 1 <= x <= top):
            raise ValueError(f"{name} ({what}) must be an integer from 1 to {top:,}, got {x!r}")
    for name, width in (("beam_width", beam_width), ("subtrees", subtrees), ("breadth", breadth)):
        if width is not None and expansions is not None and width * expansions > MAX_SAMPLES:
            raise ValueError(f"{name} * expansions (samples per depth) must be at most {MAX_SAMPLES:,}, got {width * expansions:,}")
    if c_puct is not None and (not is_real(c_puct) or c_puct < 0):
        raise ValueError(f"c_puct (weight of the prior in PUCT) must be a finite number >= 0, got {c_puct!r}")
    if aggregate is not None and aggregate not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {', '.join(map(repr, sorted(AGGREGATES)))}, got {aggregate!r}")
    if value is not None and value not in VALUES:
        raise ValueError(f"value must be one of {', '.join(map(repr, VALUES))}, got {value!r}")
    if reward_temperature is not None and (not is_real(reward_temperature) or reward_temperature <= 0):
        what = "how sharply the verifier's scores weight the particles"
        raise ValueError(f"reward_temperature ({what}) must be a finite number > 0, got {reward_temperature!r}")
    if resampling is not None and resampling not in RESAMPLING:
        raise ValueError(f"resampling must be one of {', '.join(map(repr, RESAMPLING))}, got {resampling!r}")
    check_threshold(threshold, optional=True)


def search_tree(
    strategy: str, problem, policy, verifier, *, needs: str = "score_steps", aggregate: str = "last", temperature: float, seed: int,
    max_new_tokens: int, **knobs
) -> Tree:  # fmt: skip
    """A search's empty tree, once every knob, the problem, the policy and the verifier are
    checked (before anything is sampled). ``needs``: what the verifier must score, steps
    (``"score_steps"``) or whole completions (``"score"``)."""
    check_knobs(temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)
    check_search_knobs(aggregate=aggregate, **knobs)
    check_problem(problem, policy)
    if not writes_compact(policy):
        raise ValueError(f"{strategy} grows answers step by step at ',' (the compact format); {policy!r} writes free text")
    if not callable(getattr(problem, "steps", None)):
        raise ValueError(f"{strategy} searches over steps: the problem needs a steps(text) method; got {type(problem).__name__}")
    if needs == "score_steps":
        check_step_verifier(
            strategy, verifier, "the process reward model (tsc.verifiers.PRM()) or the step oracle (tsc.verifiers.StepOracle())"
        )
    elif not isinstance(verifier, Verifier):
        raise ValueError(
            f"{strategy} needs a verifier with score(problem, texts, ledger=...), e.g. tsc.verifiers.Oracle(); got {verifier!r}"
        )
    return Tree(problem, policy, verifier, aggregate=aggregate, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens,
                stepwise=needs == "score_steps")  # fmt: skip


def _finite(x) -> float:
    x = float(x)
    return x if math.isfinite(x) else 0.0


class Tree:
    """The search tree and the one way to grow it, charging every model call to ``ledger``."""

    def __init__(
        self, problem, policy, verifier, *, aggregate: str, temperature: float, seed: int, max_new_tokens: int, stepwise: bool = True
    ):
        self.problem, self.policy, self.verifier, self.stepwise = problem, policy, verifier, stepwise  # stepwise: score_steps
        self.aggregate, self.temperature, self.seed, self.max_new_tokens = aggregate, temperature, seed, max_new_tokens
        self.prompt = policy.format(problem)
        self.ledger = Ledger()
        self.nodes = [Node(0, None, "", "", 0, kept=True)]
        self.policy_calls = 0
        self._steps: dict[str, list[float]] = {}  # text -> its step scores: each distinct text is scored once
        self._scores: dict[str, float] = {}  # whole completion -> verifier.score (rollouts)

    @property
    def root(self) -> Node:
        return self.nodes[0]

    def _sample(self, prompts: list[str], *, n: int, temperature: float, stop: tuple[str, ...]):
        rows = self.policy.sample(
            prompts,
            n=n,
            temperature=temperature,
            seed=self.seed + self.policy_calls,  # a new seed per call: a re-expanded node gets new samples
            max_new_tokens=self.max_new_tokens,
            stop=stop,
            ledger=self.ledger,
        )
        self.policy_calls += 1
        return rows

    def expand(self, parents: list[Node], *, n: int, groups: list[int] | None = None, score: bool = True) -> list[list[Node]]:
        """Sample ``n`` next steps of every parent in one policy call; their distinct steps
        become children (priors = step probabilities normalised over siblings); with ``score``
        one verifier call scores the new nodes. Returns each parent's new children."""
        if not parents:
            return []
        rows = self._sample([self.prompt + p.text for p in parents], n=n, temperature=self.temperature, stop=STEP_END)
        families = []
        for i, (parent, row) in enumerate(zip(parents, rows)):
            family: dict[str, Node] = {}
            for completion in row:
                pieces = self.problem.steps(completion.text)  # a policy that ignores stop is cut to its first step
                step = pieces[0] if pieces else completion.text
                if step in family:
                    family[step].count += 1
                    continue
                group = groups[i] if groups is not None else parent.group
                logprob = float(completion.logprob)
                logprob = logprob if math.isfinite(logprob) else -1e30  # a step the model finds impossible: prior ~0
                node = Node(len(self.nodes), parent, parent.text + step, step, parent.depth + 1, logprob, group=group)
                self.nodes.append(node)
                family[step] = node
            kids = list(family.values())
            for kid, prior in zip(kids, softmax([k.logprob for k in kids])):  # over siblings
                kid.prior = prior
            parent.children += kids
            families.append(kids)
        if score:
            self.score([k for kids in families for k in kids])
        return families

    def _verify(self, texts: list[str]) -> None:
        """Step scores of the texts not scored before, in one verifier call.

        A partial solution (ending in ``,``) is sent with an empty last step (``.``) and only
        its own steps' scores are read: a step verifier may judge a text's last step as the
        final answer (the step oracle does), and every step of a partial solution is an
        intermediate one. A causal reward model's scores of the earlier steps do not change;
        the extra token costs one token of verifier compute.
        """
        todo = [t for t in dict.fromkeys(texts) if t not in self._steps]
        if todo:
            probes = [t + "." if t.endswith(",") else t for t in todo]
            rows = self.verifier.score_steps(self.problem, probes, ledger=self.ledger)
            for text, row in zip(todo, rows):
                self._steps[text] = [_finite(s) for s in row]

    def _aggregate(self, text: str, depth: int) -> float:
        steps = self._steps.get(text, [])[:depth]
        # a verifier that could not read every step gives no judgement of the newest one
        return AGGREGATES[self.aggregate](steps) if steps and len(steps) == depth else 0.0

    def score(self, nodes: list[Node]) -> None:
        """Set each node's score from its step scores (one verifier call; a dead node scores 0)."""
        self._verify([n.text for n in nodes if not n.dead])
        for node in nodes:
            node.score = 0.0 if node.dead else self._aggregate(node.text, node.depth)

    def score_text(self, text: str) -> float:
        """The aggregated step score of a whole completion (one verifier call if not seen before)."""
        self._verify([text])
        return self._aggregate(text, len(self.problem.steps(text)))

    def judge(self, text: str) -> float:
        """The verifier's score of a whole completion (one call per text not judged before)."""
        if text not in self._scores:
            scores = self.verifier.score(self.problem, [text], ledger=self.ledger)
            self._scores[text] = _finite(scores[0]) if len(scores) else 0.0
        return self._scores[text]

    def complete(self, node: Node, *, temperature: float) -> str:
        """The rest of a solution after ``node``, written by the policy in one call (up to ``.``)."""
        [[completion]] = self._sample([self.prompt + node.text], n=1, temperature=temperature, stop=(".",))
        return completion.text

    def trace(self, chosen: Node | None) -> list[dict]:
        """Every node as a dict (for a tree viewer); ``chosen`` marks the path to the answer."""
        path = set()
        while chosen is not None:
            path.add(chosen.id)
            chosen = chosen.parent
        rows = []
        for n in self.nodes:
            row = {k: getattr(n, k, None) for k in NODE_FIELDS}  # "parent" and "chosen" are filled in below, in place
            row.update(parent=n.parent.id if n.parent is not None else None, chosen=n.id in path)
            rows.append(row)
        return rows

    def result(self, strategy: str, node: Node, **extra) -> Result:
        """The Result, every finished node a candidate. A finished ``node`` is the answer; an
        unfinished one (a partial solution, or the root when every branch died) is completed
        greedily by the policy (one more policy call), and the completion, scored by the
        verifier, is the answer (``trace["completed"]``: what the policy added)."""
        finished = [n for n in self.nodes if n.finished]
        texts, scores = [n.text for n in finished], [n.score or 0.0 for n in finished]
        completed = None
        if node.finished:
            chosen = finished.index(node)
        else:
            completed = self.complete(node, temperature=0.0)
            text = node.text + completed
            texts.append(text)
            scores.append(self.score_text(text) if self.stepwise else self.judge(text))
            chosen = len(texts) - 1
        trace = {"tree": self.trace(node), "policy_calls": self.policy_calls, "aggregate": self.aggregate, "completed": completed}
        return make_result(self.problem, texts, chosen, scores, self.ledger, strategy, dict(trace, **extra))


def _top(nodes: list[Node], k: int) -> list[Node]:
    """The ``k`` best-scoring nodes with distinct texts (the earlier on ties)."""
    seen: set[str] = set()
    best = []
    for node in sorted(nodes, key=lambda n: (-(n.score or 0.0), n.id)):
        if node.text not in seen:
            seen.add(node.text)
            best.append(node)
    return best[:k]


def _best(tree: Tree) -> Node:
    """The best-scoring finished node; else the best unfinished live one (deeper on ties); else the root."""
    finished = [n for n in tree.nodes if n.finished]
    if finished:
        return max(finished, key=lambda n: (n.score or 0.0, -n.id))
    alive = [n for n in tree.nodes[1:] if not n.dead]
    return max(alive, key=lambda n: (n.score or 0.0, n.depth, -n.id)) if alive else tree.root


def _beams(tree: Tree, beams: int, *, width: int, first: int, expansions: int, max_steps: int) -> None:
    """Grow ``beams`` independent beams from the root, all of them in one policy call per depth.

    Each beam samples ``first`` first steps from the root and then ``expansions`` next steps
    per kept node; finished candidates are set aside; the ``width`` best unfinished ones go
    on. A beam stops once it has ``width`` finished candidates or nothing left to expand.
    """
    frontiers = [[tree.root] for _ in range(beams)]
    found = [0] * beams
    for depth in range(max_steps):
        live = [b for b in range(beams) if frontiers[b] and found[b] < width]
        if not live:
            break
        # 1. expand every kept node of every live beam: one policy call, one verifier call
        owners = [b for b in live for _ in frontiers[b]]
        families = tree.expand([p for b in live for p in frontiers[b]], n=first if depth == 0 else expansions, groups=owners)
        pool: dict[int, list[Node]] = {b: [] for b in live}
        for b, kids in zip(owners, families):
            pool[b] += [k for k in kids if not k.dead]
        for b in live:
            # 2. set the finished candidates aside; 3. keep the best `width` unfinished ones
            done = [k for k in pool[b] if k.finished]
            found[b] += len(done)
            frontiers[b] = _top([k for k in pool[b] if not k.finished], width)
            for node in done + frontiers[b]:
                node.kept = True


@reuses_prefixes
def beam_search(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    beam_width: int = 4,
    expansions: int = 4,
    aggregate: str = "last",
    max_steps: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Step-level beam search guided by a step verifier (search-and-learn's beam search).

    1. The root samples ``beam_width * expansions`` first steps (the budget of every depth).
    2. The verifier scores each candidate's steps (``aggregate`` makes one score of them).
    3. Finished candidates (ending in ``.``) are set aside; the ``beam_width`` best unfinished
       ones (distinct texts) are the beams; each samples ``expansions`` next steps, all beams
       in one batched policy call.
    4. Stop when ``beam_width`` candidates have finished, or after ``max_steps`` steps.

    The answer is the best-scoring finished candidate (the first on ties); if none finished,
    the best unfinished one completed greedily (`Tree.result`). Per depth: one policy call
    and one verifier call (only texts not scored before are sent).
    """
    tree = search_tree("beam_search", problem, policy, verifier, beam_width=beam_width, expansions=expansions, aggregate=aggregate,
           max_steps=max_steps, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)  # fmt: skip
    _beams(tree, 1, width=beam_width, first=beam_width * expansions, expansions=expansions, max_steps=max_steps)
    return tree.result("beam", _best(tree), beam_width=beam_width, expansions=expansions)


@reuses_prefixes
def dvts(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    subtrees: int = 4,
    expansions: int = 4,
    aggregate: str = "last",
    max_steps: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Diverse verifier tree search: ``subtrees`` independent beams of width one.

    The budget of a beam search with ``beam_width = subtrees`` is split into independent
    subtrees (search-and-learn's DVTS): each samples ``expansions`` next steps of its one
    node, keeps the best-scoring unfinished one and stops at its first finished candidate.
    One wide beam tends to collapse onto the few prefixes the verifier likes best; separate
    subtrees cannot, so the answers are more diverse. All subtrees share each depth's policy
    call and verifier call. The answer is the best-scoring finished leaf of any subtree
    (``trace["tree"]`` gives each node's ``group``, its subtree).
    """
    tree = search_tree("dvts", problem, policy, verifier, subtrees=subtrees, expansions=expansions, aggregate=aggregate,
           max_steps=max_steps, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)  # fmt: skip
    _beams(tree, subtrees, width=1, first=expansions, expansions=expansions, max_steps=max_steps)
    return tree.result("dvts", _best(tree), subtrees=subtrees, expansions=expansions)


@reuses_prefixes
def tot_bfs(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    breadth: int = 5,
    expansions: int = 4,
    aggregate: str = "last",
    max_steps: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Tree of Thoughts, breadth-first (Yao et al. 2023): the ``breadth`` best states per depth.

    At each depth every kept state proposes ``expansions`` next steps (one batched policy
    call), the verifier values the new states (one call), and the ``breadth`` best distinct
    states are kept, finished ones included: unlike beam search, a finished state takes a
    slot, and the search ends when every kept state is finished (or after ``max_steps``).
    ``breadth=1`` is greedy search by value. The answer is the best-valued finished state
    (if none, the best unfinished one completed greedily).
    """
    tree = search_tree("tot_bfs", problem, policy, verifier, breadth=breadth, expansions=expansions, aggregate=aggregate,
           max_steps=max_steps, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)  # fmt: skip
    frontier = [tree.root]
    for _ in range(max_steps):
        # 1. propose next steps of every kept state; 2. value them; 3. keep the best `breadth`
        families = tree.expand(frontier, n=expansions)
        kept = _top([k for kids in families for k in kids if not k.dead], breadth)
        for node in kept:
            node.kept = True
        frontier = [n for n in kept if not n.finished]
        if not frontier:
            break
    return tree.result("tot_bfs", _best(tree), breadth=breadth, expansions=expansions)


@reuses_prefixes
def dfs(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    threshold: float = 0.5,
    expansions: int = 4,
    max_expansions: int = 16,
    aggregate: str = "last",
    max_steps: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Tree of Thoughts, depth-first: best child first, prune, backtrack (Yao et al. 2023).

    1. Expand the node on top of the stack: sample ``expansions`` next steps (one policy
       call) and score them (one verifier call).
    2. Prune the children scored below ``threshold``. A finished child that survives is a
       solution: stop there (the best one, if several).
    3. Push the surviving unfinished children so that the best-valued is expanded next.
       A node with no surviving child, or at ``max_steps``, is a dead end: the search
       backtracks to the next node on the stack (a sibling, or an ancestor's sibling).
    4. Stop after ``max_expansions`` policy calls or when the stack is empty.

    Without an accepted solution the answer is the best-scoring finished node, else the best
    unfinished one completed greedily. ``trace["order"]`` lists the expanded nodes in order and
    ``trace["backtracks"]`` counts the jumps back.
    """
    check_threshold(threshold)
    tree = search_tree("dfs", problem, policy, verifier, expansions=expansions, max_expansions=max_expansions, aggregate=aggregate,
           max_steps=max_steps, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)  # fmt: skip
    stack, order, backtracks, solution = [tree.root], list[Node](), 0, None
    while stack and tree.policy_calls < max_expansions and solution is None:
        node = stack.pop()
        if node.depth >= max_steps:
            continue  # too deep: a dead end
        if order and node.parent is not order[-1]:
            backtracks += 1
        order.append(node)
        node.visits += 1
        [kids] = tree.expand([node], n=expansions)
        alive = _top([k for k in kids if not k.dead and (k.score or 0.0) >= threshold], len(kids))  # best first
        for kid in alive:
            kid.kept = True
        solution = next((k for k in alive if k.finished), None)
        stack += [k for k in reversed(alive) if not k.finished]  # the best on top
    answer = solution or _best(tree)
    return tree.result(
        "dfs", answer, threshold=threshold, order=[n.id for n in order], backtracks=backtracks, accepted=solution is not None
    )


@reuses_prefixes
def mcts(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    simulations: int = 16,
    expansions: int = 4,
    c_puct: float = 1.0,
    value: str = "verifier",
    aggregate: str = "last",
    max_steps: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Monte Carlo tree search with PUCT (AlphaZero's selection rule) over steps.

    The root is expanded first; then each of the ``simulations``:

    1. Selection: from the root, follow the child maximising
       ``Q + c_puct * prior * sqrt(parent visits) / (1 + child visits)``, where ``prior`` is
       the policy's probability of the step normalised over its siblings and ``Q`` the mean
       backed-up value (an unvisited child borrows its parent's mean, as mctx does), until a
       node that is unexpanded, finished or dead.
    2. Evaluation and expansion: a dead node is worth 0, so is an unfinished one at
       ``max_steps``; a finished one its verifier score. Any other leaf is worth its
       verifier score (``value="verifier"``: scored when its parent was expanded) or the
       verifier's score of a rollout (``value="rollout"``: the policy completes the solution
       at ``temperature``; any verifier with ``score`` will do), and is expanded by
       ``expansions`` sampled next steps (one policy call; one verifier call in verifier mode).
    3. Backup: every node on the path gets one more visit and the value.

    The answer follows the most-visited child from the root (ties: higher value) down to a
    finished node; if the path ends unfinished, the policy completes it greedily and the
    completion is scored. The root's children's visits sum to ``simulations``.
    """
    check_search_knobs(value=value)
    needs = "score_steps" if value == "verifier" else "score"
    tree = search_tree("mcts", problem, policy, verifier, needs=needs, simulations=simulations, expansions=expansions, c_puct=c_puct,
           aggregate=aggregate, max_steps=max_steps, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)  # fmt: skip
    scored = tree.stepwise
    root = tree.root
    tree.expand([root], n=expansions, score=scored)

    def puct(parent: Node, child: Node) -> tuple:
        q = child.value if child.visits else parent.value
        u = c_puct * child.prior * math.sqrt(parent.visits) / (1 + child.visits)
        return (q + u, child.prior, -child.id)

    def evaluate(node: Node) -> float:
        if node.dead or (not node.finished and node.depth >= max_steps):
            return 0.0
        if node.finished:
            if not scored:
                node.score = tree.judge(node.text)
            return node.score or 0.0
        if scored:
            leaf_value = node.score or 0.0
        else:
            node.rollout = node.text + tree.complete(node, temperature=temperature)
            leaf_value = tree.judge(node.rollout)
        tree.expand([node], n=expansions, score=scored)
        return leaf_value

    for _ in range(simulations):
        # 1. selection
        path = [root]
        while path[-1].children and not path[-1].finished:
            parent = path[-1]
            path.append(max(parent.children, key=lambda c: puct(parent, c)))
        # 2. evaluation (and expansion) of the leaf; 3. backup
        leaf_value = evaluate(path[-1])
        for node in path:
            node.visits += 1
            node.value_sum += leaf_value
            node.kept = True
    # the answer: most visits down to a finished node, completed greedily if it ends short of one
    node = root
    while not node.finished:
        visited = [c for c in node.children if c.visits and not c.dead]
        if not visited:
            break
        node = max(visited, key=lambda c: (c.visits, c.value, c.prior, -c.id))
    return tree.result("mcts", node, simulations=simulations, c_puct=c_puct, value=value)
