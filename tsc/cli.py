"""``python -m tsc``: train a model, solve problems from a file, list the bundled models.

    python -m tsc train --recipe countdown --install
    python -m tsc solve --model countdown --strategy majority --n 16 --temperature 0.8 \\
        --input problems.jsonl --output answers.jsonl
    python -m tsc solve --model arithmetic --task arithmetic --strategy majority --n 16 \\
        --input questions.jsonl --output answers.jsonl
    python -m tsc solve --model trace --strategy budget_forcing --thinking-tokens 512 \\
        --input problems.jsonl --output answers.jsonl
    python -m tsc zoo --json
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from tsc.core import check_sampling, with_sampling
from tsc.io import write_atomic
from tsc.pdf import PDF_NAME
from tsc.strategies import FAMILIES, STRATEGIES, check_knobs
from tsc.strategies.thinking import THINKING_TOKENS
from tsc.tasks import TASKS, get_task
from tsc.verifiers import VERIFIERS, get_verifier

_EMPTY = inspect.Parameter.empty

SOLVE_EPILOG = """\
input, one JSON object per line (other keys are carried through to the output):
  {"numbers": [13, 4, 7, 2], "target": 48}      Countdown
  {"question": "7*8-13+6*4"}                    arithmetic (--task arithmetic, or an arithmetic model)

output, the same lines in the same order, each with:
  answer           the chosen answer: steps "13-7=6, 6*4=24, 24*2=48" (Countdown) or the number (arithmetic)
  correct          the oracle's verdict
  completion       what the model wrote (its whole text, free text for a real model)
  tokens, prefill_tokens, generated_tokens, reused_tokens
  flops, verifier_flops   compute spent (flops is null for a server model of unknown size)
  a line that cannot be read gets "error" instead, and the run goes on

examples:
  python -m tsc solve --input problems.jsonl --output answers.jsonl
  python -m tsc solve --strategy majority --n 16 --temperature 0.8 --input problems.jsonl --output answers.jsonl
  python -m tsc solve --strategy best_of_n --n 16 --verifier prm --input problems.jsonl --output answers.jsonl
  python -m tsc solve --strategy beam --beam-width 4 --expansions 2 --input problems.jsonl --output answers.jsonl
  python -m tsc solve --strategy particle_filter --particles 8 --input problems.jsonl --output answers.jsonl
  python -m tsc solve --strategy thinker --flops 7e8 --input problems.jsonl --output answers.jsonl
  python -m tsc solve --model arithmetic --strategy majority --n 16 --input questions.jsonl --output answers.jsonl
  python -m tsc solve --model arithmetic --strategy early_stop --n 16 --threshold 0.95 --input questions.jsonl --output answers.jsonl
  python -m tsc solve --model arithmetic --strategy deepconf --n 16 --input questions.jsonl --output answers.jsonl
  python -m tsc solve --model arithmetic --strategy free_energy --n 16 --temperature 0.8 --input questions.jsonl --output answers.jsonl
  python -m tsc solve --model Qwen/Qwen2.5-0.5B-Instruct --device cuda --strategy majority --n 8 --input p.jsonl --output a.jsonl
  python -m tsc solve --model http://127.0.0.1:8000/v1 --strategy majority --n 64 --resume --input p.jsonl --output a.jsonl
