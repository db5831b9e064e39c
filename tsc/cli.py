"""``python -m tsc``: train a model, solve problems from a file, list the bundled models.

    python -m tsc train --recipe countdown --install
    python -m tsc solve --model countdown --strategy majority --n 16 --temperature 0.8 \\
        --input problems.jsonl --output answers.jsonl
    python -m tsc zoo --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tsc.tasks.countdown import Countdown, parse

MAX_NUMBERS, MIN_NUMBERS = 6, 2


class UserError(Exception):
    """A mistake in the command line or its files: reported in one line, no traceback."""


def _parser() -> argparse.ArgumentParser:
    from tsc.lm.train import RECIPES
    from tsc.strategies import STRATEGIES
    from tsc.verifiers import VERIFIERS

    parser = argparse.ArgumentParser(prog="python -m tsc", description="Test-time compute scaling on a tiny language model.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model by a named recipe, evaluate it and write its card")
    train.add_argument("--recipe", required=True, choices=sorted(RECIPES))
    train.add_argument("--out", help="run folder (default runs/RECIPE)")
    train.add_argument("--steps", type=int, help="override the recipe's number of steps")
    train.add_argument("--no-eval", action="store_true", help="skip the evaluation figures on the card")
    train.add_argument("--install", action="store_true", help="copy the trained model into tsc/assets/RECIPE")

    evaluate = commands.add_parser("evaluate", help="compute a model's card figures on held-out problems")
    evaluate.add_argument("--model", default=None, help="bundled model name or folder (default: the Countdown model)")
    evaluate.add_argument("--per-size", type=int, default=300)
    evaluate.add_argument("--write-card", action="store_true", help="store the figures in the model folder's card.json")

    solve = commands.add_parser("solve", help="answer every problem of a JSON-lines file")
    solve.add_argument("--model", default=None, help="bundled model name or folder (default: the Countdown model)")
    solve.add_argument("--strategy", default="greedy", choices=sorted(STRATEGIES))
    solve.add_argument("--n", type=int, default=16, help="samples per problem (majority, best_of_n)")
    solve.add_argument("--temperature", type=float, default=1.0)
    solve.add_argument("--seed", type=int, default=0)
    solve.add_argument("--verifier", default="oracle", choices=sorted(VERIFIERS), help="verifier for best_of_n")
    solve.add_argument("--max-new-tokens", type=int, default=64)
    solve.add_argument("--input", required=True, help='JSON lines: {"numbers": [...], "target": T}')
    solve.add_argument("--output", required=True)

    zoo = commands.add_parser("zoo", help="list the bundled models and their cards")
    zoo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "solve": cmd_solve, "zoo": cmd_zoo}[args.command](args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _load(name):
    from tsc.lm.policy import load_policy

    try:
        return load_policy(name)
    except (ValueError, OSError) as error:
        raise UserError(str(error).splitlines()[0]) from None


def cmd_train(args) -> int:
    from dataclasses import replace

    from tsc.evaluation import evaluate_policy
    from tsc.lm.policy import ASSETS, load_policy
    from tsc.lm.train import RECIPES, train

    recipe = RECIPES[args.recipe]
    if args.steps is not None:
        if args.steps < 1:
            raise UserError("--steps must be a positive integer")
        recipe = replace(recipe, steps=args.steps)
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    out = Path(args.out or Path("runs") / recipe.name)
    card = train(recipe, out)
    final = out / "final"
    if not args.no_eval:
        policy = load_policy(final)
        card["eval"] = evaluate_policy(policy)
        _write_atomic(final / "card.json", json.dumps(card, indent=2) + "\n")  # the weights are already saved
    print(json.dumps(card, indent=2))
    if args.install:
        target = ASSETS / recipe.name
        tmp = ASSETS / f".{recipe.name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(final, tmp)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        print(f"installed {target}", file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    from tsc.evaluation import evaluate_policy

    policy = _load(args.model)
    figures = evaluate_policy(policy, per_size=args.per_size)
    print(json.dumps(figures, indent=2))
    if args.write_card:
        card = dict(policy.card, eval=figures)
        _write_atomic(policy.path / "card.json", json.dumps(card, indent=2) + "\n")
    return 0


def read_problem(line: str) -> tuple[dict, Countdown | None, str | None]:
    """(the line's JSON object, the problem, None) or (what could be read, None, the error)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return {"line": line.rstrip("\n")}, None, f"not valid JSON ({error.msg} at column {error.colno})"
    except (ValueError, RecursionError) as error:  # an integer of over 4300 digits; nesting too deep
        return {"line": line.rstrip("\n")[:200]}, None, f"not valid JSON ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
    if not isinstance(record, dict):
        return {"line": line.rstrip("\n")}, None, "each line must be a JSON object with 'numbers' and 'target'"
    numbers, target = record.get("numbers"), record.get("target")
    if numbers is None or target is None:
        missing = [k for k in ("numbers", "target") if record.get(k) is None]
        return record, None, f"missing key(s): {', '.join(missing)}"
    if not isinstance(numbers, list) or not all(_is_positive_int(x) for x in numbers):
        return record, None, "'numbers' must be a list of positive integers"
    if not MIN_NUMBERS <= len(numbers) <= MAX_NUMBERS:
        return record, None, f"'numbers' must hold {MIN_NUMBERS} to {MAX_NUMBERS} numbers, got {len(numbers)}"
    if not _is_positive_int(target):
        return record, None, "'target' must be a positive integer"
    return record, Countdown(tuple(numbers), target), None


def _is_positive_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and 0 < x < 10**9


def format_answer(text: str) -> str:
    """The model's completion as the contract's answer: ``13-7=6, 6*4=24, 24*2=48``."""
    steps = parse(text)
    return ", ".join(map(str, steps)) if steps else text.strip()


def cmd_solve(args) -> int:
    from tsc.strategies import STRATEGIES
    from tsc.verifiers import VERIFIERS

    source = Path(args.input)
    if not source.is_file():
        raise UserError(f"input file {source} does not exist")
    if args.n < 1:
        raise UserError(f"--n must be a positive integer, got {args.n}")
    if args.temperature < 0:
        raise UserError(f"--temperature must be >= 0, got {args.temperature}")
    out_dir = Path(args.output).resolve().parent
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise UserError(f"cannot write {args.output}: folder {out_dir} is missing or not writable")
    policy = _load(args.model)
    strategy = STRATEGIES[args.strategy]
    options = {"n": args.n, "temperature": args.temperature, "seed": args.seed, "max_new_tokens": args.max_new_tokens}
    if args.strategy == "best_of_n":
        options["verifier"] = VERIFIERS[args.verifier]()
    if args.strategy == "greedy":
        options = {"max_new_tokens": args.max_new_tokens}
    if args.strategy == "sample":
        options.pop("n")
    lines = []
    solved = answered = 0
    for raw in source.read_text().splitlines():
        if not raw.strip():
            continue
        record, problem, error = read_problem(raw)
        if error:
            lines.append(json.dumps(dict(record, error=error)))
            continue
        result = strategy(problem, policy, **options)
        answered += 1
        solved += result.correct
        answer = format_answer(result.answer) if result.answer is not None else None
        record = dict(record, answer=answer, correct=result.correct, tokens=result.ledger.tokens, flops=result.ledger.flops)
        lines.append(json.dumps(record))
    _write_atomic(Path(args.output), "".join(line + "\n" for line in lines))
    print(f"{answered} answered, {solved} correct, {len(lines) - answered} bad lines -> {args.output}", file=sys.stderr)
    return 0


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path`` and rename it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cmd_zoo(args) -> int:
    from tsc.lm.policy import bundled_models

    rows = []
    for name, folder in bundled_models().items():
        card_file = folder / "card.json"
        card = json.loads(card_file.read_text()) if card_file.exists() else {}
        fields = ("kind", "task", "params", "train_tokens", "train_flops", "seconds", "seed")
        rows.append({"name": name, **{k: card.get(k) for k in fields}, "eval": card.get("eval")})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            overall = (row["eval"] or {}).get("overall", {})
            figures = "  ".join(f"{k} {v['value']:.0%}" for k, v in overall.items() if isinstance(v, dict))
            print(f"{row['name']:<16} {row['kind'] or '?':<8} {row['params'] or 0:>10,} params  {figures}")
    return 0
