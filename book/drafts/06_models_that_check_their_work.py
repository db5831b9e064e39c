"""Draft of Chapter 6, "Self-Refinement and Verification: Models That Check Their Work".

Not part of the book yet: it lands (as book/06_models_that_check_their_work.ipynb, added to
_toc.yml) when the learned verifiers meet issue 4's bar. Run this file to write the notebook:

    python book/drafts/06_models_that_check_their_work.py

Jupyter Book and nbval ignore .py files, so the draft is neither built nor tested. Its prose
was written against the measured results of the first ORM/PRM (see the session note); every
number it shows is glued from a cell, and every claim has an assert in a hidden cell.
"""

import json
from pathlib import Path

CELLS = []


def md(text):
    CELLS.append({"cell_type": "markdown", "id": f"c{len(CELLS):02d}", "metadata": {}, "source": text.strip("\n")})


def code(text, hidden=False):
    meta = {"tags": ["remove-cell"]} if hidden else {}
    CELLS.append(
        {"cell_type": "code", "id": f"c{len(CELLS):02d}", "metadata": meta, "source": text.strip("\n"), "execution_count": None, "outputs": []}
    )


# The cells of Chapter 6, in order. md(...) is prose, code(...) a code cell (hidden=True: tagged remove-cell).

md(r"""
# Self-Refinement and Verification: Models That Check Their Work

Chapter 1 ended with a gap. Among 64 samples from our small model a correct solution is
usually present, yet majority voting picks it little more often than greedy decoding does.
What is missing is a way to *recognise* a good attempt. On Countdown we could simply check
the arithmetic, but most questions people care about come without an answer key: a proof, a
program without tests, an open question. This chapter builds the missing piece from the
model's own experience. We train two small networks that read an attempt and predict whether
it is right, one that judges the finished answer and one that judges every step, and we use
them to choose among samples, to decide where an attempt went wrong, and to decide when to
try again. Along the way we measure what such a verifier costs, how well it ranks, where it
can be fooled, and whether a model can correct itself without one.

**Learning objectives.** After this chapter you will be able to

1. explain the difference between an outcome reward model (ORM) and a process reward model
   (PRM), and how a PRM can be trained without human labels from Monte Carlo rollouts;
2. measure a verifier by how well it ranks (the AUC) and how well its scores read as
   probabilities (calibration), and say why both matter;
3. use a verifier for best-of-$N$ and weighted voting, and put the verifier's compute on the
   same FLOPs axis as the policy's;
4. recognise verifier over-optimisation, and explain why a learned verifier's errors matter
   more as $N$ grows;
5. distinguish intrinsic self-correction from refinement with feedback, and compare sequential
   revisions with parallel samples at equal compute.
""")

code(r"""
# Setup. In Colab this installs the book's package first (Colab's own torch is kept).
try:
    import tsc
except ImportError:
    %pip install -q "git+https://github.com/tsc-book/test-time-compute"
    import tsc

import time

import matplotlib.pyplot as plt
import numpy as np

import tsc.analysis as ta
import tsc.exercises
import tsc.strategies
import tsc.viz
from tsc.compute import Ledger
from tsc.notebook import glue, sci, setup
from tsc.tasks import Countdown, countdown
from tsc.verifiers import StepOracle
from tsc.verifiers.learned import ORM, PRM, SelfVerifier, aggregate

setup()
chapter_started = time.perf_counter()
""", hidden=True)

md(r"""
## From coverage to accuracy

A *verifier* is a function that reads a problem and an attempt and returns a score, higher
for attempts it believes. Given one, the simplest way to spend test-time compute is
**best-of-$N$**: sample $N$ attempts and return the one the verifier scores highest. With a
perfect verifier, the *oracle* of Chapter 1, best-of-$N$ solves every problem that any of the
$N$ samples solves, so its accuracy is the coverage curve. With no verifier at all, the best
we found was majority voting, which on Countdown barely beats greedy decoding. A learned
verifier sits somewhere in between, and where exactly is the subject of the first half of
this chapter.

The idea is older than the current wave of reasoning models. {cite:t}`Cobbe2021verifiers`
fine-tuned GPT-3 models on grade-school word problems (GSM8K), sampled 100 solutions per
problem, and trained a second model to predict from a solution's text whether its final
answer was right. Picking the solution that this verifier liked best worked so well that a
6-billion-parameter model with a verifier slightly outperformed a fine-tuned model about 30
times its size. The verifier was trained on the policy's own samples, labelled automatically
by comparing the final answer with the reference: no human judged any reasoning.

{cite:t}`Lightman2023prm` asked whether it helps to judge the *steps* rather than only the
outcome. They collected human labels for every step of 75,000 solutions to MATH problems and
trained a *process* reward model; on a subset of MATH, choosing among 1,860 samples per
problem, the PRM reached 78.2% against 72.4% for an outcome reward model and 69.6% for majority
voting. Human step labels are expensive, so {cite:t}`Wang2024mathshepherd` (Math-Shepherd)
replaced them with an estimate: from each prefix of a solution, let the model finish the
solution several times, and label the prefix with the fraction of finishes that reach the
right answer. That is a Monte Carlo estimate of the *value* of the prefix, the probability of
success from that point on, and it needs nothing but the policy and an answer check.

Countdown lets us build both kinds of verifier from scratch on a CPU, and it still has the
oracle, so we can measure exactly how good each verifier is. We pretend, for the rest of this
chapter, that the oracle exists only to train and to grade, never to choose.
""")

md(r"""
## Two verifiers trained on the policy's own samples

Both verifiers are small transformers with the same shape as the policy, initialised from the
policy's weights, with a *value head*: one extra linear layer that turns the hidden state at a
position into a single number, squashed by a sigmoid into a probability. They read the prompt
and an attempt, `13 4 7 2>48:13-7=6,6*4=24,24*2=48.`, in one forward pass.

- The **outcome reward model (ORM)** predicts whether the whole attempt is correct. Its
  training data are attempts sampled from the policy on training problems, each labelled 1 or
  0 by the oracle; its score is read after the last step.
- The **process reward model (PRM)** predicts a probability after every step: at each comma
  that ends a step, and at the final full stop. Its labels come from rollouts in the manner of
  Math-Shepherd: for each step prefix of a sampled attempt, the policy completes the solution
  several times from that prefix, and the prefix is labelled 1 if any completion reaches a
  correct answer, 0 if none does (Math-Shepherd's "hard" estimate: a solution can still be
  found from here). The last step's label is the oracle's verdict on the attempt itself.

`tsc` ships both models with cards that say how they were made. Training takes several
minutes of CPU, so it is done once by a command, not in this notebook.
""")

