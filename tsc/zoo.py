"""The model zoo: install trained models into ``tsc/assets``, list them, and write its README.

Every bundled model is a plain `transformers` folder with a ``card.json`` (data, steps,
tokens, FLOPs, wall time, seed, evaluation figures). A family (``card["family"]``) is one
recipe trained at several sizes, each also saved part-way through its run, so Chapter 4 can
put every checkpoint on one training-FLOPs axis. Weights are stored in half precision where
the recipe says so (`install`); they load back as float32, and the figures on the card are
computed from the stored weights, so they are what a reader gets.
"""

from __future__ import annotations

import json
from pathlib import Path

from tsc.io import read_card, write_atomic
from tsc.lm.checkpoint import ASSETS, bundled_models

README = ASSETS / "README.md"
ZOO_FIELDS = ("kind", "task", "family", "params", "steps", "train_tokens", "train_flops", "seconds", "seed", "stored", "init_from")
SHIPPED_BESIDE = ("train_log.json",)  # files of a run folder that ship with its weights (an RL run's log)


def install(folder: str | Path, name: str, *, half: bool) -> Path:
    """Copy the model in ``folder`` into ``tsc/assets/name`` (float16 weights if ``half``) and
    return its folder. The card gets the new name; nothing is half-written (see `save_checkpoint`)."""
    import torch

    from tsc.lm.policy import load_policy
    from tsc.lm.train import save_checkpoint

    policy = load_policy(folder)
    card = dict(policy.card, name=name, stored="float16" if half else "float32")
    card.pop("weights_sha256", None)
    model = policy.model.to(torch.float16) if half else policy.model
    save_checkpoint(model, policy.tokenizer, ASSETS / name, card)
    for extra in SHIPPED_BESIDE:
        if (Path(folder) / extra).is_file():
            write_atomic(ASSETS / name / extra, (Path(folder) / extra).read_text(encoding="utf-8"))
    return ASSETS / name


def evaluate_installed(name: str) -> dict:
    """Compute the card figures of bundled model ``name`` from its stored weights and write
    them onto its card (atomically); returns them."""
    from tsc.evaluation import evaluate_model
    from tsc.lm.policy import load_policy

    policy = load_policy(name)
    figures = evaluate_model(policy)
    write_atomic(policy.path / "card.json", json.dumps(dict(policy.card, eval=figures), indent=2) + "\n")
    return figures


def zoo() -> list[dict]:
    """One row per bundled model: name, the card's headline fields, its size on disk and its
    evaluation figures (what ``python -m tsc zoo --json`` prints)."""
    rows = []
    for name, folder in bundled_models(kind=None).items():
        try:
            card = read_card(folder)
        except ValueError:  # a damaged card: list the model anyway, without figures
            card = {}
        row = {"name": name, **{k: card.get(k) for k in ZOO_FIELDS}}
        row["megabytes"] = round(sum(f.stat().st_size for f in folder.iterdir() if f.is_file()) / 1e6, 2)
        row["eval"] = card.get("eval")
        rows.append(row)
    return rows


def _cell(figure: dict | None) -> str:
    if not isinstance(figure, dict):
        return "–"
    return f"{figure['value']:.1%} ({figure['low']:.1%}–{figure['high']:.1%})"


def markdown_table(header: str, rows) -> str:
    """A Markdown table: ``header`` names the columns between bars (``| model | params: |``; a
    colon after a name aligns that column right), each row is a list of its cells' text."""
    names = [name.strip() for name in header.strip().strip("|").split("|")]
    rule = "|" + "".join("---:|" if name.endswith(":") else "---|" for name in names)
    lines = ["| " + " | ".join(name.rstrip(":") for name in names) + " |", rule]
    return "\n".join(lines + ["| " + " | ".join(map(str, cells)) + " |" for cells in rows])


def _cells(overall: dict, keys: tuple[str, ...]) -> list[str]:
    return [_cell(overall.get(k)) for k in keys]


