"""A reasoning controller that minimises expected free energy: sample, verify, or answer.

Active inference (Friston 2010; Parr, Pezzulo & Friston 2022; Da Costa et al. 2020) describes
an agent that holds beliefs about hidden states, updates them from observations, and acts to
minimise the *expected free energy* of what it will observe:

    G(action) = risk + ambiguity
              = KL[q(o | action) || p(o | C)]  +  E_q(s) H[p(o | s, action)]
              = -(expected log preference)      -  (expected information gain about s)

where ``p(o | C)`` encodes preferences as a prior over outcomes. Few test-time controllers are
derived this way (Chapter 8 cites the published ones, and Bayesian stopping rules for sampling,
its closest relatives); this module makes the analogy exact on a small discrete model, so that
it can be run, tested and compared with plain stopping rules and with expected utility planned
further ahead (for one question and a fixed budget a finite-horizon stopping problem, which
expected utility by backward induction solves exactly).

**The generative model** of one question (`AnswerModel`). The hidden state ``s`` is which
of the answers seen so far is the correct one, or ``0``: "something else", an answer not
seen yet. Each sample is correct with a chance ``rho`` that varies between questions as a
Beta(``a``, ``b``); a wrong sample repeats an earlier wrong answer in proportion to how often
it was seen, or is a new one with weight ``gamma`` (a Dirichlet process over wrong answers: a
Dirichlet belief over the candidates plus "something else"); a fraction ``malformed`` of
samples has no answer at all and tells nothing. Given the counts the belief over ``s`` has a
closed form (`posterior`), and so has the predictive distribution of the next sample.

**A verifier** (`Channel`) is a noisy sensor: its score of a candidate, cut into bins, is an
observation whose likelihood given "this candidate is correct" or "wrong" was fitted on the
training split (the fits ship in ``tsc/assets/results/ch08_fit.json``: `fitted`).

**Actions and outcomes.** ``sample`` draws one more completion (observation: which candidate
it repeats, a new answer, or nothing); ``verify`` scores the most probable candidate not yet
verified (observation: the score's bin); ``answer`` stops and answers the most probable
candidate (observation: the verdict, right or wrong). Preferences: a correct verdict is
preferred with probability ``prefer_correct`` (the verdict's ``p(o | C)``), and every token
spent lowers the log preference by ``cost_per_token`` nats (verifier compute counted in
policy-token equivalents, `Channel.cost`). With a ``horizon`` of h the agent evaluates every
sequence of up to h actions that ends by answering, outcome by outcome (sophisticated
inference: after each outcome it would again choose the best action), and takes the first
action of the best. ``objective`` selects what G counts: ``"efe"`` risk plus ambiguity (the
full expected free energy), ``"risk"`` risk alone (the ablation of the epistemic term), or
``"utility"`` the expected log preference alone (Bayesian decision theory; no entropy at all).
"""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from tsc.compute import Ledger
from tsc.core import Policy, Problem, Result, Verifier, is_real
from tsc.strategies.base import check_knobs, check_problem, is_int, make_result, softmax
from tsc.strategies.reuse import reuses_prefixes
from tsc.strategies.stopping import draw_more

OBJECTIVES = ("efe", "risk", "utility")
ACTIONS = ("answer", "verify", "sample")  # ties go to the first: stop before spending
MAX_HORIZON = 4  # the plans grow as (candidates + bins) ** horizon
FITS = Path(__file__).resolve().parent.parent / "assets" / "results" / "ch08_fit.json"
DEFAULT_COST = 0.0005  # nats per token: chosen on training questions by `ch08_fit` (its card says how)