"""


class UserError(Exception):
    """A mistake in the command line or its files: reported in one line, no traceback."""


@contextmanager
def _reported(*kinds: type[Exception], prefix: str = "", flags: tuple[str, ...] = (), cannot: str = ""):
    """Turn an error of ``kinds`` raised in the block into a one-line `UserError`: ``prefix``
    and the error's first line; with ``flags`` (knob names), an error that starts with one of
    them names its flag first (``--top-p: top_p must be ...``); with ``cannot`` (what failed,
    ``write FILE``), ``cannot write FILE: `` and the system's reason."""
    try:
        yield
    except kinds as error:
        named = next((k for k in flags if str(error).startswith(k)), None)
        flag = f"--{named.replace('_', '-')}: " if named else ""
        if cannot:
            raise UserError(f"cannot {cannot}: {getattr(error, 'strerror', None) or error}") from None
        raise UserError(f"{flag}{prefix}{str(error).splitlines()[0]}") from None


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line (an unknown strategy, a non-integer --n) is reported
    in one line that lists what is allowed, instead of the usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    from tsc.lm.recipes import RECIPES, REWARD_RECIPES
    from tsc.lm.rl_recipes import RL_RECIPES

    parser = _Parser(
        prog="python -m tsc",
        description="Test-time compute scaling on a tiny language model: train, evaluate, solve, benchmark.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  python -m tsc zoo\n"
        "  python -m tsc solve --strategy majority --n 16 --input problems.jsonl --output answers.jsonl\n"
        "  python -m tsc solve --help      (the input and output formats)\n"
        "  python -m tsc train --recipe countdown --install\n"
        "  python -m tsc bench",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model by a named recipe, evaluate it and write its card")
    train.add_argument(
        "--recipe",
        required=True,
        choices=sorted({**RECIPES, **REWARD_RECIPES, **RL_RECIPES}),
        help="a policy's, a reward model's or an RL run's",
    )
    train.add_argument("--out", help="run folder (default runs/RECIPE)")
    train.add_argument("--steps", type=int, help="override the recipe's number of steps")
    train.add_argument("--no-eval", action="store_true", help="skip the evaluation figures on the card")
    train.add_argument("--install", action="store_true", help="copy the trained model into tsc/assets/RECIPE")

    evaluate = commands.add_parser("evaluate", help="compute a model's card figures on held-out problems")
    evaluate.add_argument("--model", default=None, help="bundled model name or folder (default: the Countdown model; or orm, prm)")
    evaluate.add_argument("--per-size", type=int, default=300, help="problems per size (policies; a reward model uses 300 in all)")
    evaluate.add_argument("--write-card", action="store_true", help="store the figures in the model folder's card.json")
    evaluate.add_argument(
        "--against",
        metavar="NAME",
        help="compare with bundled model NAME's card: each figure within its 95 %% interval? (exit 1 if not; for a retrained model)",
    )

    solve = commands.add_parser(
        "solve",
        help="answer every problem of a JSON-lines file",
        description="Answer every problem of a JSON-lines file with a test-time strategy, and write one line per problem.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=SOLVE_EPILOG,
    )
    solve.add_argument(
        "--model",
        default=None,
        help="a bundled model's name, a checkpoint folder, a Hugging Face id, or an OpenAI-compatible server's URL "
        "(http://HOST:PORT/v1) (default: the bundled Countdown model)",
    )
    solve.add_argument("--device", default=None, help="cpu, cuda, cuda:N or mps (default: CUDA, then MPS, then the CPU)")
    solve.add_argument("--served-model", default=None, help="with a server's URL: which of its models (default: its only one)")
    solve.add_argument("--params", type=int, default=None, help="with a server's URL: the model's parameter count, for FLOPs")
    solve.add_argument("--concurrency", type=int, default=None, help="with a server's URL: requests in flight at most (default 8)")
    solve.add_argument(
        "--resume",
        action="store_true",
        help="keep each finished line in OUTPUT.partial as it goes; a rerun after an interruption computes only the rest",
    )
    solve.add_argument(
        "--strategy",
        default="greedy",
        choices=sorted(STRATEGIES),
        metavar="NAME",
        help=f"the test-time strategy: {_families()} (default greedy)",
    )
    solve.add_argument(
        "--temperature", type=float, default=None, help="sampling temperature (default: the strategy's: 1; budget_forcing 0)"
    )
    solve.add_argument("--top-k", type=int, default=0, help="sample only among the k most likely next tokens (default 0: all)")
    solve.add_argument(
        "--top-p", type=float, default=1.0, help="sample only from the smallest set of tokens whose probability reaches p (default 1)"
    )
    solve.add_argument("--min-p", type=float, default=0.0, help="drop tokens less likely than min-p times the most likely one (default 0)")
    solve.add_argument("--seed", type=int, default=0)
    solve.add_argument("--verifier", default=None, choices=sorted(VERIFIERS), help=_verifier_help())
    solve.add_argument(
        "--aggregate",
        default=None,
        choices=("last", "min", "product"),
        help="how the PRM's step scores become one score: its judgement after the last step, the weakest step, or their product "
        "(default last for the strategies that score whole samples and the tree searches, as Chapter 5 compares them; min elsewhere)",
    )
    solve.add_argument("--reviser", default=None, help="revision model for revise (default: the bundled 'revision' model)")
    for knob in knob_flags():  # each strategy's own knobs, from its registry entry
        solve.add_argument(
            "--" + knob.replace("_", "-"), type=knob_type(knob), default=FLAG_DEFAULTS.get(knob), metavar=knob.upper(), help=knob_help(knob)
        )
    solve.add_argument("--offline", action="store_true", help="deepconf: draw all n traces, then vote among the most confident")
    solve.add_argument(
        "--max-new-tokens", type=int, default=None, help="tokens per completion (default 64; a trace model's: what its context leaves)"
    )
    solve.add_argument(
        "--task",
        choices=TASKS,
        default=None,
        help='countdown (lines {"numbers": [...], "target": T}) or arithmetic (lines {"question": "7*8-13"}); default: the model\'s',
    )
    solve.add_argument("--input", required=True, help='JSON lines: {"numbers": [...], "target": T} or {"question": "..."}')
    solve.add_argument("--output", required=True)

    bench = commands.add_parser("bench", help="time the sampler against transformers' generate on this machine")
    bench.add_argument("--model", default=None, help="bundled model name or folder (default: the Countdown model)")
    bench.add_argument("--device", default=None, help="where transformers' generate runs (e.g. cuda); tsc's sampler runs on the CPU")
    bench.add_argument("--batches", default="1,32,256,1024", help="comma-separated numbers of sequences (default 1,32,256,1024)")
    bench.add_argument("--repeats", type=int, default=5, help="timed runs of each path per batch size; the median is reported")
    bench.add_argument("--max-new-tokens", type=int, default=48)
    bench.add_argument("--json", action="store_true", help="print JSON instead of a table")

    experiment = commands.add_parser("experiment", help="compute (or read back) an experiment the chapters ship results of")
    experiment.add_argument("name", nargs="?", help="the experiment (see --list)")
    experiment.add_argument("--list", action="store_true", help="list the experiments and whether a result is stored")
    experiment.add_argument("--refresh", action="store_true", help="compute again even if a result is stored, and store it")
    experiment.add_argument(
        "--install", action="store_true", help="then fit what a strategy ships from the result (ch04-allocation: compute_optimal's table)"
    )

    grade = commands.add_parser(
        "grade",
        help="grade handed-in chapter notebooks: run each in a fresh kernel, collect every exercise's feedback",
        description="Run each notebook top to bottom in a fresh kernel (never changing the file) and print a gradebook.",
    )
    grade.add_argument("notebooks", nargs="+", help="the handed-in .ipynb files")
    grade.add_argument("--json", action="store_true", help='print records {"notebook", "exercise", "status", "message"} as JSON')
    grade.add_argument("--csv", metavar="FILE", help="also write the records to FILE as CSV")
    grade.add_argument("--timeout", type=float, default=600, help="seconds a notebook may run (default 600)")
    grade.add_argument("--memory", type=int, default=4096, metavar="MB", help="memory each notebook may use (default 4096)")

    solutions = commands.add_parser("solutions", help="write the chapters with every exercise solved (what `make solutions` runs)")
    solutions.add_argument("chapters", nargs="*", help="chapter notebooks (default: book/[0-9]*.ipynb)")
    solutions.add_argument("--out", default="_build/solutions", help="folder to write the solved copies to")

    colab = commands.add_parser("colab", help="write the chapters as Colab renders them (plain Markdown; what `make colab` runs)")
    colab.add_argument("chapters", nargs="*", help="chapter notebooks (default: book/[0-9]*.ipynb)")
    colab.add_argument("--executed", default="_build/jupyter_execute/book", help="the chapters as the book build executed them")
    colab.add_argument("--out", default="_build/colab/book", help="folder to write the Colab notebooks to (publish _build/colab)")

    pdf = commands.add_parser("pdf", help="print the built book into one PDF with headless Chromium (what `make pdf` runs)")
    pdf.add_argument("--html", default="_build/html", help="the built book (make book)")
    pdf.add_argument("--out", default=f"_build/html/{PDF_NAME}", help="the PDF to write (inside the site, which links to it)")

    guide = commands.add_parser("instructors", help="write (or check) the exercise table of book/instructors.md from the chapters")
    guide.add_argument("--write", action="store_true", help="rewrite the table in book/instructors.md (default: say whether it is current)")

    zoo = commands.add_parser("zoo", help="list the bundled models and their cards")
    zoo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    zoo.add_argument("--readme", action="store_true", help="write tsc/assets/README.md (the zoo and the family's figures) from the cards")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return globals()[f"cmd_{args.command}"](args)  # python -m tsc NAME runs cmd_NAME
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, a file that vanished: the system's one-line reason
        where = f" ({error.filename})" if error.filename else ""
        print(f"error: {error.strerror or error}{where}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _load(name, *, device: str | None = None, served_model: str | None = None, params: int | None = None, concurrency: int | None = None):
    """The policy ``--model`` names (a bundled name, a folder, a Hub id or a server's URL)."""
    from tsc.lm.policy import load_policy

    remote = isinstance(name, str) and name.startswith(("http://", "https://"))
    if not remote and (served_model or params):
        raise UserError("--served-model and --params are for a server's URL given as --model")
    options = {"model": served_model, "params": params} if remote else {"device": device}
    if remote and concurrency is not None:
        options["max_concurrency"] = concurrency
    with _reported(ValueError, OSError, TypeError):
        return load_policy(name, **options)


def cmd_train(args) -> int:
    from dataclasses import replace

    from tsc.evaluation import evaluate_model, evaluate_revision, evaluate_reward_model, rl_figures
    from tsc.lm.checkpoint import ASSETS
    from tsc.lm.policy import load_policy
    from tsc.lm.reward import REWARD_RECIPES, train_reward
    from tsc.lm.rl import RL_RECIPES, train_rl
    from tsc.lm.train import RECIPES, train

    reward = args.recipe in REWARD_RECIPES  # an ORM or PRM, trained on the policy's samples
    rl = args.recipe in RL_RECIPES  # reinforcement learning (GRPO) from a bundled policy
    recipe = REWARD_RECIPES[args.recipe] if reward else RL_RECIPES[args.recipe] if rl else RECIPES[args.recipe]
    if args.steps is not None:
        if args.steps < 1:
            raise UserError("--steps must be a positive integer")
        recipe = replace(recipe, steps=args.steps)
    import torch

    threads = os.environ.get("OMP_NUM_THREADS", "")
    torch.set_num_threads(int(threads) if threads.isdigit() and int(threads) > 0 else os.cpu_count() or 1)
    out = Path(args.out or Path("runs") / recipe.name)
    card = train_reward(recipe, out) if reward else train_rl(recipe, out, evaluate=rl_figures) if rl else train(recipe, out)
    final = out / "final"
    if args.install and not reward and recipe.kind != "revision":  # the model and its checkpoints, evaluated as stored
        from tsc.zoo import evaluate_installed, install

        # a family's checkpoints part-way are bundled too (Chapter 4 puts them on one FLOPs axis)
        saved = sorted((out / "checkpoints").glob("step-*"), key=lambda p: int(p.name.split("-")[1])) if recipe.family else []
        for folder, name, half in [(c, f"{recipe.name}-step{c.name.split('-')[1]}", True) for c in saved] + [
            (final, recipe.name, recipe.half)
        ]:
            install(folder, name, half=half)
            if not args.no_eval:
                evaluate_installed(name)
            print(f"installed {ASSETS / name}", file=sys.stderr)
        print(json.dumps(json.loads((ASSETS / recipe.name / "card.json").read_text()), indent=2))
        return 0
    if not args.no_eval:
        if reward:
            card["eval"] = evaluate_reward_model(final)
        elif recipe.kind == "revision":  # its revisions against the policy it was fine-tuned from
            card["eval"] = evaluate_revision(load_policy(final), load_policy(recipe.init_from))
        else:
            card["eval"] = evaluate_model(load_policy(final))
        write_atomic(final / "card.json", json.dumps(card, indent=2) + "\n")  # the weights are already saved
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
    from tsc.evaluation import evaluate_model, evaluate_revision, evaluate_reward_model
    from tsc.lm.reward import is_reward_model, load_reward_model

    if args.per_size < 1:
        raise UserError(f"--per-size must be a positive integer, got {args.per_size}")
    if args.model is not None and is_reward_model(args.model):  # AUC, calibration, best-of-16 on 300 problems
        with _reported(ValueError, OSError):
            model = load_reward_model(args.model)
        figures = evaluate_reward_model(model)
    else:
        model = _load(args.model)
        if model.card.get("kind") == "revision":  # its revisions against the policy it was fine-tuned from
            base = _load((model.card.get("init_from") or {}).get("model") or "countdown")
            figures = evaluate_revision(model, base, per_size=args.per_size)
        elif model.card.get("kind") == "trace":
            figures = evaluate_model(model)
        else:
            figures = evaluate_model(model, per_size=args.per_size)
        if args.against:  # a retrained model: are its figures within the bundled card's intervals?
            from tsc.io import read_card
            from tsc.lm.checkpoint import bundled_models
            from tsc.zoo import compare_figures

            models = bundled_models(kind=None)
            if args.against not in models:
                raise UserError(f"--against {args.against!r} is not a bundled model; known: {', '.join(models)}")
            try:
                card = read_card(models[args.against])
            except ValueError as error:
                raise UserError(f"--against {args.against}: cannot read its card ({error})") from None
            rows = compare_figures(figures, card.get("eval") or {})
            within = [old["low"] <= new <= old["high"] for _, new, old in rows]
            for (name, new, old), ok in zip(rows, within):
                verdict = "within" if ok else "OUTSIDE"
                print(f"{name:<32} {new:8.4f}  card {old['value']:.4f} ({old['low']:.4f}-{old['high']:.4f})  {verdict}")
            print(f"{sum(within)} of {len(rows)} figures within the card's 95 % intervals", file=sys.stderr)
            return 0 if rows and all(within) else 1
    print(json.dumps(figures, indent=2))
    if args.write_card:
        write_atomic(model.path / "card.json", json.dumps(dict(model.card, eval=figures), indent=2) + "\n")
    return 0


def read_problem(line: str, card: dict | None = None, task: str = "countdown", model: str = "the model"):
    """(the line's JSON object, the problem, None) or (what could be read, None, the error).

    ``card`` (the model's) says which problems the model accepts (`tsc.tasks.Task.read`);
    ``task`` says how to read the line. Never raises.
    """
    spec = get_task(task)
    unread = {"line": line.rstrip("\r\n")[:200]}
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return unread, None, f"not valid JSON ({error.msg} at column {error.colno})"
    except (ValueError, RecursionError) as error:  # an integer of over 4300 digits; nesting too deep
        return unread, None, f"not valid JSON ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
    if not isinstance(record, dict):
        return unread, None, f"each line must be a JSON object such as {spec.line}"
    try:
        return record, spec.read(record, card, model), None
    except ValueError as error:
        return record, None, str(error).splitlines()[0]


def cmd_solve(args) -> int:
    started = time.perf_counter()
    strategy = STRATEGIES[args.strategy]
    source = Path(args.input)
    if not source.exists():
        raise UserError(f"input file {source} does not exist")
    if not source.is_file():
        raise UserError(f"input {source} is not a file")
    with _reported(ValueError, flags=("n", "temperature", "seed", "max_new_tokens", "top_k", "top_p", "min_p")):
        check_knobs(n=args.n, temperature=args.temperature, seed=args.seed, max_new_tokens=args.max_new_tokens)
        check_sampling(top_k=args.top_k, top_p=args.top_p, min_p=args.min_p)
    _check_strategy_knobs(strategy, args)  # before any model loads (compute_optimal's --flops against its fitted table)
    output = Path(args.output)
    out_dir = output.resolve().parent
    if output.is_dir():
        raise UserError(f"cannot write {args.output}: it is a folder")
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise UserError(f"cannot write {args.output}: folder {out_dir} is missing or not writable")
    with _reported(OSError, cannot=f"read {source}"):
        raw_lines = source.read_bytes().split(b"\n")
    policy = _load(args.model, device=args.device, served_model=args.served_model, params=args.params, concurrency=args.concurrency)
    args.task = task = _solve_task(args, policy)
    if args.max_new_tokens is None:  # room for what the model writes before its answer
        if policy.card.get("kind") == "trace" and strategy.needs != "trace":
            args.max_new_tokens = max(64, policy.max_len - 32)
        else:
            args.max_new_tokens = 64 if policy.prompt_format == "compact" else 512
    if (args.top_k, args.top_p, args.min_p) != (0, 1.0, 0.0):  # every sample the strategy draws is truncated
        policy = with_sampling(policy, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p)
    options = _strategy_options(args, policy)  # with the seed where the strategy takes one: solve_many seeds each problem from it

    # every line: its record and problem, or its error
    lines: list[dict | None] = []
    problems: list[tuple[int, dict, object]] = []  # (index in lines, record, problem)
    for raw_bytes in raw_lines:
        try:
            raw = raw_bytes.decode("utf-8")
        except UnicodeDecodeError:
            lines.append({"line": raw_bytes[:200].decode("utf-8", "replace"), "error": "not UTF-8 text"})
            continue
        if not raw.strip():
            continue
        record, problem, error = read_problem(raw, policy.card, task, policy.name)
        if error:
            lines.append(dict(record, error=error))
        else:
            problems.append((len(lines), record, problem))
            lines.append(None)
    partial = _Partial(output, _run_key(args, policy)) if args.resume else None
    done = partial.read() if partial else {}
    for i, record, _ in problems:
        lines[i] = done.get(_line_key(i, record))  # a line finished before, else None
    todo = [(i, record, problem) for i, record, problem in problems if lines[i] is None]
    if partial and done:
        print(f"resuming: {len(problems) - len(todo)} of {len(problems)} problems read back from {partial.path}", file=sys.stderr)
    try:
        for block in _blocks(todo, strategy, options):
            for (i, record, _), outcome in zip(block, _solve_block([p for _, _, p in block], strategy, policy, options)):
                lines[i] = _answer_record(record, outcome, task)
                if partial:
                    partial.append(_line_key(i, record), lines[i])
    except KeyboardInterrupt:  # the output is written whole or not at all
        kept = f"; the finished lines are kept in {partial.path} (rerun with --resume)" if partial else " (use --resume to keep them)"
        print(f"interrupted; nothing was written to {args.output}{kept}", file=sys.stderr)
        return 130
    except ValueError as failure:  # a server that stopped answering, say
        kept = f"; finished lines are kept in {partial.path} (rerun with --resume)" if partial else ""
        raise UserError(f"{str(failure).splitlines()[0]}{kept}") from None
    with _reported(OSError, cannot=f"write {args.output}"):
        write_atomic(output, "".join(json.dumps(line) + "\n" for line in lines))
    if partial:
        partial.remove()
    bad = [n for n, line in enumerate(lines, start=1) if "error" in line]
    answered = len(lines) - len(bad)
    solved = sum(bool(line.get("correct")) for line in lines)
    where = f" (lines {', '.join(map(str, bad[:10]))}{', ...' if len(bad) > 10 else ''})" if bad else ""
    seconds = time.perf_counter() - started
    print(f"{answered} answered, {solved} correct, {len(bad)} bad lines{where} -> {args.output} in {seconds:.1f} s", file=sys.stderr)
    return 0


def _solve_task(args, policy) -> str:
    """The task the input holds: --task, else the model's (its card's), else Countdown.

    Refuses, in one line, a task the model was not trained on, and a strategy or verifier that
    needs what this model lacks: the bundled reward models and reviser were trained on the
    bundled Countdown models' compact answers, step strategies cut answers at the compact
    format's steps, budget forcing needs a model that thinks in the trace format, and a fitted
    strategy runs on its task only."""
    trained_on = policy.card.get("task")
    task = args.task or trained_on or "countdown"
    if trained_on and task != trained_on:
        raise UserError(
            f"model {policy.name!r} was trained on {trained_on}, not {task}: pick a {task} model (python -m tsc zoo) or drop --task"
        )
    strategy = STRATEGIES[args.strategy]
    kind = policy.card.get("kind")
    if strategy.needs == "trace" and kind != "trace":
        what = f"a {kind} model" if kind else "not one"
        raise UserError(
            f"{strategy.name} needs a model that thinks in the trace format before it answers (--model trace); {policy.name!r} is {what}"
        )
    if strategy.tasks and task not in strategy.tasks:
        raise UserError(f"{strategy.name} was fitted on {', '.join(strategy.tasks)}, not {task}: pick another strategy")
    learned = args.verifier in ("orm", "prm")
    trained_on = _reward_task(args.verifier) if learned else None
    if learned and trained_on != task:
        raise UserError(f"--verifier {args.verifier} was trained on {trained_on}; for {task} use oracle, step_oracle or self")
    if policy.prompt_format == "compact":
        return task
    why = f"{policy.name!r} writes free text ({policy.prompt_format} prompts), not the bundled models' compact format"
    if "reviser" in _takes(strategy):
        raise UserError(
            f"{strategy.name} needs a reviser trained on this model's answers (the bundled one revises the bundled model's); {why}"
        )
    if strategy.verifier == "steps":
        raise UserError(f"{strategy.name} grows answers step by step at ',' (the compact format); {why}: use best_of_n or majority")
    if learned:
        raise UserError(f"--verifier {args.verifier} was trained on the bundled model's compact answers; {why}: use oracle or self")
    return task


def _blocks(todo: list, strategy, options: dict) -> list[list]:
    """The problems in blocks solved together: as many as one sampler call takes for a
    strategy with a batched form (`Strategy.batched`), else one at a time."""
    size = max(1, 1024 // max(1, int(options.get("n") or 1))) if strategy.batched else 1
    return [todo[start : start + size] for start in range(0, len(todo), size)]


def _solve_block(problems: list, strategy, policy, options: dict) -> list:
    """Each problem's `Result`, or the one-line error it raised (a problem the model cannot
    take, such as a prompt longer than its context, is an error line; the run goes on). A
    block that fails is solved again one problem at a time, to find which one failed."""
    from tsc.strategies import solve_many

    try:
        return solve_many(strategy, problems, policy, **options)
    except ValueError as failure:
        if len(problems) > 1:
            return [outcome for p in problems for outcome in _solve_block([p], strategy, policy, options)]
        message = str(failure).splitlines()[0]
        if "server" in message:  # the server, not the problem: stop the run
            raise
        return [message]


def _answer_record(record: dict, outcome, task: str) -> dict:
    """The output line for one problem: its input, then the answer, the model's text and the
    ledger (or the error)."""
    if isinstance(outcome, str):
        return dict(record, error=outcome)
    ledger = outcome.ledger
    return dict(
        record,
        answer=get_task(task).answer(outcome.answer) if outcome.answer is not None else None,
        correct=outcome.correct,
        completion=outcome.answer if outcome.answer is not None else (outcome.candidates[0] if outcome.candidates else None),
        tokens=ledger.tokens,
        prefill_tokens=ledger.prompt_tokens,  # prompt tokens computed; reused ones (tree search, a server's cache) apart
        generated_tokens=ledger.generated_tokens,
        reused_tokens=ledger.reused_tokens,
        flops=ledger.flops if ledger.flops_known else None,
        verifier_flops=ledger.verifier_flops,
    )


def _line_key(index: int, record: dict) -> str:
    return f"{index}:{json.dumps(record, sort_keys=True)}"


def _run_key(args, policy) -> str:
    """What a run's answers depend on besides the input: the model (and its weights) and
    every option. A partial file made with another key is not resumed."""
    import hashlib

    options = {k: v for k, v in sorted(vars(args).items()) if k not in ("input", "output", "resume", "command", "concurrency")}
    model = {"name": policy.name, "weights": policy.card.get("weights_sha256")}
    return hashlib.sha256(json.dumps([model, options], sort_keys=True, default=str).encode()).hexdigest()[:16]


class _Partial:
    """The finished lines of a `solve --resume` run, appended and synced beside the output
    (``OUTPUT.partial``) as they finish, so that a rerun computes only what is missing."""

    def __init__(self, output: Path, key: str):
        self.path = output.with_name(output.name + ".partial")
        self.key = key

    def read(self) -> dict[str, dict]:
        if not self.path.exists():
            return {}
        done: dict[str, dict] = {}
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except ValueError:
            header = {}
        if not isinstance(header, dict) or header.get("run") != self.key:  # a list: a file of something else
            raise UserError(
                f"{self.path} holds lines of a run with other options or another model; delete it, or rerun with the options that made it"
            )
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                done[entry["key"]] = entry["line"]
            except (ValueError, KeyError, TypeError):  # a line cut short when the run stopped
                continue
        return done

    def append(self, key: str, line: dict) -> None:
        fresh = not self.path.exists()
        with open(self.path, "a", encoding="utf-8") as handle:
            if fresh:
                handle.write(json.dumps({"run": self.key}) + "\n")
            handle.write(json.dumps({"key": key, "line": line}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# the command line's own defaults, where a strategy's function requires the knob
FLAG_DEFAULTS = {"n": 16, "thinking_tokens": THINKING_TOKENS}
VERIFIER_DEFAULTS = {
    "scores": "oracle",
    "steps": "prm (step_oracle where no prm is bundled for the task)",
    "optional": "none",
}


def _takes(strategy) -> dict:
    """The keyword-only parameters of a strategy's function: what it can be passed."""
    return {name: p for name, p in inspect.signature(strategy.run).parameters.items() if p.kind is p.KEYWORD_ONLY}


def knob_flags() -> list[str]:
    """Every knob some strategy offers the command line (`Strategy.knobs`), in registry order."""
    return list(dict.fromkeys(knob for s in STRATEGIES.values() for knob in s.knobs))


def knob_type(knob: str) -> type:
    """int, float or str: the type of ``knob``'s default (or annotation) in the strategies that take it."""
    for strategy in STRATEGIES.values():
        if knob in strategy.knobs:
            p = _takes(strategy)[knob]
            if isinstance(p.default, (int, float, str)) and not isinstance(p.default, bool):
                return type(p.default)
            for name, kind in (("float", float), ("int", int), ("str", str)):
                if name in str(p.annotation):
                    return kind
    raise TypeError(f"knob {knob!r} has neither a default nor an int, float or str annotation in any strategy that offers it")


def knob_help(knob: str) -> str:
    """What ``--KNOB`` means for each strategy that offers it, with its default."""
    meanings: dict[str, list[str]] = {}
    for strategy in STRATEGIES.values():
        if knob in strategy.knobs:
            default = _takes(strategy)[knob].default
            default = FLAG_DEFAULTS.get(knob) if default is _EMPTY else default
            shown = f"{default:g}" if isinstance(default, (int, float)) else default if isinstance(default, str) else None
            text = strategy.knobs[knob] + (f" (default {shown})" if shown is not None else "")
            meanings.setdefault(text, []).append(strategy.name)
    return "; ".join(f"{', '.join(names)}: {text}" for text, names in meanings.items()).replace("%", "%%")


def _families() -> str:
    listed = {f: [s.name for s in STRATEGIES.values() if s.family == f] for f in FAMILIES}
    return "; ".join(f"{family} {', '.join(names)}" for family, names in listed.items() if names)


def _verifier_help() -> str:
    uses = {use: [s.name for s in STRATEGIES.values() if s.verifier == use] for use in VERIFIER_DEFAULTS}
    return "; ".join(f"{', '.join(names)}: default {VERIFIER_DEFAULTS[use]}" for use, names in uses.items() if names)


def _check_strategy_knobs(strategy, args) -> None:
    """The strategy's own knobs given on the command line, checked before any model loads
    (`Strategy.check`; its error names the knob first, which names the flag). Flags of other
    strategies are ignored, so that one set of options serves every strategy."""
    takes = _takes(strategy)
    given = {k: getattr(args, k) for k in strategy.knobs if getattr(args, k) is not None}
    for knob in strategy.knobs:
        if knob not in given and takes[knob].default is _EMPTY:
            raise UserError(f"--strategy {strategy.name} needs --{knob.replace('_', '-')}: {strategy.knobs[knob]}")
    if strategy.check is None:
        return
    checked = inspect.signature(strategy.check).parameters
    with _reported(ValueError, flags=tuple(given)):
        strategy.check(**{k: v for k, v in given.items() if k in checked})


def _default_verifier(strategy, task: str = "countdown") -> str | None:
    """The verifier a strategy gets when ``--verifier`` is not given."""
    from tsc.lm.checkpoint import bundled_models

    if strategy.verifier == "steps":  # step scores: a bundled process reward model of this task, else the exact step oracle
        return "prm" if "prm" in bundled_models("prm") and _reward_task("prm") == task else "step_oracle"
    return "oracle" if strategy.verifier == "scores" else None


def _reward_task(name: str) -> str | None:
    """The task a bundled reward model was trained on (its card's)."""
    from tsc.io import read_card
    from tsc.lm.checkpoint import bundled_models

    folder = bundled_models(kind=None).get(name)
    return read_card(folder).get("task") if folder is not None else None


def _strategy_options(args, policy) -> dict:
    """The keyword options ``args.strategy`` takes, built from the command line (models and
    verifiers loaded here, once, not per problem)."""
    strategy = STRATEGIES[args.strategy]
    takes = _takes(strategy)
    options = {"seed": args.seed, "max_new_tokens": args.max_new_tokens, "temperature": args.temperature}
    options |= {knob: getattr(args, knob) for knob in knob_flags()}
    options |= {"aggregate": args.aggregate}  # a tree search's own scoring of partial solutions
    options |= {"online": not args.offline}  # deepconf's form
    options = {k: v for k, v in options.items() if v is not None and k in takes}
    name = args.verifier or _default_verifier(strategy, args.task or "countdown")
    if name is not None and "verifier" in takes:
        extra = {}
        if name == "prm":  # best-of-N and the weighted vote score a sample as the searches do: by its last step
            extra["aggregate"] = args.aggregate or ("last" if strategy.verifier == "scores" else "min")
        with _reported(ValueError, OSError, prefix=f"--verifier {name}: "):
            options["verifier"] = get_verifier(name, policy=policy, **extra)
        if strategy.verifier == "steps" and not callable(getattr(options["verifier"], "score_steps", None)):
            raise UserError(f"--verifier {name} scores whole completions; {strategy.name} needs a step verifier (prm or step_oracle)")
    if "reviser" in takes:
        options["reviser"] = _load(args.reviser or "revision")
        trained_on = options["reviser"].card.get("task")
        if trained_on and args.task and trained_on != args.task:
            raise UserError(
                f"the reviser {options['reviser'].name!r} was trained on {trained_on}, not {args.task}: "
                f"pass --reviser with an {args.task} model"
            )
    return options


def cmd_zoo(args) -> int:
    from tsc import zoo

    if args.readme:
        print(f"wrote {zoo.write_readme()}", file=sys.stderr)
        return 0
    rows = zoo.zoo()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print(
                f"{row['name']:<22} {row['kind'] or 'policy':<9} {row['task'] or '?':<11} "
                f"{row['params'] or 0:>10,} params  {zoo.headline(row)}"
            )
    return 0


def cmd_bench(args) -> int:
    from tsc import bench

    try:
        batches = [int(b) for b in args.batches.split(",")]
    except ValueError:
        raise UserError(f"--batches must be comma-separated whole numbers, got {args.batches!r}") from None
    if not batches or min(batches) < 1 or args.repeats < 1 or args.max_new_tokens < 1:
        raise UserError("--batches, --repeats and --max-new-tokens must be at least 1")
    policy = _load(args.model, device="cpu")
    other = _load(args.model, device=args.device) if args.device not in (None, "cpu") else None
    gflops = bench.matmul_gflops()
    say = (lambda row: None) if args.json else (lambda row: print(f"  batch {row.batch}: {row.ratio:.1f}x", file=sys.stderr))
    rows = bench.run(
        policy,
        batches=batches,
        repeats=args.repeats,
        max_new_tokens=args.max_new_tokens,
        gflops=gflops,
        progress=say,
        generate_policy=other,
    )
    if other is not None:
        print(f"(generate ran on {other.device}; tsc's sampler on the CPU)", file=sys.stderr)
    memory = [bench.fresh_process_memory(args.model, count, max_new_tokens=args.max_new_tokens) for count in (1024, 4096)]
    print(json.dumps(bench.as_json(rows, gflops, memory), indent=2) if args.json else bench.table(rows, gflops, memory))
    return 0


def cmd_experiment(args) -> int:
    from tsc import experiments

    if args.list or not args.name:
        for name, spec in sorted(experiments.EXPERIMENTS.items()):
            record = experiments.stored(name)
            when = f"stored {record.get('computed')}, {record.get('seconds')} s" if record else "not stored"
            print(f"{name:<28} {when:<28} {spec.describe}")
        return 0
    if args.name not in experiments.EXPERIMENTS:
        raise UserError(f"unknown experiment {args.name!r}; known: {', '.join(sorted(experiments.EXPERIMENTS)) or '(none)'}")
    install = experiments.EXPERIMENTS[args.name].install
    if args.install and install is None:
        known = ", ".join(sorted(n for n, e in experiments.EXPERIMENTS.items() if e.install)) or "(none)"
        raise UserError(f"experiment {args.name!r} installs nothing; --install is for {known}")
    experiments.run(args.name, refresh=args.refresh, progress=True)  # with --install: the result it fits from
    if args.install:
        with _reported(ValueError):
            folder = install()
        print(f"installed {folder}", file=sys.stderr)
        return 0
    record = experiments.stored(args.name)
    if record is not None:
        print(f"{experiments.path_of(args.name)}: computed {record['computed']} in {record['seconds']} s", file=sys.stderr)
    return 0


def cmd_grade(args) -> int:
    import csv
    import io

    from tsc.grade import grade, gradebook
    from tsc.sandbox import Limits, summary

    if args.timeout <= 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.memory < 256:
        raise UserError(f"--memory must be at least 256 MB (a kernel needs that much to start), got {args.memory}")
    limits = Limits(memory_mb=args.memory)
    # what confines the students' code on this machine, and what does not: said, never assumed
    print("\n".join(summary(limits, args.timeout)), file=sys.stderr, flush=True)
    say = None if args.json else (lambda path, graded: print(f"graded {path}", file=sys.stderr, flush=True))
    grades = grade(args.notebooks, timeout=args.timeout, limits=limits, progress=say)
    records = [g.to_json() for g in grades]
    if args.csv:
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=["notebook", "exercise", "status", "message", "error"])
        writer.writeheader()
        writer.writerows(records)
        with _reported(OSError, cannot=f"write {args.csv}"):
            write_atomic(Path(args.csv), table.getvalue())
    print(json.dumps(records, indent=1, ensure_ascii=False) if args.json else gradebook(grades))
    return 0


def _write_chapters(args, write, what: str) -> int:
    """``write(chapters)`` for the chapters named on the command line (default: every chapter
    in book/), then say how many ``what`` went to ``args.out``."""
    chapters = args.chapters or sorted(str(p) for p in Path("book").glob("[0-9]*.ipynb"))
    if not chapters:
        raise UserError("no chapter notebooks given, and none in book/")
    with _reported(ValueError, OSError):
        written = write(chapters)
    print(f"wrote {len(written)} {what} to {args.out}", file=sys.stderr)
    return 0


def cmd_solutions(args) -> int:
    from tsc.grade import write_solutions

    return _write_chapters(args, lambda chapters: write_solutions(chapters, args.out), "solved chapters")


def cmd_instructors(args) -> int:
    from tsc.exercises.catalog import render_guide

    guide = Path("book/instructors.md")
    if not guide.exists():
        raise UserError("book/instructors.md not found: run this from the repository's root")
    try:
        text = guide.read_text(encoding="utf-8")
        current = render_guide(text)
    except (KeyError, ValueError) as error:
        raise UserError(str(error).strip("'").splitlines()[0]) from None
    if current == text:
        print("book/instructors.md: the exercise table is current", file=sys.stderr)
        return 0
    if not args.write:
        print("book/instructors.md: the exercise table is out of date; run python -m tsc instructors --write", file=sys.stderr)
        return 1
    write_atomic(guide, current)
    print("book/instructors.md: exercise table rewritten", file=sys.stderr)
    return 0


def cmd_pdf(args) -> int:
    from tsc.pdf import print_book

    start = time.monotonic()
    say = lambda name, pages: print(f"printed {name}: {pages} pages", file=sys.stderr, flush=True)
    with _reported(RuntimeError):  # no book built, no Chromium
        layout = print_book(args.html, args.out, progress=say)
    pages = layout[-1].first_page + layout[-1].pages
    print(f"wrote {args.out}: {pages} pages, {len(layout)} parts, in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return 0


def cmd_colab(args) -> int:
    from tsc.colab import export

    return _write_chapters(args, lambda chapters: export(chapters, args.executed, args.out), "Colab notebooks")