def family_table(rows: list[dict] | None = None, family: str = "countdown") -> str:
    """The family's greedy and pass@k figures, smallest model first, as a Markdown table."""
    rows = [r for r in (rows or zoo()) if r.get("family") == family and r.get("eval")]
    rows.sort(key=lambda r: (r["params"] or 0, r["steps"] or 0))
    return markdown_table(
        "| model | params: | step: | train tokens: | train FLOPs: | greedy | pass@1 | pass@4 | pass@16 | pass@32 |",
        (
            [f"`{r['name']}`", f"{r['params']:,}", f"{r['steps']:,}", f"{r['train_tokens'] / 1e6:.1f} M", f"{r['train_flops']:.2e}"]
            + _cells(r["eval"].get("overall", {}), ("greedy", "pass@1", "pass@4", "pass@16", "pass@32"))
            for r in rows
        ),
    )


def zoo_table(rows: list[dict] | None = None) -> str:
    """Every bundled model with its kind, task, size and headline figure, as a Markdown table."""
    rows = rows or zoo()
    table = markdown_table(
        "| model | kind | task | params: | train FLOPs: | stored | MB: | headline (95 % interval) |",
        (
            [f"`{r['name']}`", r["kind"] or "policy", r["task"] or "countdown", f"{r['params'] or 0:,}", f"{(r['train_flops'] or 0):.2e}"]
            + [r["stored"] or _stored(r), f"{r['megabytes']:.1f}", headline(r)]
            for r in rows
        ),
    )
    return table + f"\n| **all** | | | | | | **{sum(r['megabytes'] for r in rows):.1f}** | |"


def _stored(row: dict) -> str:
    """How a model without ``stored`` on its card keeps its weights."""
    return "float32 trunk, float16 top" if row.get("kind") in ("orm", "prm") else "float32"


def headline(row: dict) -> str:
    """The one figure that says what a model is for, from its card."""
    figures = row.get("eval") or {}
    overall = figures.get("overall") or {}
    if row.get("kind") == "trace" and figures.get("thinking"):
        by = figures["thinking"]
        low, high = ("64" if "64" in by else min(by, key=int)), max(by, key=int)
        return f"budget forcing: {_cell(by[low])} at {low} thinking tokens, {_cell(by[high])} at {high}"
    if row.get("kind") in ("orm", "prm"):
        auc, best = overall.get("auc"), overall.get("best_of_16")
        return f"AUC {auc['value']:.3f} ({auc['low']:.3f}–{auc['high']:.3f}), best-of-16 {_cell(best)}" if auc else "see card"
    if row.get("kind") == "revision":
        last = overall.get("revise_last@4")
        return f"last of 4 revisions {_cell(last)}, greedy {_cell(overall.get('greedy'))}" if last else "see card"
    vote = next((k for k in overall if k.startswith("majority@") and not k.endswith("greedy")), None)
    parts = [f"greedy {_cell(overall.get('greedy'))}"]
    if vote:
        parts.append(f"{vote} {_cell(overall.get(vote))}")
    return ", ".join(parts) if overall else "see card"


def thinking_table(rows: list[dict]) -> str:
    """The trace model's accuracy at each thinking budget (budget forcing, greedy)."""
    traces = [r["eval"] for r in rows if r.get("kind") == "trace" and (r.get("eval") or {}).get("thinking")]
    return markdown_table(
        "| thinking tokens (at most): | solved | thinking tokens spent (mean): | stopped by itself: |",
        (
            [f"{int(budget):,}", _cell(figure), f"{f['mean_thinking_tokens'][budget]:.0f}", f"{f['stops_by_itself_within'][budget]:.0%}"]
            for f in traces
            for budget, figure in f["thinking"].items()
        ),
    )


def steps_table(rows: list[dict]) -> str:
    """Each task's step-by-step policy against its direct-answer twin: what chain of thought buys."""
    table = []
    for r in sorted(rows, key=lambda r: (r.get("task") or "", r.get("kind") or "")):
        overall = (r.get("eval") or {}).get("overall") or {}
        # one model per task and kind: not the family's smaller sizes, not a model fine-tuned from another
        twin = r.get("kind") in ("policy", "direct") and (not r.get("family") or r["name"] == "countdown") and not r.get("init_from")
        if twin and "greedy" in overall:
            table.append(
                [r["task"], f"`{r['name']}`", r["kind"]] + _cells(overall, ("greedy", "pass@32", "majority@16", "majority@16-greedy"))
            )
    return markdown_table("| task | model | kind | greedy | pass@32 | majority@16 (T=0.8) | majority@16 − greedy (paired) |", table)


