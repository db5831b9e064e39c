"""Sequential strategies: each attempt reads what the attempts before it got wrong.

Parallel strategies (tsc.strategies.parallel) draw their samples independently; these spend
the same kind of budget one attempt at a time, so later attempts can build on earlier ones.

- self_refine: a step-level verifier (a PRM, or the step oracle) reads the attempt, finds
  the first step it does not trust, and the policy rewrites the solution from the last good
  step (Self-Refine, Madaan et al. 2023, with the feedback made concrete by a process
  reward model in the manner of Lightman et al. 2023).
- revise: sequential revisions (Snell et al. 2024): a revision model reads the prompt and the
  previous attempts, concatenated (`tsc.core.revision_prompt`), and writes a new one.

Every policy call and every verifier call is charged to the one ledger of the `Result`;
``trace["attempts"]`` keeps each attempt for plots.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from tsc.compute import Ledger
from tsc.core import Policy, Problem, Result, StepVerifier, is_real, revision_prompt, writes_compact
from tsc.strategies.base import check_knobs, check_problem, check_step_verifier, is_int, make_result
from tsc.strategies.reuse import prefix_caches, reuses_prefixes

MAX_ROUNDS = 1000  # sequential calls cannot be batched: beyond this a CPU would run for hours


def _check_rounds(rounds) -> None:
    if not is_int(rounds) or not 1 <= rounds <= MAX_ROUNDS:
        raise ValueError(f"rounds (attempts per problem) must be an integer from 1 to {MAX_ROUNDS}, got {rounds!r}")


def check_threshold(threshold, *, optional: bool = False) -> None:
    if threshold is None and optional:
        return
    if not is_real(threshold):
        raise ValueError(f"threshold must be a finite number (a verifier score, e.g. 0.5), got {threshold!r}")


def check_sequential(*, rounds=None, threshold=None) -> None:
    """Raise a ValueError naming the knob that is out of range (None: not checked)."""
    if rounds is not None:
        _check_rounds(rounds)
    check_threshold(threshold, optional=True)


def _attempt(policy, prompt: str, *, temperature: float, seed: int, max_new_tokens: int, ledger: Ledger) -> str:
    """One completion of ``prompt`` (a batch of one: the next prompt depends on this answer)."""
    [[completion]] = policy.sample([prompt], n=1, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    return completion.text


@reuses_prefixes
def self_refine(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    rounds: int = 4,
    threshold: float = 0.5,
    temperature: float = 1.0,
    first_temperature: float = 0.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Attempt, let a step verifier find the first bad step, rewrite from there; ``rounds`` attempts at most.

    1. The first attempt is one completion at ``first_temperature`` (greedy by default: the
       policy's best guess).
    2. ``verifier.score_steps`` scores every step prefix of the attempt (`problem.steps`).
       If every score is at least ``threshold`` the attempt is accepted and the loop stops.
    3. Otherwise the steps before the first one scored below ``threshold`` are kept, and the
       policy continues from the prompt plus that prefix (``policy.format(problem) + prefix``)
       at ``temperature`` with a new seed each round, so the retry differs from the attempt it
       replaces. The new attempt is the prefix plus the continuation; back to 2.
    4. Backtracking: when a retry fails again at its very first new step, the kept prefix
       itself is the likely culprit (a step the verifier let through that leads nowhere), so
       the next retry starts one step earlier.

    ``rounds`` counts policy calls (the first attempt included); each attempt costs one
    verifier call. An attempt's score is its last step's score, the verifier's judgement of
    the finished attempt (0 for an attempt with no steps).

    The answer is the best-scoring attempt (the later one on ties), not simply the last: a
    retry samples a new continuation and can be worse than the attempt it replaced (say, a
    first attempt whose only doubtful step is its last, followed by a retry that breaks down
    early), and the verifier's scores are already paid for, so choosing by them costs
    nothing. ``candidates``/``scores`` list every attempt and its score; ``trace["attempts"]``
    adds the step scores, the length of the kept prefix, the index of the first bad step and
    the FLOPs (policy and verifier) spent up to and including the attempt.
    """
    check_step_verifier("self_refine", verifier, "the process reward model (prm) or the step oracle")
    check_knobs(temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)
    check_knobs(temperature=first_temperature)
    _check_rounds(rounds)
    check_threshold(threshold)
    check_problem(problem, policy)
    if not writes_compact(policy):
        raise ValueError(f"self_refine backtracks to a step ending in ',' (the compact format); {policy!r} writes free text")
    ledger = Ledger()
    texts: list[str] = []
    scores: list[float] = []
    attempts: list[dict] = []
    tries = refinements(
        problem, policy, verifier=verifier, threshold=threshold, temperature=temperature, first_temperature=first_temperature, seed=seed,
        max_new_tokens=max_new_tokens, ledger=ledger,
    )  # fmt: skip
    for attempt in islice(tries, rounds):
        texts.append(attempt["text"])
        scores.append(attempt["score"])
        attempts.append(attempt)
        if attempt["first_bad"] is None:  # every step verified: accept
            break
    chosen = max(range(len(texts)), key=lambda i: (scores[i], i))
    trace = {"attempts": attempts, "accepted": attempts[-1]["first_bad"] is None, "threshold": threshold}
    return make_result(problem, texts, chosen, scores, ledger, "self_refine", trace)