# --- the generative model -------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerModel:
    """How samples relate to the correct answer (see the module docstring).

    ``a``, ``b``: the Beta prior over a question's chance that a sample is right;
    ``gamma``: how readily a wrong sample is a new answer rather than a repeat (a number, or
    several values for a mixture of question types: some questions repeat their wrong
    answers, others scatter them), with the mixture's ``weights``; ``malformed``: the chance
    that a sample has no answer; ``tokens``: the expected length of a sample before any is
    seen (afterwards the question's own mean is used).
    """

    a: float = 1.0
    b: float = 1.0
    gamma: float | tuple[float, ...] = 1.0
    weights: tuple[float, ...] | None = None
    malformed: float = 0.0
    tokens: float = 32.0

    def __post_init__(self):
        gammas = tuple(self.gamma) if isinstance(self.gamma, (tuple, list)) else (self.gamma,)
        weights = tuple(self.weights) if self.weights is not None else (1.0 / len(gammas),) * len(gammas)
        for name, value in [("a", self.a), ("b", self.b), ("tokens", self.tokens)] + [("gamma", g) for g in gammas]:
            if not is_real(value) or value <= 0:
                raise ValueError(f"AnswerModel.{name} must be a positive number, got {value!r}")
        if not gammas or len(weights) != len(gammas) or any(not is_real(w) or w <= 0 for w in weights) or abs(sum(weights) - 1) > 1e-6:
            raise ValueError(f"AnswerModel.weights must be one positive weight per gamma, summing to 1, got {self.weights!r}")
        if not is_real(self.malformed) or not 0 <= self.malformed < 1:
            raise ValueError(f"AnswerModel.malformed must be in [0, 1), got {self.malformed!r}")
        object.__setattr__(self, "gamma", gammas if len(gammas) > 1 else gammas[0])
        object.__setattr__(self, "weights", weights)

    def to_json(self) -> dict:
        def rounded(x):
            return [round(v, 6) for v in x] if isinstance(x, tuple) else round(x, 6)

        return {k: rounded(getattr(self, k)) for k in ("a", "b", "gamma", "weights", "malformed", "tokens")}

    @property
    def gammas(self) -> tuple[float, ...]:
        return self.gamma if isinstance(self.gamma, tuple) else (self.gamma,)

    def log_weight(self, count: int, total: int, clusters: int) -> float:
        """log [P(samples | this candidate is correct) / P(samples | something else is)] for a
        candidate with ``count`` of the ``total`` answered samples, among ``clusters``
        distinct answers."""
        return _log_weight(self.a, self.b, self.gammas, self.weights, count, total, clusters)

    def gamma_posterior(self, clusters: int, wrong: int) -> list[float]:
        """P(each gamma | ``wrong`` wrong samples in ``clusters`` distinct answers)."""
        return softmax([math.log(w) + _ewens(g, clusters, wrong) for g, w in zip(self.gammas, self.weights or ())])


def _ewens(gamma: float, clusters: int, wrong: int) -> float:
    """log of gamma^clusters / (gamma)_wrong: the part of the Ewens sampling formula (the
    Dirichlet process's chance of a sequence of answers) that depends on gamma."""
    return clusters * math.log(gamma) - (math.lgamma(gamma + wrong) - math.lgamma(gamma))


def _logsumexp(xs: list[float]) -> float:
    top = max(xs)
    return top + math.log(sum(math.exp(x - top) for x in xs))


@lru_cache(maxsize=200_000)
def _log_weight(a: float, b: float, gammas: tuple, weights: tuple, c: int, n: int, k: int) -> float:
    # Beta-binomial: c right of n under "this one is correct", 0 right of n under "something
    # else"; Dirichlet process (Ewens): the c copies are one more wrong cluster only under
    # "something else" (the factorials of the other clusters' sizes are common and cancel).
    lg = math.lgamma
    right = lg(a + c) + lg(b + n - c) - lg(c) + _logsumexp([math.log(w) + _ewens(g, k - 1, n - c) for g, w in zip(gammas, weights)])
    other = lg(a) + lg(b + n) + _logsumexp([math.log(w) + _ewens(g, k, n) for g, w in zip(gammas, weights)])
    return right - other