code(r"""
policy = tsc.load_policy()
orm, prm = ORM(), PRM()  # the bundled reward models; the PRM scores an attempt by its weakest step
self_check = SelfVerifier(policy)  # the policy's own confidence, for comparison
for model in (orm.model, prm.model):
    card = model.card
    print(f"{card['kind'].upper()}: {model.n_params:,} parameters, {card['steps']:,} training steps, "
          f"{card['train_tokens'] / 1e6:.1f} M training tokens, {card['seconds'] / 60:.0f} min; "
          f"reproduce with: {card['reproduce']}")
""")

code(r"""
orm_card, prm_card = orm.model.card, prm.model.card
glue("orm_params", int(orm.model.n_params), display=False)
glue("orm_examples", int(orm_card["data_summary"]["completions"]), display=False)
glue("prm_completions", int(prm_card["data_summary"]["completions"]), display=False)
glue("prm_examples", int(prm_card["data_summary"]["labelled_steps"]), display=False)
glue("prm_rollouts", int(prm_card["recipe"]["rollouts"]), display=False)
glue("prm_data_minutes", prm_card["data_seconds"] / 60, display=False)
glue("prm_minutes", prm_card["seconds"] / 60, display=False)
""", hidden=True)

md(r"""
The two networks have {glue:text}`orm_params:,d` parameters each, like the policy. The ORM
learned from {glue:text}`orm_examples:,d` labelled attempts. The PRM learned from
{glue:text}`prm_examples:,d` labelled step prefixes of {glue:text}`prm_completions:,d`
attempts, each prefix rolled out {glue:text}`prm_rollouts` times. Sampling those rollouts took
{glue:text}`prm_data_minutes:.0f` minutes, about as long as training the network on them
({glue:text}`prm_minutes:.0f` minutes). This is the price of process supervision without
humans: the policy does the labelling, by trying.

Here is what the PRM sees in one of the policy's failed attempts. For each step we print the
PRM's probability that the attempt can still succeed after that step, and the *step oracle*'s
exact answer: 1 if the numbers left on the table can still reach the target (an exhaustive
search decides), 0 if the attempt is already lost.
""")

code(r"""
per_size = 80
problems = [p for size in (3, 4, 5) for p in countdown.generate(per_size, seed=6000 + size, sizes=(size,))]
size_of = np.array([len(p.numbers) for p in problems])
table = ta.draw(problems, policy, n=32, temperature=1.0, seed=6)
step_oracle = StepOracle()


def lost_midway(problem, text):
    # a wrong attempt whose first dead step is not its last: the PRM has something to find
    labels = step_oracle.score_steps(problem, [text])[0]
    return len(labels) >= 3 and 0.0 in labels[:-1] and labels[0] == 1.0


example, attempt = next((p, t) for p, row, ok in zip(problems, table.texts, table.correct) for t, c in zip(row, ok)
                        if not c and len(p.numbers) == 4 and lost_midway(p, t))
[prm_steps] = prm.score_steps(example, [attempt])
[oracle_steps] = step_oracle.score_steps(example, [attempt])
print(f"problem: {example.prompt()}   attempt: {attempt}")
for step, value, label in zip(example.steps(attempt), prm_steps, oracle_steps):
    print(f"  {step:<12} PRM {value:.2f}   step oracle {label:.0f}")
""")

code(r"""
first_dead = oracle_steps.index(0.0)
glue("ex_first_dead", first_dead + 1, display=False)
glue("ex_prm_before", float(prm_steps[first_dead - 1]) if first_dead else float("nan"), display=False)
glue("ex_prm_at", float(prm_steps[first_dead]), display=False)
""", hidden=True)

md(r"""
The step oracle says the attempt was lost at step {glue:text}`ex_first_dead`. The PRM's
estimate of the chance of success moves from {glue:text}`ex_prm_before:.2f` before that
step to {glue:text}`ex_prm_at:.2f` after it. A PRM that drops at the right step can do more
than rank whole attempts: it can say *where* to start again, which is what self-refinement
uses later in this chapter.

### How good are they?

A verifier for best-of-$N$ has one job: to rank a correct attempt above the wrong ones. The
standard measure of ranking is the **AUC**, the area under the ROC curve: the probability that
a randomly chosen correct attempt gets a higher score than a randomly chosen wrong one (ties
count half). 0.5 is a coin toss, 1.0 a perfect ranking. A second, separate property is
**calibration**: whether a score of 0.8 means that 80% of attempts with that score are right.
Ranking is what best-of-$N$ needs; calibration is what a strategy needs when it compares a
score with a threshold ("accept this step if the PRM is above 0.5") or weights votes by it.

We score the {glue:text}`table_samples:,d` samples of the table, 32 for each of
{glue:text}`n_problems` held-out problems, with five verifiers: the ORM; the PRM with three
ways of turning step scores into one score (the lowest step score, the last step's, or the
product of all, as if steps failed independently); and the policy's own confidence, the
geometric mean of the probabilities it gave its own tokens, which needs no training at all.
""")

code(r"""
def score_table(table, verifier, *, steps=False):
    # every sample of the table scored (per problem, one batched call), and the ledger it cost
    ledger = Ledger()
    score = verifier.score_steps if steps else verifier.score
    out = [score(p, list(row), ledger=ledger) for p, row in zip(table.problems, table.texts)]
    return (out if steps else np.array(out, dtype=float)), ledger


prm_steps_table, prm_ledger = score_table(table, prm, steps=True)
orm_scores, orm_ledger = score_table(table, orm)
self_scores, self_ledger = score_table(table, self_check)
scores = {
    "ORM": orm_scores,
    "PRM (min)": np.array([[aggregate(s, "min") for s in row] for row in prm_steps_table]),
    "PRM (last)": np.array([[aggregate(s, "last") for s in row] for row in prm_steps_table]),
    "PRM (product)": np.array([[aggregate(s, "product") for s in row] for row in prm_steps_table]),
    "self": self_scores,
}
def within_auc(s, correct):
    # the AUC inside each problem (where it has right and wrong samples), averaged over problems
    return float(np.nanmean([ta.auc(row, ok) if 0 < ok.sum() < len(ok) else np.nan for row, ok in zip(s, correct)]))


quality = {name: ta.bootstrap_statistic(ta.auc, s, table.correct, n_boot=300) for name, s in scores.items()}
within = {name: ta.bootstrap_statistic(within_auc, s, table.correct, n_boot=300) for name, s in scores.items()}
ece = {name: ta.calibration(s, table.correct)["ece"] for name, s in scores.items()}
print(f"{'verifier':<15}{'AUC, all samples':<22}{'AUC within a problem':<24}{'calibration error':>18}")
for name, (value, low, high) in quality.items():
    w, w_low, w_high = within[name]
    print(f"{name:<15}{value:.2f} ({low:.2f}-{high:.2f})    {w:.2f} ({w_low:.2f}-{w_high:.2f})      {ece[name]:>12.3f}")
""")