def refinements(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    threshold: float,
    temperature: float,
    first_temperature: float,
    seed: int,
    max_new_tokens: int,
    ledger: Ledger,
) -> Iterator[dict]:
    """`self_refine`'s attempts, one per ``next``, for as long as the caller asks: the loop
    of steps 1-4 below without its stopping rule, so a controller (`tsc.strategies.thinker`)
    can look at each attempt and decide whether to pay for the next. Each attempt is charged
    to ``ledger`` and described by a dict: ``text``, ``kept`` (characters of the previous
    attempt kept), ``step_scores``, ``first_bad`` (None when every step passed ``threshold``:
    the attempt is accepted), ``score`` (its last step's score, 0 without steps) and
    ``flops`` (the ledger's FLOPs after it). Round ``r`` samples with seed ``seed + r``."""
    prompt = policy.format(problem)
    prefix, kept = "", 0  # the verified steps kept from the previous attempt, and how many
    round_ = 0
    while True:
        # 1. (re)write the solution from the kept prefix
        heat = first_temperature if round_ == 0 else temperature
        written = _attempt(policy, prompt + prefix, temperature=heat, seed=seed + round_, max_new_tokens=max_new_tokens, ledger=ledger)
        text = prefix + written
        # 2. score every step prefix; find the first step below the threshold
        steps = problem.steps(text)
        [step_scores] = verifier.score_steps(problem, [text], ledger=ledger)
        step_scores = [float(s) for s in step_scores][: len(steps)]
        first_bad = next((i for i, s in enumerate(step_scores) if s < threshold), None)
        if not step_scores:  # nothing the verifier could read: start over
            first_bad = 0
        score = step_scores[-1] if step_scores else 0.0
        yield {"text": text, "kept": len(prefix), "step_scores": step_scores, "first_bad": first_bad, "score": score, "flops": ledger.flops}
        if first_bad is not None:
            # 3. keep the steps before the first bad one; 4. if the retry failed at its first
            # new step again, distrust the last kept step too
            kept = first_bad if round_ == 0 or first_bad > kept else max(0, kept - 1)
            prefix = "".join(steps[:kept])
        round_ += 1