@dataclass(frozen=True)
class Channel:
    """A verifier's scores as noisy observations: ``edges`` cut scores into bins;
    ``correct[x]`` and ``wrong[x]`` are P(bin x | the candidate is correct / wrong); ``cost``
    is one query's compute in policy-token equivalents (verifier FLOPs over the policy's
    FLOPs per generated token)."""

    edges: tuple[float, ...]
    correct: tuple[float, ...]
    wrong: tuple[float, ...]
    cost: float = 1.0

    def __post_init__(self):
        bins = len(self.edges) + 1
        if len(self.correct) != bins or len(self.wrong) != bins:
            raise ValueError(f"a Channel with {len(self.edges)} edges needs {bins} probabilities per class")
        for name in ("correct", "wrong"):
            probs = getattr(self, name)
            if any(not is_real(p) or p <= 0 for p in probs) or abs(sum(probs) - 1) > 1e-6:
                raise ValueError(f"Channel.{name} must be positive probabilities summing to 1, got {probs!r}")
        if list(self.edges) != sorted(self.edges):
            raise ValueError(f"Channel.edges must be increasing, got {self.edges!r}")
        if not is_real(self.cost) or self.cost < 0:
            raise ValueError(f"Channel.cost must be a number >= 0, got {self.cost!r}")

    def bin(self, score: float) -> int:
        """The bin of ``score`` (a missing or NaN score falls in the lowest)."""
        if score is None or not is_real(score) or math.isnan(score):
            return 0
        return bisect.bisect_right(self.edges, score)

    @property
    def log_ratio(self) -> tuple[float, ...]:
        return tuple(math.log(c / w) for c, w in zip(self.correct, self.wrong))

    @classmethod
    def fit(cls, scores, labels, *, bins: int = 4, cost: float = 1.0, smoothing: float = 1.0) -> Channel:
        """The likelihood of ``scores`` (one per candidate) given their 0/1 ``labels``: bin
        edges at quantiles of all scores, each class's bin frequencies with ``smoothing``
        added to every count (so no bin is impossible)."""
        pairs = [(float(s), bool(y)) for s, y in zip(scores, labels)]
        if not pairs or not any(y for _, y in pairs) or all(y for _, y in pairs):
            raise ValueError("Channel.fit needs scores of both correct and wrong candidates")
        if not is_int(bins) or bins < 2:
            raise ValueError(f"bins must be an integer >= 2, got {bins!r}")
        ordered = sorted(s for s, _ in pairs)
        edges = sorted({ordered[min(len(ordered) - 1, int(len(ordered) * q / bins))] for q in range(1, bins)})
        probe = cls(tuple(edges), *(((1 / (len(edges) + 1),) * (len(edges) + 1),) * 2), cost=cost)
        tallies = {True: [smoothing] * (len(edges) + 1), False: [smoothing] * (len(edges) + 1)}
        for s, y in pairs:
            tallies[y][probe.bin(s)] += 1
        norm = {y: tuple(t / sum(v) for t in v) for y, v in tallies.items()}
        return cls(tuple(edges), norm[True], norm[False], cost=cost)

    def to_json(self) -> dict:
        return {"edges": list(self.edges), "correct": list(self.correct), "wrong": list(self.wrong), "cost": self.cost}


# --- beliefs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Belief:
    """What the agent has observed: ``counts[k]`` samples of candidate k (in order of first
    appearance), ``bins[k]`` the verifier's bin for candidate k (None: not verified), and
    ``malformed`` samples without an answer."""

    counts: tuple[int, ...] = ()
    bins: tuple[int | None, ...] = ()
    malformed: int = 0

    def __post_init__(self):
        if len(self.bins) != len(self.counts):
            object.__setattr__(self, "bins", tuple(self.bins) + (None,) * (len(self.counts) - len(self.bins)))

    @property
    def samples(self) -> int:
        return sum(self.counts) + self.malformed


