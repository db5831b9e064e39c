"""Particle filtering over reasoning steps (Puri et al. 2025, "A Probabilistic Inference
Approach to Inference-Time Scaling of LLMs using Particle-Based Monte Carlo Methods").

Beam search treats the verifier's scores as the truth: at every depth it keeps the top
``beam_width`` partial solutions and throws the rest away for good. A learned process reward
model is only an estimate, so a partial solution it underrates by a little is lost although
it might have led to the answer. Particle filtering reads the same scores as evidence
instead. Solving a problem is a chain of hidden states (the partial solutions); the policy
proposes the next state (the transition); the PRM's score of a partial solution is how
likely it is to end correctly (the likelihood of "this will be accepted"). ``particles``
partial solutions each write one more step; each is weighted by its likelihood; and the next
generation is drawn from the current one *in proportion to* those weights. A partial solution
the PRM likes twice as much gets about twice as many copies; one it likes less still gets
some, with a chance that grows with its weight, rather than none. The copies of one partial
solution then write different next steps, so the population spreads again where the PRM
sees promise.

Weights, as in the authors' reference code (its_hub, ``particle_gibbs.py``): a score ``r``
becomes the log-weight ``logit(r) / reward_temperature`` and the weights are their softmax,
so at ``reward_temperature=1`` a particle's weight is proportional to its odds ``r / (1 - r)``.
The score is the PRM's judgement after the newest step (``aggregate="last"``): it estimates
the whole prefix's chance of success, so the weights are not multiplied along the path.
Lower temperatures press harder on the PRM (towards beam search's top-k); higher ones
towards plain sampling. A finished particle keeps its final score and stays in the
population (its copies do not expand); a dead one (a step the policy did not end) scores 0.

Resampling is *systematic* by default: one uniform draw ``u`` places ``particles`` evenly
spaced pointers ``(u + k) / particles`` on the cumulative weights, so a particle of weight
``w`` gets ``floor(particles * w)`` or ``ceil(particles * w)`` copies, never more or fewer.
Multinomial resampling (``resampling="multinomial"``, its_hub's ``random.choices``) draws each
copy independently, which adds noise without adding information: a particle of weight ``1/N``
is lost with probability ``(1 - 1/N)^N`` (about 37 %) where systematic resampling always keeps
it. Douc and Cappé (2005) compare the schemes.

The effective sample size of the weights, ``1 / sum(w_i ** 2)`` (``particles`` when they are
equal, 1 when one particle holds all the weight), is recorded for every step in
``trace["ess"]``, with the live (unfinished) particles in ``trace["live"]``. The answer is the
finished particle of highest weight in the last generation (its_hub's default selection); if
none finished within ``max_steps``, the best partial one is completed greedily like every
search here (`tsc.strategies.search.Tree.result`).

The search grows a `tsc.strategies.search.Tree` with its one primitive, ``Tree.expand``: per
step one batched policy call (one next step for every live particle) and one verifier call,
charged to the result's ledger exactly as beam search's, with the same prefix reuse.
"""

from __future__ import annotations

import math
import random

from tsc.core import Policy, Problem, Result, StepVerifier
from tsc.strategies.base import softmax
from tsc.strategies.reuse import reuses_prefixes
from tsc.strategies.search import Node, search_tree

CLIP = 1e-7  # a score of exactly 0 or 1 has an infinite logit: clip it (as its_hub does)


def weights(scores: list[float], reward_temperature: float = 1.0) -> list[float]:
    """The particles' normalised weights: softmax of ``logit(score) / reward_temperature``."""
    clipped = [min(max(float(score), CLIP), 1 - CLIP) for score in scores]
    return softmax([math.log(r / (1 - r)) / reward_temperature for r in clipped])


def effective_sample_size(w: list[float]) -> float:
    """``1 / sum(w_i ** 2)`` of normalised weights: how many equally weighted particles they are worth."""
    return 1.0 / sum(x * x for x in w)