code(r"""
glue("table_samples", int(table.correct.size), display=False)
glue("n_problems", len(problems), display=False)
glue("base_rate", float(table.correct.mean()), display=False)
auc_value = {name: q[0] for name, q in quality.items()}
for name, key in [("ORM", "orm"), ("PRM (min)", "prm_min"), ("PRM (last)", "prm_last"), ("PRM (product)", "prm_prod"), ("self", "self")]:
    glue(f"auc_{key}", float(auc_value[name]), display=False)
    glue(f"within_{key}", float(within[name][0]), display=False)
    glue(f"ece_{key}", float(ece[name]), display=False)
glue("within_low", float(min(w[0] for w in within.values())), display=False)
glue("within_high", float(max(w[0] for w in within.values())), display=False)
problem_ok = table.correct.any(axis=1)
glue("auc_problem_only", float(ta.auc(np.repeat(table.correct.mean(axis=1, keepdims=True), table.n, axis=1), table.correct)), display=False)
# claims in the prose: all rank well over all samples, much less well within a problem
assert all(q[0] > 0.75 for q in quality.values()), quality
assert all(w[0] < q[0] - 0.08 for w, q in zip(within.values(), quality.values())), (within, quality)
assert all(w[1] > 0.5 for w in within.values()), within  # but better than chance
""", hidden=True)

md(r"""
Only {glue:text}`base_rate:.1%` of the samples are correct, so a verifier has to find a few
right attempts among many wrong ones. Measured over all samples, every verifier ranks well:
the AUC is {glue:text}`auc_prm_min:.2f` for the PRM scored by its weakest step
({glue:text}`auc_prm_last:.2f` by its last step, {glue:text}`auc_prm_prod:.2f` by the
product), {glue:text}`auc_orm:.2f` for the ORM, and {glue:text}`auc_self:.2f` for the policy's
own confidence, which needed no training at all.

The middle column tells a less flattering story, and it is the one that matters for choosing.
Best-of-$N$ never compares an attempt at one problem with an attempt at another; it ranks the
samples *of one problem*. Over all samples, much of a verifier's AUC comes from telling easy
problems from hard ones: a 3-number problem's attempts are right far more often than a
5-number problem's, and a verifier that has learned which problems are easy ranks its attempts
higher. Inside one problem, where difficulty is fixed, the same verifiers rank at only
{glue:text}`within_low:.2f` to {glue:text}`within_high:.2f`: better than chance, far from the
oracle. The reason is visible in the attempts themselves. Most wrong attempts of this policy
end with an equation that is simply false, such as `11*9=84`: the policy, unable to reach the
target, writes the target anyway. Catching that means redoing the arithmetic of the last step,
and our small verifiers, trained on tens of thousands of attempts, have learned it only
partly.

Calibration is shown in Figure 1: the samples are grouped by score into ten bins, and each
point compares the bin's mean score with the fraction of its samples that are correct.
""")

code(r"""
fig, ax = plt.subplots()
for name, color in [("ORM", "C0"), ("PRM (last)", "C1"), ("PRM (min)", "C2")]:
    bins = ta.calibration(scores[name], table.correct)["bins"]
    x = [b["mean_score"] for b in bins]
    y = [b["accuracy"] for b in bins]
    size = [12 + 400 * b["count"] / table.correct.size for b in bins]
    ax.plot(x, y, "-", color=color, alpha=0.6)
    ax.scatter(x, y, s=size, color=color, label=f"{name}: calibration error {ece[name]:.3f}", zorder=3)
ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
ax.set_xlabel("verifier score (mean within a bin)")
ax.set_ylabel("fraction of the bin's samples that are correct")
ax.set_xlim(0, 1)
ax.set_ylim(0, 1)
ax.legend(loc="upper left")
plt.show()
""")

md(r"""
**Figure 1.** Calibration of the learned verifiers on {glue:text}`table_samples:,d` held-out
samples. Each point is a bin of scores (area proportional to the number of samples in it);
points on the dotted diagonal are perfectly calibrated. Most samples sit in the lowest bins,
where the verifiers correctly expect failure.
""")

code(r"""
glue("ece_best", float(min(ece.values())), display=False)
""", hidden=True)

md(r"""
The ORM and the PRM's last-step score were trained to predict exactly this probability, and
they track the diagonal closely (calibration errors of {glue:text}`ece_orm:.3f` and
{glue:text}`ece_prm_last:.3f`). The PRM's minimum over steps is not a probability of success
but the most pessimistic of several estimates, so it sits below the diagonal by design
({glue:text}`ece_prm_min:.3f`); for ranking this does not matter, and for thresholds we will
keep it in mind.

## Best-of-N with a learned verifier

We now use the verifiers to choose. For each $k$ from 1 to 32, every problem draws random
subsets of $k$ of its 32 samples; the verifier picks the highest-scored sample of each subset,
and we count how often the pick is correct (`tsc.analysis.best_of_accuracy`). Two voting rules
complete the picture: plain majority voting, and **weighted voting**, where each sample votes
for its answer with its verifier score as weight, so that a few trusted samples can outvote
many doubtful ones {cite:p}`Wang2022selfconsistency`.

Choosing is not free. The verifier reads every sample, prompt included, in one forward pass;
the policy read the prompt once and wrote the sample token by token. Both cost about $2N$ FLOPs
per token for a model of $N$ parameters, and the ledger records them separately. We put
every curve on one axis: FLOPs per problem, policy plus verifier.
""")

code(r"""
ks = [1, 2, 4, 8, 16, 32]
samples = table.correct.size
prompt_flops = np.array([policy.flops(len(policy.encode([policy.format(p)])[0]), 0) for p in problems]).mean()
sample_flops = (table.ledger.policy_flops - len(problems) * prompt_flops) / samples  # writing one sample
verifier_flops = {"ORM": orm_ledger.verifier_flops / samples, "PRM": prm_ledger.verifier_flops / samples,
                  "self": self_ledger.verifier_flops / samples}


def flops_at(k, verifier=None):
    # FLOPs per problem for k samples: the prompt once, k samples, and the verifier reading each
    return prompt_flops + k * (sample_flops + (verifier_flops[verifier] if verifier else 0.0))


curves = {
    "oracle (coverage)": (ta.coverage(table, ks), None),
    "PRM, best-of-k": (ta.best_of_accuracy(table, scores["PRM (min)"], ks), "PRM"),
    "PRM, weighted vote": (ta.weighted_vote_accuracy(table, scores["PRM (min)"], ks, trials=60), "PRM"),
    "ORM, best-of-k": (ta.best_of_accuracy(table, scores["ORM"], ks), "ORM"),
    "self, best-of-k": (ta.best_of_accuracy(table, scores["self"], ks), "self"),
    "majority vote": (ta.majority_accuracy(table, ks, trials=60), None),
}
fig, ax = plt.subplots()
for (name, (curve, verifier)), color in zip(curves.items(), ["grey", "C2", "C2", "C0", "C4", "C3"]):
    x = [flops_at(k, verifier) for k in ks]
    style = "--" if "vote" in name and "PRM" in name else ("-" if name != "oracle (coverage)" else ":")
    tsc.viz.band(ax, x, curve, label=name, color=color, linestyle=style)
ax.set_xscale("log")
ax.set_xlabel("FLOPs per problem (policy + verifier)")
tsc.viz.percent_axis(ax)
ax.set_ylabel("problems solved")
ax.legend(loc="upper left", fontsize="small")
plt.show()
""")