def posterior(belief: Belief, model: AnswerModel, channel: Channel | None = None) -> list[float]:
    """q(s): index 0 "something else", index k the k-th candidate (Bayes' rule, exact)."""
    return _posterior(_pairs(belief), model, channel.log_ratio if channel else None)


def _pairs(belief: Belief) -> tuple[tuple[int, int], ...]:
    return tuple((c, -1 if b is None else b) for c, b in zip(belief.counts, belief.bins))


def _posterior(pairs, model: AnswerModel, llr) -> list[float]:
    total, k = sum(c for c, _ in pairs), len(pairs)
    return softmax([0.0] + [model.log_weight(c, total, k) + (llr[b] if b >= 0 else 0.0) for c, b in pairs])


def sample_outcomes(belief: Belief, model: AnswerModel) -> tuple[list[str], list[list[float]]]:
    """The outcomes of one more sample and p(outcome | s) for every s: outcome k is "repeats
    candidate k" (1-based), then "new" and "malformed". Rows follow `posterior`'s order."""
    counts = list(belief.counts)
    n, k = sum(counts), len(counts)
    a, b, mu = model.a, model.b, model.malformed
    rows = []
    for s in range(k + 1):
        c_s = counts[s - 1] if s else 0
        right = (a + c_s) / (a + b + n)  # P(next sample correct | s): the Beta posterior mean
        # a wrong sample repeats a wrong answer in proportion to its count, or is new (the
        # Dirichlet process), averaged over what the wrong answers so far say about gamma
        wrong = n - c_s
        mix = model.gamma_posterior(k - 1 if s else k, wrong)
        per_copy = (1 - right) * sum(r / (g + wrong) for r, g in zip(mix, model.gammas))
        fresh = (1 - right) * sum(r * g / (g + wrong) for r, g in zip(mix, model.gammas))
        row = [(right if j == s else per_copy * c) for j, c in enumerate(counts, start=1)]
        new = fresh + (right if s == 0 else 0.0)
        rows.append([(1 - mu) * p for p in row] + [(1 - mu) * new, mu])
    names = [f"repeat {k}" for k in range(1, len(counts) + 1)] + ["new", "malformed"]
    return names, rows


def information_gain(prior: list[float], likelihood: list[list[float]]) -> float:
    """I(o; s) in nats: the expected KL from the prior over s to the posterior after o."""
    return entropy(predictive(prior, likelihood)) - sum(q * entropy(row) for q, row in zip(prior, likelihood))


def predictive(prior: list[float], likelihood: list[list[float]]) -> list[float]:
    """p(o) = sum over s of prior(s) p(o | s)."""
    return [sum(q * row[o] for q, row in zip(prior, likelihood)) for o in range(len(likelihood[0]))]


def entropy(p: list[float]) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


def variational_free_energy(q: list[float], prior: list[float], likelihood: list[float]) -> dict[str, float]:
    """F[q] = E_q[ln q(s) - ln p(o, s)] for an observation o with ``likelihood[s]`` = p(o | s):
    ``complexity`` KL[q || prior] minus ``accuracy`` E_q ln p(o | s). F is least, and equals
    the surprise -ln p(o), when q is the posterior."""
    if not (len(q) == len(prior) == len(likelihood)):
        raise ValueError("q, prior and likelihood need one entry per state")
    complexity = sum(x * math.log(x / p) for x, p in zip(q, prior) if x > 0)
    accuracy = sum(x * math.log(lk) for x, lk in zip(q, likelihood) if x > 0)
    return {"free_energy": complexity - accuracy, "complexity": complexity, "accuracy": accuracy}


def kl_binary(q: float, p: float) -> float:
    """KL[(q, 1-q) || (p, 1-p)] in nats (0 log 0 = 0)."""
    out = 0.0
    if q > 0:
        out += q * math.log(q / p)
    if q < 1:
        out += (1 - q) * math.log((1 - q) / (1 - p))
    return out