def revise(
    problem: Problem,
    policy: Policy,
    *,
    reviser: Policy | None = None,
    rounds: int = 4,
    verifier=None,
    threshold: float | None = None,
    context: int = 3,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 64,
) -> Result:
    """Sequential revisions: each attempt is written by a revision model that reads the earlier ones.

    1. The first attempt comes from ``policy`` (the reviser with no previous attempts would
       do the same job; the policy is what it was fine-tuned from).
    2. Each next attempt comes from ``reviser`` (default: ``policy`` itself, for a policy that
       is a revision model), prompted with `revision_prompt`: the problem's prompt followed by
       the last ``context`` attempts (the bundled revision model was trained on up to 3).
    3. The loop stops early when a revision comes back empty: the reviser ended its output
       at once, which is how it says the last attempt needs no revision (the bundled revision
       model was trained to write the end token right after a correct attempt, so it learned
       to recognise one). With a ``verifier`` and a ``threshold``, it also stops at the first
       attempt that scores at least ``threshold``.

    Both models keep what they computed while the loop runs (their prefix caches, as every
    strategy does: `tsc.strategies.reuse`): a revision prompt extends the previous one, so the
    reviser computes only the tokens it has not read, and the ledger charges only those.

    An empty revision is paid for but is not an attempt. Every attempt is sampled at ``temperature`` with seed ``seed + round``. Without a
    verifier the answer is the last attempt (intrinsic self-correction: the model is trusted
    to have improved); with one, the best-scoring attempt (the later one on ties). Without a
    threshold the attempts are scored in one verifier call at the end; with one, one call per
    attempt. ``candidates`` lists the attempts in order, ``scores`` their verifier scores (all
    1.0 without a verifier), ``trace["prompts"]`` what each attempt was conditioned on,
    ``trace["policy_flops"]`` the policy FLOPs spent up to and including each attempt and
    ``trace["stopped"]`` why the loop ended (``"rounds"``, ``"threshold"`` or ``"reviser"``).
    """
    reviser = policy if reviser is None else reviser
    check_knobs(temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, verifier=verifier)
    _check_rounds(rounds)
    check_threshold(threshold, optional=True)
    if not is_int(context) or context < 1:
        raise ValueError(f"context (previous attempts the reviser reads) must be a positive integer, got {context!r}")
    check_problem(problem, policy)
    check_problem(problem, reviser)
    if not (writes_compact(policy) and writes_compact(reviser)):
        raise ValueError(
            "revise reads attempts in the compact format (each ending in '.'); a policy that writes free text needs a reviser of its own"
        )
    if threshold is not None and verifier is None:
        raise ValueError("revise can stop at a threshold only with a verifier to score the attempts")
    ledger = Ledger()
    texts: list[str] = []
    prompts: list[str] = []
    scores: list[float] = []
    spent: list[int] = []  # policy FLOPs after each attempt
    stopped = "rounds"
    with prefix_caches(policy, others=(reviser,)):  # each revision prompt extends the last: compute only what is new
        for round_ in range(rounds):
            # 1-2. the policy's first attempt; then the reviser reads the last `context` attempts
            model = policy if round_ == 0 else reviser
            prompt = revision_prompt(model.format(problem), texts[-context:] if round_ else [])
            text = _attempt(model, prompt, temperature=temperature, seed=seed + round_, max_new_tokens=max_new_tokens, ledger=ledger)
            # 3. stop early when the reviser has nothing to revise, or an attempt is good enough
            if round_ and not text.strip():
                stopped = "reviser"
                break
            texts.append(text)
            prompts.append(prompt)
            spent.append(ledger.policy_flops)
            if threshold is not None:
                scores += [float(s) for s in verifier.score(problem, texts[-1:], ledger=ledger)]
                if scores[-1] >= threshold:
                    stopped = "threshold"
                    break
    if verifier is None:
        scores, chosen = [1.0] * len(texts), len(texts) - 1
    else:
        if threshold is None:
            scores = [float(s) for s in verifier.score(problem, texts, ledger=ledger)]
        chosen = max(range(len(texts)), key=lambda i: (scores[i], i))
    trace = {"prompts": prompts, "policy_flops": spent, "stopped": stopped, "verified": verifier is not None}
    return make_result(problem, texts, chosen, scores, ledger, "revise", trace)