md(r"""
**Figure 2.** Best-of-$k$ and voting on {glue:text}`n_problems` held-out problems, with
$k = 1, 2, \ldots, 32$ samples per problem from left to right on each curve, placed at the FLOPs
they cost (95% bootstrap bands over problems). The dotted curve is the oracle, the ceiling
any verifier can reach. Curves that use a learned verifier start to the right of the others:
reading the samples is part of their cost.
""")

code(r"""
at = {name: {k: (c["mean"][i], c["low"][i], c["high"][i]) for i, k in enumerate(ks)} for name, (c, _) in curves.items()}
for name, key in [("oracle (coverage)", "cov"), ("PRM, best-of-k", "prm"), ("PRM, weighted vote", "wv"),
                  ("ORM, best-of-k", "orm"), ("self, best-of-k", "self"), ("majority vote", "maj")]:
    for k in (1, 16, 32):
        glue(f"{key}{k}", float(at[name][k][0]), display=False)
    glue(f"{key}16_low", float(at[name][16][1]), display=False)
    glue(f"{key}16_high", float(at[name][16][2]), display=False)
glue("gap_closed_prm", float((at["PRM, best-of-k"][16][0] - at["majority vote"][16][0])
                             / (at["oracle (coverage)"][16][0] - at["majority vote"][16][0])), display=False)
glue("verifier_share", float(verifier_flops["PRM"] / (sample_flops + verifier_flops["PRM"])), display=False)
glue("flops_prm16", sci(flops_at(16, "PRM")), display=False)
glue("flops_maj16", sci(flops_at(16)), display=False)
# the issue's bar: best-of-16 by the PRM beats majority voting over 16 samples (paired over problems)
prm_vs_maj = ta.paired_difference(curves["PRM, best-of-k"][0], curves["majority vote"][0])
i16 = ks.index(16)
glue("prm_minus_maj16", float(prm_vs_maj["mean"][i16] * 100), display=False)
glue("prm_minus_maj16_low", float(prm_vs_maj["low"][i16] * 100), display=False)
glue("prm_minus_maj16_high", float(prm_vs_maj["high"][i16] * 100), display=False)
assert prm_vs_maj["low"][i16] > 0, prm_vs_maj
assert at["PRM, best-of-k"][16][0] < at["majority vote"][16][0] + 0.5 * (at["oracle (coverage)"][16][0] - at["majority vote"][16][0])
assert at["PRM, weighted vote"][16][0] >= at["PRM, best-of-k"][16][0]
assert abs(at["self, best-of-k"][16][0] - at["PRM, best-of-k"][16][0]) < 0.06  # "not clearly better"
""", hidden=True)

md(r"""
Figure 2 shows how much a verifier that ranks this way is worth. At 16 samples, best-of-16
chosen by the PRM solves {glue:text}`prm16:.1%` of the problems (95% interval
{glue:text}`prm16_low:.1%` to {glue:text}`prm16_high:.1%`) and majority voting
{glue:text}`maj16:.1%` ({glue:text}`maj16_low:.1%` to {glue:text}`maj16_high:.1%`).
Compared problem by problem, the PRM's pick is right {glue:text}`prm_minus_maj16:.1f`
percentage points more often than the vote's (95% interval {glue:text}`prm_minus_maj16_low:.1f`
to {glue:text}`prm_minus_maj16_high:.1f`): a real gain, but a small one. The oracle, choosing
among the same samples, solves {glue:text}`cov16:.1%`; the PRM closes only
{glue:text}`gap_closed_prm:.0%` of the selection gap. Weighting the votes by the PRM's scores
({glue:text}`wv16:.1%`) does a little better than best-of-$k$, because a correct solution the
policy finds twice gets two votes. The ORM picks {glue:text}`orm16:.1%`, and the policy's own
confidence {glue:text}`self16:.1%`: on this task, a verifier trained for the job is not clearly
better than the model's own sense of which of its answers are likely.

The price is visible on the horizontal axis. The verifier reads every sample once, prompt
included, so it adds {glue:text}`verifier_share:.0%` to the cost of each sample: best-of-16
with the PRM costs {glue:text}`flops_prm16` FLOPs per problem against {glue:text}`flops_maj16`
for majority voting. A learned verifier as large as the policy roughly doubles the cost of
every sample; the policy's own confidence would be free if the sampler kept its log
probabilities, as ours does.

{cite:t}`Lightman2023prm` found the same order on MATH with far larger models (PRM 78.2%, ORM
72.4%, majority voting 69.6% at 1,860 samples), with the learned verifiers well ahead of the
vote. Our verifiers show the order but not the margin; their within-problem ranking is the
bottleneck, and improving it, with more data, a larger verifier, or labels that target the
final equation, is the obvious next step.
""")

md(r"""
## When the verifier is fooled

A learned verifier is a model of the oracle, trained on a particular distribution of attempts.
Best-of-$N$ turns it into an *optimiser*: with $N$ samples we search for the attempt it scores
highest, and the harder we search, the more likely we are to find an attempt that the verifier
overrates, an error it has not learned to see. {cite:t}`Cobbe2021verifiers` saw exactly this:
on GSM8K, best-of-$N$ with their verifier improved up to about 400 completions per problem and
then declined, because among more samples there were more wrong solutions that happened to
look right to the verifier. This is a small instance of Goodhart's law, and {cite:t}`Snell2024`
report the same effect for search against a PRM on easy problems.

To look for it we need many samples of hard problems. We draw 256 samples for each of
{glue:text}`n_hard` held-out problems with four and five numbers and compare best-of-$k$ by the
PRM with the oracle as $k$ grows.
""")

code(r"""
hard = [p for size in (4, 5) for p in countdown.generate(20, seed=6100 + size, sizes=(size,))]
big = ta.draw(hard, policy, n=256, temperature=1.0, seed=7)
big_steps, _ = score_table(big, prm, steps=True)
big_scores = np.array([[aggregate(s, "min") for s in row] for row in big_steps])
ks_big = [1, 2, 4, 8, 16, 32, 64, 128, 256]
cov_big = ta.coverage(big, ks_big)
prm_big = ta.best_of_accuracy(big, big_scores, ks_big, trials=100)

fig, ax = plt.subplots()
tsc.viz.band(ax, ks_big, cov_big, label="oracle (coverage)", color="grey", linestyle=":")
tsc.viz.band(ax, ks_big, prm_big, label="PRM, best-of-k", color="C2")
tsc.viz.log2_samples_axis(ax, ks_big)
tsc.viz.percent_axis(ax)
ax.set_ylabel("problems solved")
ax.legend(loc="upper left")
plt.show()
""")