def systematic(w: list[float], count: int, u: float) -> list[int]:
    """Systematic resampling with the uniform draw ``u`` in [0, 1): the index whose slice
    [w_0 + ... + w_(i-1), w_0 + ... + w_i) of [0, 1) holds each pointer ``(u + k) / count``,
    k = 0, ..., count - 1 (``w`` normalised). Exercise 5.5 asks a reader to write it."""
    picked, edge, i = [], w[0], 0
    for k in range(count):
        pointer = u / count + k / count  # (u + k) / count, rounded as the experiments computed it
        while pointer >= edge and i < len(w) - 1:  # a pointer on a boundary belongs to the next slice
            i += 1
            edge += w[i]
        picked.append(i)
    return picked


def resample(w: list[float], count: int, rng: random.Random, how: str = "systematic") -> list[int]:
    """``count`` indices drawn in proportion to the normalised weights ``w``, in index order.

    ``"systematic"``: one uniform ``u`` and evenly spaced pointers (`systematic`); each index
    gets the floor or the ceiling of ``count * w_i`` copies. ``"multinomial"``: each copy
    drawn independently.
    """
    if how == "multinomial":
        return sorted(rng.choices(range(len(w)), weights=w, k=count))
    return systematic(w, count, rng.random())


@reuses_prefixes
def particle_filter(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    particles: int = 8,
    reward_temperature: float = 1.0,
    resampling: str = "systematic",
    max_steps: int = 8,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Particle filtering guided by a step verifier: ``particles`` partial solutions, each
    extended by one sampled step per round, weighted by the verifier and resampled.

    1. The root samples ``particles`` first steps (one policy call); each sample is a particle.
    2. The verifier scores the new partial solutions (one call); each particle's weight is the
       softmax of ``logit(score) / reward_temperature`` over the population (finished
       particles keep their final score, dead ones score 0). ``trace["ess"]`` records the
       effective sample size of these weights.
    3. If no particle is still unfinished, stop. Else draw ``particles`` particles in
       proportion to the weights (``resampling``), and every unfinished one samples its next
       step (one batched policy call; copies of one partial solution sample independently).
       Back to 2, for at most ``max_steps`` steps.

    The answer is the finished particle of highest weight in the last population (the first
    on ties); if none finished, the best partial one completed greedily by the policy.
    """
    tree = search_tree("particle_filter", problem, policy, verifier, particles=particles, reward_temperature=reward_temperature,
                 resampling=resampling, max_steps=max_steps, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)  # fmt: skip
    rng = random.Random(seed)
    # 1. the first steps: one call on the root; a step drawn k times is k particles
    [kids] = tree.expand([tree.root], n=particles)
    population: list[Node] = [kid for kid in kids for _ in range(kid.count)]
    ess, live, unique = [], [], []
    for step in range(max_steps):
        # 2. weigh every particle by the verifier's judgement of its newest step
        w = weights([node.score or 0.0 for node in population], reward_temperature)
        ess.append(effective_sample_size(w))
        growing = [node for node in population if not node.finished and not node.dead]
        live.append(len(growing))
        unique.append(len({node.text for node in population}))
        for node in population:
            node.kept = True
        if not growing or step == max_steps - 1:
            break
        # 3. resample in proportion to the weights; the unfinished copies write one more step
        population = [population[i] for i in resample(w, particles, rng, resampling)]
        parents = [node for node in population if not node.finished and not node.dead]
        families = iter(tree.expand(parents, n=1))
        population = [node if node.finished or node.dead else next(families)[0] for node in population]
    final = weights([node.score or 0.0 for node in population], reward_temperature)
    finished = [(w, -i, node) for i, (w, node) in enumerate(zip(final, population)) if node.finished]
    if finished:
        answer = max(finished, key=lambda x: (x[0], x[1]))[2]
    else:  # nothing finished within max_steps: the best live particle, completed greedily
        alive = [node for node in population if not node.dead]
        answer = max(alive, key=lambda n: (n.score or 0.0, -n.id)) if alive else tree.root
    return tree.result(
        "particle_filter",
        answer,
        particles=particles,
        reward_temperature=reward_temperature,
        resampling=resampling,
        ess=ess,
        live=live,
        unique=unique,
    )