# --- expected free energy -------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    model: AnswerModel
    llr: tuple[float, ...] | None
    channel: Channel | None
    sample_cost: float  # nats: cost_per_token x expected tokens of one sample
    verify_cost: float  # nats: cost_per_token x a query's token equivalents
    prefer: float
    objective: str
    memo: dict = field(default_factory=dict, compare=False, hash=False)


def _answer_g(q_correct: float, ctx: _Context) -> float:
    if ctx.objective == "utility":  # expected -log preference (the cross-entropy)
        return -(q_correct * math.log(ctx.prefer) + (1 - q_correct) * math.log(1 - ctx.prefer))
    return kl_binary(q_correct, ctx.prefer)  # risk; the verdict given s is certain, so no ambiguity


def _epistemic(prior: list[float], likelihood: list[list[float]], outcomes: list[float], ctx: _Context) -> float:
    """What G subtracts for an observation whose predictive distribution is ``outcomes``: the
    information gain (risk + ambiguity, as `information_gain`), the predictive entropy (risk
    alone, with no preference among these outcomes), or nothing."""
    if ctx.objective == "utility":
        return 0.0
    gain = entropy(outcomes)
    if ctx.objective != "risk":
        gain -= sum(q * entropy(row) for q, row in zip(prior, likelihood))
    return gain


def _plan(pairs: tuple, left: int, depth: int, ctx: _Context) -> dict[str, float]:
    """G of each available first action, with the best continuation after each outcome."""
    q = _posterior(pairs, ctx.model, ctx.llr)
    best = max(range(1, len(q)), key=lambda k: (q[k], -k), default=None)
    out = {"answer": _answer_g(q[best] if best else 0.0, ctx)}
    if depth == 0:
        return out
    if left > 0:
        belief = Belief(tuple(c for c, _ in pairs), tuple(None if b < 0 else b for _, b in pairs))
        _, likelihood = sample_outcomes(belief, ctx.model)
        outcomes = predictive(q, likelihood)
        g = ctx.sample_cost - _epistemic(q, likelihood, outcomes, ctx)
        for o, p in enumerate(outcomes):
            if p <= 0:
                continue
            if o < len(pairs):
                nxt = pairs[:o] + ((pairs[o][0] + 1, pairs[o][1]),) + pairs[o + 1 :]
            elif o == len(pairs):
                nxt = pairs + ((1, -1),)
            else:
                nxt = pairs
            g += p * _value(nxt, left - 1, depth - 1, ctx)
        out["sample"] = g
    target = _verify_target(pairs, q)
    if ctx.channel is not None and target is not None:
        chance = q[target + 1]
        binary = [list(ctx.channel.correct), list(ctx.channel.wrong)]
        outcomes = predictive([chance, 1 - chance], binary)
        g = ctx.verify_cost - _epistemic([chance, 1 - chance], binary, outcomes, ctx)
        for x, p in enumerate(outcomes):
            nxt = pairs[:target] + ((pairs[target][0], x),) + pairs[target + 1 :]
            g += p * _value(nxt, left, depth - 1, ctx)
        out["verify"] = g
    return out


def _verify_target(pairs: tuple, q: list[float]) -> int | None:
    """The most probable candidate not yet verified (0-based), or None."""
    open_ = [k for k, (_, b) in enumerate(pairs) if b < 0]
    return max(open_, key=lambda k: (q[k + 1], -k)) if open_ else None


def _value(pairs: tuple, left: int, depth: int, ctx: _Context) -> float:
    """min over first actions of G: what a belief is worth to an agent that plans ``depth``
    more actions. Candidates are exchangeable, so beliefs are memoised by their sorted counts."""
    key = (tuple(sorted(pairs, reverse=True)), left, depth)
    if key not in ctx.memo:
        ctx.memo[key] = min(_plan(key[0], left, depth, ctx).values())
    return ctx.memo[key]