code(r"""
glue("n_hard", len(hard), display=False)
peak_at = int(np.argmax(prm_big["mean"]))
glue("big_prm_peak", float(prm_big["mean"][peak_at]), display=False)
glue("big_prm_peak_k", int(ks_big[peak_at]), display=False)
glue("big_prm_256", float(prm_big["mean"][-1]), display=False)
glue("big_cov_256", float(cov_big["mean"][-1]), display=False)
glue("big_gap_16", float(cov_big["mean"][4] - prm_big["mean"][4]), display=False)
glue("big_gap_256", float(cov_big["mean"][-1] - prm_big["mean"][-1]), display=False)
# the verifier's top choice at 256 samples, where it is wrong although a correct sample exists
fooled = [(p, row[int(np.argmax(s))], float(np.max(s)), int(np.argmax(s))) for p, row, s, ok in zip(hard, big.texts, big_scores, big.correct)
          if not ok[int(np.argmax(s))] and ok.any()]
glue("n_fooled", len(fooled), display=False)
glue("n_solvable_256", int(big.correct.any(axis=1).sum()), display=False)
declines = prm_big["mean"][-1] < prm_big["mean"][peak_at] - 0.02
glue("decline_text", "falls back to" if declines else "stays at", display=False)
assert cov_big["mean"][-1] - prm_big["mean"][-1] > cov_big["mean"][2] - prm_big["mean"][2], "the gap to the oracle grows with k"
assert declines and len(fooled) > len(hard) / 2  # the prose's "gives much of the gain back"
""", hidden=True)

md(r"""
**Figure 3.** Best-of-$k$ by the PRM on {glue:text}`n_hard` hard held-out problems (4 and 5
numbers), up to 256 samples each, against the oracle (95% bootstrap bands).

On our task, best-of-$k$ with the PRM peaks at {glue:text}`big_prm_peak:.1%` with
{glue:text}`big_prm_peak_k` samples and {glue:text}`decline_text` {glue:text}`big_prm_256:.1%`
at 256, while the oracle keeps climbing to {glue:text}`big_cov_256:.1%`. The distance between
the two curves widens from {glue:text}`big_gap_16:.1%` at 16 samples to
{glue:text}`big_gap_256:.1%` at 256: more samples bring more correct attempts, but also more
wrong attempts for the verifier to overrate, and it overrates them often enough to give much
of the gain back. On {glue:text}`n_fooled` of the {glue:text}`n_solvable_256` problems that
some sample solved, the PRM's favourite among 256 was wrong. Here are a few of them, with the
step at which the step oracle says the attempt was lost:
""")

code(r"""
for problem, text, score, _ in fooled[:4]:
    labels = step_oracle.score_steps(problem, [text])[0]
    lost = labels.index(0.0) + 1 if 0.0 in labels else None
    print(f"{problem.prompt():<18} PRM {score:.2f}  {text:<32} lost at step {lost}")
""")

md(r"""
The fooling attempts are not random noise. They are fluent, nearly right solutions, and they
fail in ways that are hard to see from the text without doing the arithmetic: a step that
leaves the numbers on the table unable to reach the target, or a final step whose result is
off. The verifier learned which *kinds* of attempt tend to succeed, and an attempt of a
successful kind with one wrong detail scores high. This is why verifier quality matters more
as compute grows: at small $N$ the verifier only has to beat a coin toss among a few attempts,
at large $N$ it has to reject the most convincing wrong attempt among hundreds.

## Checking its own work: self-correction with and without feedback

Best-of-$N$ spends its compute in parallel: every sample is drawn without knowing the others.
A second way is *sequential*: look at an attempt, find what is wrong with it, and try again.
Two very different versions of this idea go by the name of self-correction.

**Intrinsic self-correction** asks the model to review and improve its own answer with no
outside information. {cite:t}`Huang2023selfcorrect` tested it on reasoning benchmarks and
found that it does not help and often hurts: GPT-4 on GSM8K went from 95.5% to 91.5% to 89.0%
over two rounds of "review your answer", because the model changed right answers to wrong ones
about as often as the reverse. The gains reported for self-correction came from feedback the
model did not produce itself, an oracle stopping the loop at the right answer.

**Refinement with feedback** adds an outside signal. Self-Refine
{cite:p}`Madaan2023selfrefine` loops between generating, giving feedback and refining, and
improved seven tasks by about 20 points on average, but made little difference on mathematical
reasoning, where the model's own feedback was rarely right. A process reward model can supply
better feedback for a task like ours: it does not just say "wrong", it says *where*. Our
`self_refine` strategy keeps the steps of an attempt up to the first one the PRM scores below
0.5, and lets the policy write the rest again; it stops when every step passes, or after four
attempts, and answers with the attempt the PRM likes best.

For intrinsic revision we use a third bundled model, a **revision model**
{cite:p}`Snell2024`: the policy fine-tuned on sequences of failed attempts followed by a
correct one, so that it reads its earlier attempts in its prompt and tries something else.
Without a verifier, nothing tells it whether its last attempt was right, so its final answer
is simply its last attempt. We run both on {glue:text}`n_seq` of the held-out problems.
""")

code(r"""
reviser = tsc.load_policy("revision")
subset = [int(i) for s in (3, 4, 5) for i in np.flatnonzero(size_of == s)[:30]]
seq_problems = [problems[i] for i in subset]
rounds = 4
runs = {
    "revision, no feedback": [tsc.strategies.revise(p, policy, reviser=reviser, rounds=rounds, verifier=prm, seed=i)
                              for i, p in zip(subset, seq_problems)],
    "self-refine with the PRM": [tsc.strategies.self_refine(p, policy, verifier=prm, rounds=rounds, seed=i)
                                 for i, p in zip(subset, seq_problems)],
    "self-refine with the step oracle": [tsc.strategies.self_refine(p, policy, verifier=step_oracle, rounds=rounds, seed=i)
                                         for i, p in zip(subset, seq_problems)],
}


def solved_after(problem, result, r, how):
    # is the answer after r attempts correct? "last": the last attempt; "best": the best-scored so far
    texts, marks = result.candidates[:r], result.scores[:r]
    pick = len(texts) - 1 if how == "last" else max(range(len(texts)), key=lambda i: (marks[i], i))
    return problem.check(texts[pick])


attempts = list(range(1, rounds + 1))
seq_curves = {
    "revision, no feedback (last attempt)": ("revision, no feedback", "last"),
    "revision, the PRM picks an attempt": ("revision, no feedback", "best"),
    "self-refine with the PRM": ("self-refine with the PRM", "best"),
    "self-refine with the step oracle": ("self-refine with the step oracle", "best"),
}
seq_solved = {name: np.array([[solved_after(p, res, r, how) for r in attempts] for p, res in zip(seq_problems, runs[run])], dtype=float)
              for name, (run, how) in seq_curves.items()}
seq_table = table.subset(np.isin(np.arange(len(problems)), subset))
parallel = ta.best_of_accuracy(seq_table, scores["PRM (min)"][subset], attempts)

fig, ax = plt.subplots()
for (name, solved), color, style in zip(seq_solved.items(), ["C3", "C1", "C2", "grey"], ["-", "-", "-", ":"]):
    tsc.viz.band(ax, attempts, dict(zip(("mean", "low", "high"), ta.bootstrap(solved))), label=name, color=color, linestyle=style)
tsc.viz.band(ax, attempts, parallel, label="parallel samples, the PRM picks", color="C0", linestyle="--")
ax.set_xticks(attempts)
ax.set_xlabel("attempts per problem")
tsc.viz.percent_axis(ax)
ax.set_ylabel("problems solved")
ax.legend(loc="upper left", fontsize="small")
plt.show()
""")