def rl_table(rows: list[dict]) -> str:
    """Each model trained by reinforcement learning (`tsc.lm.rl`) against the policy it started from."""
    table, by_name = [], {r["name"]: r for r in rows}
    for r in rows:
        start = (r.get("init_from") or {}).get("model")
        card = read_card(bundled_models(kind=None)[r["name"]]) if start in by_name else {}
        if "sampling_flops" not in card:  # fine-tuned some other way (revision, trace)
            continue
        for row, steps, sampling, update in ((by_name[start], 0, 0, 0), (r, r["steps"], card["sampling_flops"], card["update_flops"])):
            overall = (row.get("eval") or {}).get("overall") or {}
            table.append(
                [f"`{row['name']}`", f"{steps:,}", f"{sampling:.2e}", f"{update:.2e}"]
                + _cells(overall, ("greedy", "pass@1", "pass@16", "pass@32"))
            )
    return markdown_table("| model | RL steps: | sampling FLOPs: | update FLOPs: | greedy | pass@1 | pass@16 | pass@32 |", table)


def write_readme() -> Path:
    """Write ``tsc/assets/README.md`` from the cards (``python -m tsc zoo --readme``)."""
    write_atomic(README, readme_text())
    return README


def readme_text() -> str:
    """The zoo's README as computed from the cards (a test checks the file is up to date)."""
    rows = zoo()
    return f"""# The model zoo

Written by `python -m tsc zoo --readme` from the models' cards; do not edit by hand. Every
model is reproduced by the command on its card (`reproduce`), e.g.
`python -m tsc train --recipe countdown-s --install`, and loads with
`tsc.load_policy(name)` (reward models with `tsc.verifiers.get_verifier(name)`).

## All models

{zoo_table(rows)}

## The Countdown family: train bigger or think longer

The default model's data and schedule (1,125 steps of 256 fresh problems) at four sizes,
each saved at steps 500, 1,000 and 1,125. Figures on {_family_problems(rows)} held-out
problems (sizes 3–5 equally weighted); pass@k from 32 samples at temperature 1; 95 %
bootstrap intervals over problems. Training FLOPs follow `tsc.compute.training_flops`
(≈ 6·N per token plus attention).

{family_table(rows)}

## Think longer: the trace model and budget forcing

`trace` writes a depth-first search before it answers (`tsc.tasks.trace`); budget forcing
(`python -m tsc solve --strategy budget_forcing --thinking-tokens N`) cuts the thinking at
N tokens and makes it answer. Greedy, on held-out problems of its size:

{thinking_table(rows)}

## Reinforcement learning: the policy against where it started

`countdown-rl` is `countdown` trained further by GRPO (`tsc.lm.rl`, Chapter 2) on its own
samples, rewarded by the oracle; its training log (held-out accuracy against training FLOPs)
ships beside it as `train_log.json`. Same problems and figures as the family's:

{rl_table(rows)}

## Chain of thought against direct answers

Each task's step-by-step model against a twin trained on the same problems to write the
answer alone (an expression for Countdown, a number for arithmetic):

{steps_table(rows)}
"""


def _family_problems(rows: list[dict]) -> str:
    return next((f"{r['eval']['overall']['problems']:,}" for r in rows if r.get("family") and r.get("eval")), "the")


def compare_figures(new: dict, card: dict, prefix: str = "") -> list[tuple[str, float, dict]]:
    """(name, new value, card figure) for every figure with an interval that both evaluations
    hold, nested sections included (``overall/greedy``, ``by_size/3/pass@4``, ``thinking/512``)."""
    rows = []
    for key, old in card.items():
        if key not in new:
            continue
        if isinstance(old, dict) and {"value", "low", "high"} <= set(old) and isinstance(new[key], dict):
            rows.append((prefix + key, float(new[key]["value"]), old))
        elif isinstance(old, dict) and isinstance(new[key], dict):
            rows += compare_figures(new[key], old, prefix + key + "/")
    return rows