def expected_free_energy(
    belief: Belief,
    model: AnswerModel,
    *,
    cost_per_token: float,
    channel: Channel | None = None,
    prefer_correct: float = 0.99,
    objective: str = "efe",
    horizon: int = 2,
    samples_left: int = 1,
    sample_tokens: float | None = None,
) -> dict[str, float]:
    """G (in nats) of each action available in ``belief``: ``"answer"``, ``"sample"`` (if
    ``samples_left``), ``"verify"`` (if a ``channel`` is given and a candidate is unverified),
    each followed by the best plan of at most ``horizon - 1`` further actions that ends by
    answering. ``sample_tokens``: the expected length of the next sample (default: the
    model's). The agent takes the action with the least G (`decide`)."""
    check_efe_knobs(cost_per_token=cost_per_token, prefer_correct=prefer_correct, objective=objective, horizon=horizon)
    if not is_int(samples_left) or samples_left < 0:
        raise ValueError(f"samples_left must be a whole number >= 0, got {samples_left!r}")
    tokens = model.tokens if sample_tokens is None else sample_tokens
    ctx = _Context(
        model=model,
        llr=channel.log_ratio if channel else None,
        channel=channel,
        sample_cost=cost_per_token * tokens,
        verify_cost=cost_per_token * (channel.cost if channel else 0.0),
        prefer=prefer_correct,
        objective=objective,
    )
    return _plan(_pairs(belief), samples_left, horizon, ctx)


def decide(g: dict[str, float]) -> str:
    """The action with the least expected free energy (ties: answer, then verify, then sample)."""
    return min((a for a in ACTIONS if a in g), key=lambda a: (g[a], ACTIONS.index(a)))


def check_efe_knobs(*, cost_per_token=None, prefer_correct=None, objective=None, horizon=None) -> None:
    """Raise a ValueError naming the knob that is out of range (None: not checked)."""
    if cost_per_token is not None and (not is_real(cost_per_token) or cost_per_token < 0):
        raise ValueError(f"cost_per_token (nats of preference per token) must be a finite number >= 0, got {cost_per_token!r}")
    if prefer_correct is not None and (not is_real(prefer_correct) or not 0.5 < prefer_correct < 1):
        raise ValueError(f"prefer_correct (the preferred chance of a right answer) must be in (0.5, 1), got {prefer_correct!r}")
    if objective is not None and objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if horizon is not None and (not is_int(horizon) or not 1 <= horizon <= MAX_HORIZON):
        raise ValueError(f"horizon (actions planned ahead) must be an integer from 1 to {MAX_HORIZON}, got {horizon!r}")


# --- the fitted models ----------------------------------------------------------------------