md(r"""
**Figure 4.** Sequential strategies on {glue:text}`n_seq` held-out problems (30 of each size),
after 1 to 4 attempts per problem (95% bootstrap bands). Red: the revision model rewrites its
own attempts without feedback and answers with its last one. Orange: the same attempts, but
the PRM picks the one to answer with. Green: self-refinement, where the PRM finds the first
doubtful step and the policy rewrites from there (its first attempt is the greedy one). Grey:
the same with the exact step oracle as feedback. Blue, dashed: the same number of independent
samples, the PRM picking.
""")

code(r"""
curve_at = {name: solved.mean(axis=0) for name, solved in seq_solved.items()}
intrinsic, picked = seq_solved["revision, no feedback (last attempt)"], seq_solved["revision, the PRM picks an attempt"]
refined, oracle_refined = seq_solved["self-refine with the PRM"], seq_solved["self-refine with the step oracle"]
glue("n_seq", len(seq_problems), display=False)
glue("greedy_seq", float(refined[:, 0].mean()), display=False)
glue("refine_4", float(refined[:, -1].mean()), display=False)
glue("oracle_refine_4", float(oracle_refined[:, -1].mean()), display=False)
glue("intrinsic_1", float(intrinsic[:, 0].mean()), display=False)
glue("intrinsic_4", float(intrinsic[:, -1].mean()), display=False)
glue("picked_4", float(picked[:, -1].mean()), display=False)
glue("parallel_4", float(parallel["mean"][-1]), display=False)
# how often a revision without feedback turns a right attempt into a wrong one, and the reverse
def attempt_marks(problem, result):
    # the oracle's verdict on each attempt; a revision that stopped early keeps its last attempt
    marks = [problem.check(t) for t in result.candidates]
    return marks + marks[-1:] * (rounds - len(marks))


attempt_ok = np.array([attempt_marks(p, res) for p, res in zip(seq_problems, runs["revision, no feedback"])])
right_before = attempt_ok[:, :-1]
broke = float((right_before & ~attempt_ok[:, 1:]).sum() / max(1, right_before.sum()))
fixed = float((~right_before & attempt_ok[:, 1:]).sum() / max(1, (~right_before).sum()))
glue("revised_right_to_wrong", broke, display=False)
glue("revised_wrong_to_right", fixed, display=False)
refine_gain = ta.bootstrap(refined[:, -1] - refined[:, 0])
glue("refine_gain", float(refine_gain[0]), display=False)
glue("refine_gain_low", float(refine_gain[1]), display=False)
glue("refine_gain_high", float(refine_gain[2]), display=False)
refine_flops = np.mean([r.ledger.flops for r in runs["self-refine with the PRM"]])
refine_verifier = np.mean([r.ledger.verifier_flops for r in runs["self-refine with the PRM"]])
greedy_flops = prompt_flops + sample_flops  # one greedy attempt, about as long as a sample
glue("refine_flops", sci(refine_flops), display=False)
glue("refine_verifier_share", float(refine_verifier / refine_flops), display=False)
glue("greedy_flops", sci(greedy_flops), display=False)
glue("refine_calls", float(np.mean([len(r.candidates) for r in runs["self-refine with the PRM"]])), display=False)
glue("pass1_seq", float(seq_table.correct.mean()), display=False)
# claims in the prose
assert refine_gain[0] >= 0, refine_gain  # refining with the PRM does not lose to its greedy start...
assert oracle_refined[:, -1].mean() > refined[:, 0].mean() + 0.1  # ...exact feedback wins clearly
assert oracle_refined[:, -1].mean() > refined[:, -1].mean() + 0.05
assert broke > fixed  # a revision breaks right attempts more often than it mends wrong ones
assert abs(intrinsic[:, -1].mean() - seq_table.correct.mean()) < 0.1  # the last revision is about as good as a sample
""", hidden=True)

md(r"""
**Without feedback, revising barely moves.** The revision model's first attempt (a sample)
solves {glue:text}`intrinsic_1:.1%` of the problems and its fourth
{glue:text}`intrinsic_4:.1%`, close to what a single fresh sample solves on these problems
({glue:text}`pass1_seq:.1%`) and below greedy decoding. From one attempt to the next it turned
{glue:text}`revised_right_to_wrong:.0%` of right attempts into wrong ones and mended only
{glue:text}`revised_wrong_to_right:.0%` of wrong ones: it was trained on sequences in which
every earlier attempt had failed, so a right attempt in its prompt reads to it as one more
failure, and it tries something else. {cite:t}`Snell2024` report the same hazard for their
revision model on MATH, where about 38% of correct answers were revised into incorrect ones,
which is why they let a verifier or a vote choose among the revisions instead of trusting the
last. The orange curve does that ({glue:text}`picked_4:.1%` after four attempts); with our
PRM's weak within-problem ranking, choosing helps little. This is the pattern
{cite:t}`Huang2023selfcorrect` found for intrinsic self-correction: without a signal from
outside, a model has no reliable way to know which of its answers to keep.

**With feedback that says where, refining helps, as far as the feedback is right.**
Self-refinement with the PRM starts from the greedy attempt ({glue:text}`greedy_seq:.1%` on
these problems) and ends at {glue:text}`refine_4:.1%` after at most four attempts, a gain of
{glue:text}`refine_gain:.1%` whose 95% interval runs from {glue:text}`refine_gain_low:.1%` to
{glue:text}`refine_gain_high:.1%`. It stops as soon as every step passes, which with this PRM
is rare: it uses {glue:text}`refine_calls:.1f` attempts per problem on average and costs
{glue:text}`refine_flops` FLOPs per problem against {glue:text}`greedy_flops` for the greedy
attempt alone, {glue:text}`refine_verifier_share:.0%` of it the PRM reading the attempts. The
PRM doubts many correct steps on hard problems, so it sends the policy back to rewrite steps
that were fine. With the exact step oracle as feedback the same loop reaches
{glue:text}`oracle_refine_4:.1%`. The distance between the green and grey curves is the price
of the PRM's mistakes, and the grey curve shows what the loop is worth once the feedback is
good: feedback, not the act of revising, is what makes self-correction work.

## Sequential or parallel?

Figure 4 also answers a question of budgeting. With four attempts per problem, are they better
spent one after another, each informed by the last, or independently, with the verifier picking
the best? {cite:t}`Snell2024` found that the answer depends on difficulty: on easy questions,
sequential revisions were the better use of a budget, while harder questions wanted a mix with
more parallel sampling, because a model that is far off benefits more from trying different
approaches than from polishing one. We split our comparison by the number of numbers in the
problem, at four attempts each.
""")

code(r"""
by_size = {}
for s in (3, 4, 5):
    rows = np.array([len(p.numbers) == s for p in seq_problems])
    by_size[s] = {
        "sequential revisions, PRM picks": picked[rows, -1],
        "self-refine with the PRM": refined[rows, -1],
        "parallel samples, PRM picks": ta.best_of_accuracy(seq_table.subset(rows), scores["PRM (min)"][subset][rows], [rounds])["mean"][0],
    }
names = list(by_size[3])
fig, ax = plt.subplots()
width = 0.26
for j, name in enumerate(names):
    means = [np.mean(by_size[s][name]) for s in (3, 4, 5)]
    ax.bar(np.arange(3) + (j - 1) * width, means, width, label=name, color=["C1", "C2", "C0"][j])
ax.set_xticks(range(3))
ax.set_xticklabels(["3 numbers", "4 numbers", "5 numbers"])
tsc.viz.percent_axis(ax)
ax.set_ylabel("problems solved with 4 attempts")
ax.legend(loc="upper right", fontsize="small")
plt.show()
""")

code(r"""
for s in (3, 4, 5):
    glue(f"seq_{s}", float(np.mean(by_size[s]["sequential revisions, PRM picks"])), display=False)
    glue(f"ref_{s}", float(np.mean(by_size[s]["self-refine with the PRM"])), display=False)
    glue(f"par_{s}", float(by_size[s]["parallel samples, PRM picks"]), display=False)
seq_minus_par = {s: float(np.mean(by_size[s]["sequential revisions, PRM picks"]) - by_size[s]["parallel samples, PRM picks"]) for s in (3, 4, 5)}
glue("seq_vs_par_3", f"{abs(seq_minus_par[3]) * 100:.0f} points {'above' if seq_minus_par[3] >= 0 else 'below'}", display=False)
glue("seq_vs_par_5", f"{abs(seq_minus_par[5]) * 100:.0f} points {'above' if seq_minus_par[5] >= 0 else 'below'}", display=False)
""", hidden=True)

md(r"""
**Figure 5.** Four attempts per problem spent three ways, by problem size ({glue:text}`n_seq`
problems, 30 of each size): four sequential revisions with the PRM picking the answer, PRM-guided
self-refinement (which may stop early), and four independent samples with the PRM picking.

On 3-number problems the sequential revisions solve {glue:text}`seq_3:.0%`, four parallel
samples {glue:text}`par_3:.0%` ({glue:text}`seq_vs_par_3` them); on 5-number problems
{glue:text}`seq_5:.0%` against {glue:text}`par_5:.0%` ({glue:text}`seq_vs_par_5`). With thirty
problems per size these differences carry wide intervals, so read Figure 5 as a sketch of the
trade-off, not a verdict. Self-refinement, which reuses every step the PRM trusts, solves
{glue:text}`ref_3:.0%`, {glue:text}`ref_4:.0%` and {glue:text}`ref_5:.0%` of the three sizes.

The compute of the sequential strategies is also shaped differently. A revision reads all
earlier attempts in its prompt, so each attempt costs a little more than the last, and
attempts cannot be batched: the second waits for the first. Parallel samples share one prompt
and run in one batch, which on real hardware is the cheapest way to spend FLOPs. A compute-optimal
strategy would choose per problem, by difficulty, between these shapes; Chapter 4 builds such an
allocator.
""")

code(r"""
glue("chapter_seconds", time.perf_counter() - chapter_started, display=False)
""", hidden=True)

md(r"""
## Summary

```{admonition} Key takeaways
:class: important

- A verifier turns coverage into accuracy. An **outcome reward model** predicts from the text
  of a finished attempt whether it is right; a **process reward model** predicts, after every
  step, whether the attempt can still succeed. Both can be trained from the policy's own
  samples: the ORM with the answer check as label, the PRM with Monte Carlo rollouts from each
  step prefix (Math-Shepherd), with no human labels.
- Judge a verifier by its **ranking** (the AUC) and by its **calibration**, which matters
  whenever a score is compared with a threshold.
- A verifier is judged by how it ranks the samples *of one problem*. Ours rank well across
  problems (AUC about {glue:text}`auc_prm_min:.2f`) but only {glue:text}`within_low:.2f` to
  {glue:text}`within_high:.2f` within one; best-of-16 by the PRM solved {glue:text}`prm16:.0%`
  of held-out problems against {glue:text}`maj16:.0%` for majority voting and
  {glue:text}`cov16:.0%` for the oracle, at {glue:text}`flops_prm16` against
  {glue:text}`flops_maj16` FLOPs per problem. Count the verifier's FLOPs: it reads every sample.
- A learned verifier can be **over-optimised**: the more samples it chooses among, the more
  convincing wrong attempts it meets. Its distance to the oracle grew from
  {glue:text}`big_gap_16:.0%` at 16 samples to {glue:text}`big_gap_256:.0%` at 256.
- **Intrinsic self-correction** does not help: revising without feedback broke
  {glue:text}`revised_right_to_wrong:.0%` of right attempts and ended near a single sample.
  **Refinement with feedback** can: with exact step feedback, four attempts took the policy from
  {glue:text}`greedy_seq:.0%` to {glue:text}`oracle_refine_4:.0%`; with our learned PRM's
  noisier feedback, to {glue:text}`refine_4:.0%`.
- Sequential and parallel attempts are different shapes of the same budget; which is better
  depends on the problem's difficulty.
```

## Further reading

- {cite:t}`Cobbe2021verifiers` introduced GSM8K and trained outcome verifiers on the policy's
  own samples; their analysis of verifier over-optimisation is worth reading in full.
- {cite:t}`Lightman2023prm` compared process and outcome supervision at scale and released
  PRM800K, the human step labels.
- {cite:t}`Wang2024mathshepherd` showed how to get process labels from rollouts instead of
  humans, the method our PRM uses.
- {cite:t}`Madaan2023selfrefine` and {cite:t}`Huang2023selfcorrect` are the two sides of the
  self-correction debate.
- {cite:t}`Snell2024` trained revision models and compared sequential with parallel compute
  by difficulty.

## Exercises
""")