def fitted(policy_name: str | None, temperature: float, verifier: str | None = None) -> tuple[AnswerModel, Channel | None] | None:
    """The answer model (and the ``verifier``'s channel) fitted for the bundled model
    ``policy_name`` sampling at ``temperature`` (the nearest fitted temperature), from
    ``tsc/assets/results/ch08_fit.json``; None when there is none for that model or verifier."""
    try:
        fits = json.loads(FITS.read_text(encoding="utf-8"))["data"]["fits"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    mine = [f for f in fits if f["policy"] == policy_name]
    if not mine:
        return None
    fit = min(mine, key=lambda f: abs(f["temperature"] - temperature))
    model = AnswerModel(**fit["answer_model"])
    if verifier is None:
        return model, None
    channel = fit.get("channels", {}).get(verifier)
    fields: dict = {k: tuple(v) if isinstance(v, list) else v for k, v in channel.items()} if channel else {}
    return (model, Channel(**fields)) if channel else None


def fit_answer_model(questions: list[list[tuple[str | None, bool]]], *, tokens: float = 32.0, mixture: int = 2) -> AnswerModel:
    """Maximum-likelihood `AnswerModel` from sampled answers of training questions: for each
    question a list of (answer key or None, correct?) per sample. ``a``, ``b`` from the
    Beta-binomial of right samples per question; ``gamma`` (a ``mixture`` of that many values
    and their weights) from the Ewens formula of the wrong answers' repeats; ``malformed`` the
    fraction of samples without a key."""
    import numpy as np
    from scipy.optimize import minimize
    from scipy.special import betaln, gammaln, logsumexp, softmax

    if not is_int(mixture) or mixture < 1:
        raise ValueError(f"mixture (values of gamma) must be an integer >= 1, got {mixture!r}")
    right, total, clusters, wrong_n = [], [], [], []
    malformed = samples = 0
    for rows in questions:
        keyed = [(k, ok) for k, ok in rows if k is not None]
        malformed += len(rows) - len(keyed)
        samples += len(rows)
        right.append(sum(ok for _, ok in keyed))
        total.append(len(keyed))
        wrong: dict[str, int] = {}
        for k, ok in keyed:
            if not ok:
                wrong[k] = wrong.get(k, 0) + 1
        clusters.append(len(wrong))
        wrong_n.append(sum(wrong.values()))
    if not samples or not any(total):
        raise ValueError("fit_answer_model needs questions with answered samples")
    r, t = np.array(right, float), np.array(total, float)
    m, w = np.array(clusters, float)[:, None], np.array(wrong_n, float)[:, None]

    def beta_nll(x):
        a, b = np.exp(x)
        return -float((betaln(a + r, b + t - r) - betaln(a, b)).sum())

    def ewens_nll(x):
        g = np.exp(x[:mixture])[None, :]
        logw = np.log(softmax(np.concatenate([[0.0], x[mixture:]])))[None, :]
        return -float(logsumexp(logw + m * np.log(g) + gammaln(g) - gammaln(g + w), axis=1).sum())

    a, b = np.exp(minimize(beta_nll, np.zeros(2), method="L-BFGS-B", bounds=[(-6, 6)] * 2).x)
    starts = [
        np.concatenate([np.linspace(-1.0, 3.0, mixture), np.zeros(mixture - 1)]),
        np.concatenate([np.full(mixture, 1.0), np.linspace(-1, 1, mixture - 1)]),
    ]
    bounds = [(-6.0, 8.0)] * mixture + [(-8.0, 8.0)] * (mixture - 1)
    best = min((minimize(ewens_nll, x0, method="L-BFGS-B", bounds=bounds) for x0 in starts), key=lambda r: r.fun)
    gammas = np.exp(best.x[:mixture])
    weights = softmax(np.concatenate([[0.0], best.x[mixture:]]))
    order = np.argsort(gammas)
    return AnswerModel(
        a=float(a), b=float(b), gamma=tuple(float(gammas[i]) for i in order) if mixture > 1 else float(gammas[0]),
        weights=tuple(float(weights[i]) for i in order), malformed=malformed / samples, tokens=float(tokens),
    )  # fmt: skip


# --- the strategy ---------------------------------------------------------------------------


@reuses_prefixes
def free_energy(
    problem: Problem,
    policy: Policy,
    *,
    n: int = 16,
    cost_per_token: float = DEFAULT_COST,
    verifier: Verifier | None = None,
    model: AnswerModel | None = None,
    channel: Channel | None = None,
    prefer_correct: float = 0.99,
    objective: str = "efe",
    horizon: int = 2,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Sample, verify or answer, one action at a time, whichever has the least expected
    free energy (see the module docstring); at most ``n`` samples.

    ``model`` and ``channel`` default to the fits for this policy and verifier (`fitted`; an
    untrained model gets a flat ``AnswerModel()``, while a verifier without a channel is an
    error: its scores cannot be read without their likelihood). The samples are the first
    of those `majority_vote` draws with the same seed (`tsc.strategies.stopping.draw_more`).
    The answer is the first sample of the most probable candidate; ``scores`` hold each
    sample's candidate's posterior; ``trace`` holds ``steps`` (each action with the G of
    every option and the belief it was taken in), ``confidence`` (the final q of the answer)
    and ``samples``.
    """
    check_knobs(n=n, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, verifier=verifier)
    check_efe_knobs(cost_per_token=cost_per_token, prefer_correct=prefer_correct, objective=objective, horizon=horizon)
    check_problem(problem, policy)
    model, channel = _models(policy, temperature, verifier, model, channel)
    ledger = Ledger()
    texts: list[str] = []
    tokens: list[int] = []
    keys: list[str] = []  # candidates in order of first appearance
    first: list[int] = []  # index into texts of each candidate's first sample
    belief = Belief()
    steps: list[dict] = []
    while True:
        mean = sum(tokens) / len(tokens) if tokens else model.tokens
        g = expected_free_energy(
            belief, model, cost_per_token=cost_per_token, channel=channel, prefer_correct=prefer_correct,
            objective=objective, horizon=horizon, samples_left=n - len(texts), sample_tokens=mean,
        )  # fmt: skip
        action = decide(g)
        steps.append({"action": action, "G": g, "counts": list(belief.counts), "bins": list(belief.bins)})
        if action == "answer":
            break
        if action == "sample":
            [completion] = draw_more(
                problem, policy, start=len(texts), count=1, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger
            )
            texts.append(completion.text)
            tokens.append(completion.num_tokens)
            key = problem.answer_key(completion.text)
            if key is None:
                belief = Belief(belief.counts, belief.bins, belief.malformed + 1)
            elif key in keys:
                k = keys.index(key)
                belief = Belief(belief.counts[:k] + (belief.counts[k] + 1,) + belief.counts[k + 1 :], belief.bins, belief.malformed)
            else:
                keys.append(key)
                first.append(len(texts) - 1)
                belief = Belief(belief.counts + (1,), belief.bins + (None,), belief.malformed)
        else:  # verify the most probable candidate not yet verified
            q = posterior(belief, model, channel)
            target = _verify_target(_pairs(belief), q)
            assert target is not None and verifier is not None and channel is not None  # verify is offered only then
            [score] = verifier.score(problem, [texts[first[target]]], ledger=ledger)
            steps[-1].update(candidate=target, score=float(score))
            bins = belief.bins[:target] + (channel.bin(float(score)),) + belief.bins[target + 1 :]
            belief = Belief(belief.counts, bins, belief.malformed)
    q = posterior(belief, model, channel)
    best = max(range(1, len(q)), key=lambda k: (q[k], -k), default=None)
    chosen = first[best - 1] if best else None
    scores = [q[keys.index(key) + 1] if key in keys else 0.0 for key in (problem.answer_key(t) for t in texts)]
    trace = {"steps": steps, "confidence": q[best] if best else 0.0, "samples": len(texts), "posterior": q, "keys": keys}
    return make_result(problem, texts, chosen, scores, ledger, "free_energy", trace)


def _models(policy, temperature, verifier, model, channel) -> tuple[AnswerModel, Channel | None]:
    """The answer model and channel to use: the ones given, else the fitted ones."""
    if model is not None and not isinstance(model, AnswerModel):
        raise ValueError(f"model must be a tsc.strategies.free_energy.AnswerModel, got {type(model).__name__}")
    if channel is not None and not isinstance(channel, Channel):
        raise ValueError(f"channel must be a tsc.strategies.free_energy.Channel, got {type(channel).__name__}")
    name = policy.name
    found = fitted(name, temperature, getattr(verifier, "name", None))  # a verifier's name is optional
    if model is None:
        found_model = fitted(name, temperature)
        model = found_model[0] if found_model else AnswerModel()
    if verifier is not None and channel is None:
        if found is None:
            raise ValueError(
                f"free_energy needs the likelihood of {verifier!r}'s scores for {name!r}: pass channel=Channel.fit(scores, labels) "
                "fitted on training questions (fitted: the prm on the bundled countdown model)"
            )
        channel = found[1]
    return model, channel if verifier is not None else None