md(r"""
```{exercise} One score from many steps
:label: ex-6-1

A PRM gives one score per step. Write `my_aggregate(step_scores, how)` that returns one score
for the whole attempt: the lowest step score for `how="min"`, the last one for `how="last"`,
and the product of all for `how="product"`. An attempt with no steps at all should score 0.
Then look at the AUC table above: which aggregation ranks best on our task, and why might the
product be a poor choice for long solutions?
```
""")

code(r"""
def my_aggregate(step_scores, how):
    return None  # replace with your code
""")

code(r"""
print(tsc.exercises.check_aggregate(my_aggregate))
""")

md(r"""
````{solution} ex-6-1
:class: dropdown

```python
import math


def my_aggregate(step_scores, how):
    if not step_scores:
        return 0.0
    if how == "min":
        return min(step_scores)
    if how == "last":
        return step_scores[-1]
    return math.prod(step_scores)
```

The minimum says "an attempt is as good as its weakest step", which is what
{cite:t}`Lightman2023prm` used; the last score is what the PRM believes after reading the whole
attempt, close to what an ORM predicts. The product treats the step scores as independent
chances of each step being right, but a PRM's step score is already the chance of success
*from that point on*, so multiplying counts the same risk several times and punishes long
attempts merely for being long: a five-step solution with every step at 0.9 scores 0.59, a
two-step one 0.81.
````
""")

md(r"""
```{exercise} The AUC by hand
:label: ex-6-2

Write `my_auc(scores, labels)` that returns the probability that a randomly chosen positive
(label `True`) scores higher than a randomly chosen negative, counting ties as one half. Do not
use `tsc.analysis.auc` or a library. Then compute it for the ORM's scores of the first problem
of the table, `my_auc(list(scores["ORM"][0]), list(table.correct[0]))`: what does it mean when
it is `nan`?
```
""")

code(r"""
def my_auc(scores, labels):
    return None  # replace with your code
""")

code(r"""
print(tsc.exercises.check_auc(my_auc))
""")

md(r"""
````{solution} ex-6-2
:class: dropdown

```python
def my_auc(scores, labels):
    positives = [s for s, y in zip(scores, labels) if y]
    negatives = [s for s, y in zip(scores, labels) if not y]
    if not positives or not negatives:
        return float("nan")
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))
```

This compares every pair, which is fine for a few thousand samples; `tsc.analysis.auc` gets the
same number from ranks in $O(n \log n)$ (the Mann-Whitney statistic). The AUC is undefined
(`nan`) for a problem where all 32 samples are wrong, or all right: there is no pair to rank.
That is why the chapter computes the AUC over all samples of all problems at once.
````
""")

md(r"""
```{exercise} The weighted vote
:label: ex-6-3

Write `my_weighted_vote(keys, scores)` that returns the index of the chosen sample: group the
samples by answer key (a key of `None` marks a malformed sample, which does not vote), sum each
group's scores, take the heaviest group (the first one seen on ties), and return its
highest-scored member (the first on ties); return `None` if no sample has a key. When does the
weighted vote choose differently from best-of-$N$ with the same scores?
```
""")

code(r"""
def my_weighted_vote(keys, scores):
    return None  # replace with your code
""")

code(r"""
print(tsc.exercises.check_weighted_vote(my_weighted_vote))
""")

md(r"""
````{solution} ex-6-3
:class: dropdown

```python
def my_weighted_vote(keys, scores):
    weights = {}
    for key, score in zip(keys, scores):
        if key is not None:
            weights[key] = weights.get(key, 0.0) + score
    if not weights:
        return None
    winner = max(weights, key=weights.get)  # max keeps the first of equal weights
    members = [i for i, key in enumerate(keys) if key == winner]
    return max(members, key=lambda i: (scores[i], -i))
```

Best-of-$N$ returns the single highest score. The weighted vote can overrule it when several
samples agree on a different answer whose scores add up to more, for example three samples at
0.4 against one at 0.9. On a task whose answers repeat (a number), agreement is evidence and the
vote uses it; on Countdown, where correct solutions rarely coincide, the two choose alike.
````
""")

code(r"""
# The checkers work: each accepts the reference solution, rejects a wrong one, and reads the
# untouched placeholders as "not attempted" (never raising).
import math


def ref_aggregate(step_scores, how):
    if not step_scores:
        return 0.0
    return {"min": min, "last": lambda s: s[-1], "product": math.prod}[how](step_scores)


def ref_auc(scores, labels):
    positives = [s for s, y in zip(scores, labels) if y]
    negatives = [s for s, y in zip(scores, labels) if not y]
    if not positives or not negatives:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives) / (len(positives) * len(negatives))


def ref_weighted_vote(keys, scores):
    weights = {}
    for key, score in zip(keys, scores):
        if key is not None:
            weights[key] = weights.get(key, 0.0) + score
    if not weights:
        return None
    winner = max(weights, key=weights.get)
    members = [i for i, key in enumerate(keys) if key == winner]
    return max(members, key=lambda i: (scores[i], -i))


assert tsc.exercises.check_aggregate(my_aggregate).status == "not attempted"
assert tsc.exercises.check_aggregate(ref_aggregate).correct
assert tsc.exercises.check_aggregate(lambda s, how: min(s) if s else 0.0).status == "incorrect"
assert tsc.exercises.check_auc(my_auc).status == "not attempted"
assert tsc.exercises.check_auc(ref_auc).correct
assert tsc.exercises.check_auc(lambda s, y: sum(p > n for p in [a for a, b in zip(s, y) if b] for n in [a for a, b in zip(s, y) if not b])
                               / max(1, sum(y) * (len(y) - sum(y)))).status == "incorrect"
assert tsc.exercises.check_weighted_vote(my_weighted_vote).status == "not attempted"
assert tsc.exercises.check_weighted_vote(ref_weighted_vote).correct
assert tsc.exercises.check_weighted_vote(lambda keys, scores: max(range(len(scores)), key=scores.__getitem__)).status == "incorrect"
# the reference AUC agrees with the library on the chapter's own data
assert abs(ref_auc(list(scores["ORM"].ravel()[:2000]), list(table.correct.ravel()[:2000])) - ta.auc(scores["ORM"].ravel()[:2000], table.correct.ravel()[:2000])) < 1e-9
""", hidden=True)


if __name__ == "__main__":
    notebook = {
        "cells": [{**c, "source": c["source"].splitlines(keepends=True)} for c in CELLS],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}, "language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    out = Path(__file__).resolve().parent.parent / "06_models_that_check_their_work.ipynb"
    out.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} ({len(CELLS)} cells)")
