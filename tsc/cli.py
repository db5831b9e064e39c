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
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

from tsc.lm.checkpoint import write_atomic
from tsc.tasks import TASKS

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
  python -m tsc solve --model arithmetic --strategy free_energy --n 16 --temperature 0.8 --input questions.jsonl --output answers.jsonl
  python -m tsc solve --model Qwen/Qwen2.5-0.5B-Instruct --device cuda --strategy majority --n 8 --input p.jsonl --output a.jsonl
  python -m tsc solve --model http://127.0.0.1:8000/v1 --strategy majority --n 64 --resume --input p.jsonl --output a.jsonl
"""


class UserError(Exception):
    """A mistake in the command line or its files: reported in one line, no traceback."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line (an unknown strategy, a non-integer --n) is reported
    in one line that lists what is allowed, instead of the usage block."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    from tsc.lm.recipes import RECIPES, REWARD_RECIPES
    from tsc.lm.rl_recipes import RL_RECIPES
    from tsc.strategies import STRATEGIES
    from tsc.verifiers import VERIFIERS

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
    solve.add_argument("--strategy", default="greedy", choices=sorted(STRATEGIES))
    solve.add_argument(
        "--n",
        type=int,
        default=16,
        help="samples (majority, best_of_n, weighted_vote; chains started: short_m_at_k; at most: early_stop, free_energy)",
    )
    solve.add_argument("--m", type=int, default=None, help="short_m_at_k: the first m chains to finish vote (default 1)")
    solve.add_argument(
        "--temperature", type=float, default=None, help="sampling temperature (default 1; budget_forcing: 0; self_refine: of its retries)"
    )
    solve.add_argument("--top-k", type=int, default=0, help="sample only among the k most likely next tokens (default 0: all)")
    solve.add_argument(
        "--top-p", type=float, default=1.0, help="sample only from the smallest set of tokens whose probability reaches p (default 1)"
    )
    solve.add_argument("--min-p", type=float, default=0.0, help="drop tokens less likely than min-p times the most likely one (default 0)")
    solve.add_argument("--seed", type=int, default=0)
    solve.add_argument(
        "--verifier",
        default=None,
        choices=sorted(VERIFIERS),
        help="verifier for best_of_n and weighted_vote (default oracle), self_refine and the tree searches beam, dvts, "
        "tot_bfs, dfs, mcts, particle_filter (a step verifier: default prm, or step_oracle where no prm is bundled) and revise "
        "(default none: the last attempt is the answer) and free_energy (default none; prm: the PRM as a second sense)",
    )
    solve.add_argument(
        "--aggregate",
        default=None,
        choices=("last", "min", "product"),
        help="how the PRM's step scores become one score: its judgement after the last step, the weakest step, or their product "
        "(default last for best_of_n, weighted_vote and the tree searches, as Chapter 5 compares them; min elsewhere)",
    )
    solve.add_argument("--rounds", type=int, default=4, help="attempts per problem (self_refine, revise)")
    solve.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="self_refine and dfs: lowest step score accepted (default 0.5); revise: stop at this score; early_stop: stop when "
        "the leading answer is ahead with this posterior probability (default 0.95; 1: only when the vote is decided)",
    )
    solve.add_argument("--window", type=int, default=None, help="early_stop: samples drawn per round (default 4)")
    solve.add_argument("--beam-width", type=int, default=None, help="beam: partial solutions kept per step (default 4)")
    solve.add_argument(
        "--expansions", type=int, default=None, help="beam, dvts, tot_bfs, dfs, mcts: next steps sampled per node (default 4)"
    )
    solve.add_argument("--subtrees", type=int, default=None, help="dvts: independent beams of width one (default 4)")
    solve.add_argument("--breadth", type=int, default=None, help="tot_bfs: states kept per step (default 5)")
    solve.add_argument("--max-expansions", type=int, default=None, help="dfs: policy calls at most (default 16)")
    solve.add_argument("--simulations", type=int, default=None, help="mcts: simulations per problem (default 16)")
    solve.add_argument(
        "--particles", type=int, default=None, help="particle_filter: partial solutions carried from step to step (default 8)"
    )
    solve.add_argument(
        "--reward-temperature",
        type=float,
        default=None,
        help="particle_filter: temperature of the verifier's weights, softmax(logit(score)/T) (default 1; lower presses harder)",
    )
    solve.add_argument(
        "--resampling",
        default=None,
        choices=("systematic", "multinomial"),
        help="particle_filter: how particles are redrawn (default systematic)",
    )
    solve.add_argument(
        "--cost-per-token", type=float, default=None, help="free_energy: nats of preference each generated token costs (default 0.0005)"
    )
    solve.add_argument("--reviser", default=None, help="revision model for revise (default: the bundled 'revision' model)")
    solve.add_argument(
        "--thinking-tokens",
        type=int,
        default=None,
        help="budget_forcing: the most thinking tokens before the answer is forced (default 512)",
    )
    solve.add_argument(
        "--min-thinking-tokens",
        type=int,
        default=None,
        help="budget_forcing: a model that stops thinking earlier is made to go on (s1's 'Wait'; default 0)",
    )
    solve.add_argument(
        "--flops",
        type=float,
        default=None,
        help="compute_optimal, thinker: the mean FLOPs per problem to aim at, e.g. 7e8 (the fitted table picks each problem's plan)",
    )
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

    guide = commands.add_parser("instructors", help="write (or check) the exercise table of book/instructors.md from the chapters")
    guide.add_argument("--write", action="store_true", help="rewrite the table in book/instructors.md (default: say whether it is current)")

    zoo = commands.add_parser("zoo", help="list the bundled models and their cards")
    zoo.add_argument("--json", action="store_true", help="print JSON instead of a table")
    zoo.add_argument("--readme", action="store_true", help="write tsc/assets/README.md (the zoo and the family's figures) from the cards")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    commands = {
        "train": cmd_train,
        "evaluate": cmd_evaluate,
        "solve": cmd_solve,
        "zoo": cmd_zoo,
        "bench": cmd_bench,
        "experiment": cmd_experiment,
        "grade": cmd_grade,
        "solutions": cmd_solutions,
        "colab": cmd_colab,
        "instructors": cmd_instructors,
    }
    try:
        return commands[args.command](args)
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

    remote = {}
    if isinstance(name, str) and name.startswith(("http://", "https://")):
        remote = {"model": served_model, "params": params}
        if concurrency is not None:
            remote["max_concurrency"] = concurrency
    elif served_model or params:
        raise UserError("--served-model and --params are for a server's URL given as --model")
    try:
        return load_policy(name, **({} if remote else {"device": device}), **remote)
    except (ValueError, OSError, TypeError) as error:
        raise UserError(str(error).splitlines()[0]) from None


def cmd_train(args) -> int:
    from dataclasses import replace

    from tsc.evaluation import evaluate_model, evaluate_revision, evaluate_reward_model
    from tsc.lm.policy import ASSETS, load_policy
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
    card = train_reward(recipe, out) if reward else train_rl(recipe, out) if rl else train(recipe, out)
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
        try:
            reward = load_reward_model(args.model)
        except (ValueError, OSError) as error:
            raise UserError(str(error).splitlines()[0]) from None
        figures = evaluate_reward_model(reward)
        print(json.dumps(figures, indent=2))
        if args.write_card:
            write_atomic(reward.path / "card.json", json.dumps(dict(reward.card, eval=figures), indent=2) + "\n")
        return 0
    policy = _load(args.model)
    if policy.card.get("kind") == "revision":  # its revisions against the policy it was fine-tuned from
        base = _load((policy.card.get("init_from") or {}).get("model") or "countdown")
        figures = evaluate_revision(policy, base, per_size=args.per_size)
    elif policy.card.get("kind") == "trace":
        figures = evaluate_model(policy)
    else:
        figures = evaluate_model(policy, per_size=args.per_size)
    if args.against:  # a retrained model: are its figures within the bundled card's intervals?
        from tsc.zoo import compare_figures

        try:
            card = json.loads((_bundled_folder(args.against) / "card.json").read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"--against {args.against}: cannot read its card ({error})") from None
        rows = compare_figures(figures, card.get("eval") or {})
        within = [old["low"] <= new <= old["high"] for _, new, old in rows]
        for (name, new, old), ok in zip(rows, within):
            print(f"{name:<32} {new:8.4f}  card {old['value']:.4f} ({old['low']:.4f}-{old['high']:.4f})  {'within' if ok else 'OUTSIDE'}")
        print(f"{sum(within)} of {len(rows)} figures within the card's 95 % intervals", file=sys.stderr)
        return 0 if rows and all(within) else 1
    print(json.dumps(figures, indent=2))
    if args.write_card:
        card = dict(policy.card, eval=figures)
        write_atomic(policy.path / "card.json", json.dumps(card, indent=2) + "\n")
    return 0


def _bundled_folder(name: str) -> Path:
    from tsc.lm.policy import bundled_models

    models = bundled_models(kind=None)
    if name not in models:
        raise UserError(f"--against {name!r} is not a bundled model; known: {', '.join(models)}")
    return models[name]


def read_problem(line: str, card: dict | None = None, task: str = "countdown", model: str = "the model"):
    """(the line's JSON object, the problem, None) or (what could be read, None, the error).

    ``card`` (the model's) says which problems the model accepts (`tsc.tasks.Task.read`);
    ``task`` says how to read the line. Never raises.
    """
    from tsc.tasks import get_task

    spec = get_task(task)
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        return {"line": line.rstrip("\r\n")[:200]}, None, f"not valid JSON ({error.msg} at column {error.colno})"
    except (ValueError, RecursionError) as error:  # an integer of over 4300 digits; nesting too deep
        return {"line": line.rstrip("\r\n")[:200]}, None, f"not valid JSON ({type(error).__name__}: {str(error).splitlines()[0][:80]})"
    if not isinstance(record, dict):
        return {"line": line.rstrip("\r\n")[:200]}, None, f"each line must be a JSON object such as {spec.line}"
    try:
        return record, spec.read(record, card, model), None
    except ValueError as error:
        return record, None, str(error).splitlines()[0]


def format_answer(text: str, task: str = "countdown") -> str | int | None:
    """The model's completion as the contract's answer: ``13-7=6, 6*4=24, 24*2=48`` for
    Countdown (a direct model's expression, or a real model's prose, as the same steps), the
    number for arithmetic (None when the completion holds none)."""
    from tsc.tasks import get_task

    return get_task(task).answer(text)


def cmd_solve(args) -> int:
    from tsc.core import check_sampling, with_sampling
    from tsc.strategies import STRATEGIES, check_knobs
    from tsc.strategies.search import check_search_knobs
    from tsc.strategies.sequential import MAX_ROUNDS

    started = time.perf_counter()
    if args.temperature is None:
        args.temperature = 0.0 if args.strategy == "budget_forcing" else 1.0
    source = Path(args.input)
    if not source.exists():
        raise UserError(f"input file {source} does not exist")
    if not source.is_file():
        raise UserError(f"input {source} is not a file")
    for flag, knob, value in (
        ("--n", "n", args.n),
        ("--temperature", "temperature", args.temperature),
        ("--seed", "seed", args.seed),
        ("--max-new-tokens", "max_new_tokens", args.max_new_tokens),
    ):
        try:
            check_knobs(**{knob: value})
        except ValueError as error:
            raise UserError(f"{flag}: {error}") from None
    for flag, knob, value in (("--top-k", "top_k", args.top_k), ("--top-p", "top_p", args.top_p), ("--min-p", "min_p", args.min_p)):
        try:
            check_sampling(**{knob: value})
        except ValueError as error:
            raise UserError(f"{flag}: {error}") from None
    if not 1 <= args.rounds <= MAX_ROUNDS:
        raise UserError(f"--rounds must be an integer from 1 to {MAX_ROUNDS}, got {args.rounds}")
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise UserError(f"--threshold must be a finite number, got {args.threshold}")
    if args.strategy == "early_stop":
        from tsc.strategies.stopping import check_stopping

        try:
            check_stopping(threshold=args.threshold, window=args.window)
        except ValueError as error:
            raise UserError(f"--{'window' if 'window' in str(error).split()[0] else 'threshold'}: {error}") from None
    for flag, knob in SEARCH_FLAGS:
        if getattr(args, knob) is not None:
            try:
                check_search_knobs(**{knob: getattr(args, knob)})
            except ValueError as error:
                raise UserError(f"{flag}: {error}") from None
    if args.strategy == "short_m_at_k":
        from tsc.strategies.short_m_at_k import check_short_knobs

        try:
            check_short_knobs(n=args.n, m=1 if args.m is None else args.m)
        except ValueError as error:
            raise UserError(f"--{'m' if str(error).startswith('m ') else 'n'}: {error}") from None
    if args.cost_per_token is not None and not (math.isfinite(args.cost_per_token) and args.cost_per_token >= 0):
        raise UserError(f"--cost-per-token must be a finite number >= 0 (nats per token), got {args.cost_per_token}")
    if args.strategy in ("compute_optimal", "thinker"):  # the budget is checked against the fitted table before any model loads
        from tsc.strategies.adaptive import load_allocation, plan_for
        from tsc.strategies.thinker import load_table

        if args.flops is None:
            raise UserError(f"--strategy {args.strategy} needs --flops F, the mean FLOPs per problem to aim at (e.g. --flops 7e8)")
        try:
            plan_for(load_allocation() if args.strategy == "compute_optimal" else load_table(), args.flops)
        except ValueError as error:
            raise UserError(f"--flops: {error}") from None
    if args.thinking_tokens is not None and args.thinking_tokens < 1:
        raise UserError(f"--thinking-tokens must be a positive integer, got {args.thinking_tokens}")
    if args.min_thinking_tokens is not None and args.min_thinking_tokens < 0:
        raise UserError(f"--min-thinking-tokens must be a non-negative integer, got {args.min_thinking_tokens}")
    output = Path(args.output)
    out_dir = output.resolve().parent
    if output.is_dir():
        raise UserError(f"cannot write {args.output}: it is a folder")
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        raise UserError(f"cannot write {args.output}: folder {out_dir} is missing or not writable")
    try:
        raw_lines = source.read_bytes().split(b"\n")
    except OSError as error:
        raise UserError(f"cannot read {source}: {error.strerror or error}") from None
    policy = _load(args.model, device=args.device, served_model=args.served_model, params=args.params, concurrency=args.concurrency)
    task = _solve_task(args, policy)
    _refuse_companions(args, policy)
    if args.max_new_tokens is None:  # room for what the model writes before its answer
        if policy.card.get("kind") == "trace" and args.strategy != "budget_forcing":
            args.max_new_tokens = max(64, policy.max_len - 32)
        else:
            args.max_new_tokens = 64 if policy.prompt_format == "compact" else 512
    if (args.top_k, args.top_p, args.min_p) != (0, 1.0, 0.0):  # every sample the strategy draws is truncated
        policy = with_sampling(policy, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p)
    args.task = task
    strategy = STRATEGIES[args.strategy]
    options = _strategy_options(args, policy)
    seed = options.pop("seed", None)

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
    todo = [(i, record, problem) for i, record, problem in problems if _line_key(i, record) not in done]
    for i, record, _ in problems:
        if _line_key(i, record) in done:
            lines[i] = done[_line_key(i, record)]
    if partial and done:
        print(f"resuming: {len(problems) - len(todo)} of {len(problems)} problems read back from {partial.path}", file=sys.stderr)
    try:
        for block in _blocks(todo, strategy, options):
            for (i, record, _), outcome in zip(block, _solve_block([p for _, _, p in block], strategy, policy, seed, options)):
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
    try:
        write_atomic(output, "".join(json.dumps(line) + "\n" for line in lines))
    except OSError as error:
        raise UserError(f"cannot write {args.output}: {error.strerror or error}") from None
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
    """The task the input holds: --task, else the model's (its card's), else Countdown."""
    trained_on = policy.card.get("task")
    task = args.task or trained_on or "countdown"
    if trained_on and task != trained_on:
        raise UserError(
            f"model {policy.name!r} was trained on {trained_on}, not {task}: pick a {task} model (python -m tsc zoo) or drop --task"
        )
    return task


def _refuse_companions(args, policy) -> None:
    """Refuse, in one line, a strategy or verifier that needs what this model lacks: the
    bundled reward models and reviser were trained on the bundled Countdown models' compact
    answers, tree search and refinement cut answers at the compact format's steps, and
    budget forcing needs a model that thinks in the trace format."""
    kind = policy.card.get("kind")
    if args.strategy == "budget_forcing" and kind != "trace":
        what = f"a {kind} model" if kind else "not one"
        raise UserError(
            f"budget_forcing needs a model that thinks in the trace format before it answers (--model trace); {policy.name!r} is {what}"
        )
    learned = args.verifier in ("orm", "prm")
    task = args.task or policy.card.get("task") or "countdown"
    trained_on = _reward_task(args.verifier) if learned else None
    if learned and trained_on != task:
        raise UserError(f"--verifier {args.verifier} was trained on {trained_on}; for {task} use oracle, step_oracle or self")
    if policy.prompt_format == "compact":
        return
    why = f"{policy.name!r} writes free text ({policy.prompt_format} prompts), not the bundled models' compact format"
    if args.strategy == "revise":
        raise UserError(f"revise needs a reviser trained on this model's answers (the bundled one revises the bundled model's); {why}")
    if args.strategy in STEP_STRATEGIES:
        raise UserError(f"{args.strategy} grows answers step by step at ',' (the compact format); {why}: use best_of_n or majority")
    if learned:
        raise UserError(f"--verifier {args.verifier} was trained on the bundled model's compact answers; {why}: use oracle or self")


def _blocks(todo: list, strategy, options: dict) -> list[list]:
    """The problems in blocks solved together: as many as one sampler call takes for a
    strategy that batches (`tsc.strategies.parallel.BATCHED`), else one at a time."""
    from tsc.strategies.parallel import BATCHED

    size = max(1, 1024 // max(1, int(options.get("n") or 1))) if strategy in BATCHED else 1
    return [todo[start : start + size] for start in range(0, len(todo), size)]


def _solve_block(problems: list, strategy, policy, seed, options: dict) -> list:
    """Each problem's `Result`, or the one-line error it raised (a problem the model cannot
    take, such as a prompt longer than its context, is an error line; the run goes on)."""
    from tsc.strategies import solve_many

    run = dict(options, seed=seed) if seed is not None else options
    try:
        return solve_many(strategy, problems, policy, **run)
    except ValueError:
        if len(problems) == 1:
            try:
                return solve_many(strategy, problems, policy, **run)
            except ValueError as failure:
                message = str(failure).splitlines()[0]
                if "server" in message:  # the server, not the problem: stop the run
                    raise
                return [message]
        return [outcome for p in problems for outcome in _solve_block([p], strategy, policy, seed, options)]


def _answer_record(record: dict, outcome, task: str) -> dict:
    """The output line for one problem: its input, then the answer, the model's text and the
    ledger (or the error)."""
    if isinstance(outcome, str):
        return dict(record, error=outcome)
    ledger = outcome.ledger
    return dict(
        record,
        answer=format_answer(outcome.answer, task) if outcome.answer is not None else None,
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
        if header.get("run") != self.key:
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


# the tree-search knobs the command line sets: (flag, keyword)
SEARCH_FLAGS = (
    ("--beam-width", "beam_width"),
    ("--expansions", "expansions"),
    ("--subtrees", "subtrees"),
    ("--breadth", "breadth"),
    ("--max-expansions", "max_expansions"),
    ("--simulations", "simulations"),
    ("--particles", "particles"),
    ("--reward-temperature", "reward_temperature"),
    ("--resampling", "resampling"),
)
# they need a verifier with score_steps
STEP_STRATEGIES = ("self_refine", "beam", "dvts", "tot_bfs", "dfs", "mcts", "particle_filter", "compute_optimal", "thinker")


def _default_verifier(strategy: str, task: str = "countdown") -> str | None:
    """The verifier a strategy gets when ``--verifier`` is not given."""
    from tsc.lm.policy import bundled_models

    if strategy in STEP_STRATEGIES:  # need step scores: a bundled process reward model of this task, else the exact step oracle
        return "prm" if "prm" in bundled_models("prm") and _reward_task("prm") == task else "step_oracle"
    return {"best_of_n": "oracle", "weighted_vote": "oracle"}.get(strategy)


def _reward_task(name: str) -> str | None:
    """The task a bundled reward model was trained on (its card's)."""
    from tsc.lm.checkpoint import read_card
    from tsc.lm.policy import bundled_models

    folder = bundled_models(kind=None).get(name)
    return read_card(folder).get("task") if folder is not None else None


def _strategy_options(args, policy) -> dict:
    """The keyword options ``args.strategy`` takes, built from the command line (models and
    verifiers loaded here, once, not per problem)."""
    import inspect

    from tsc.strategies import STRATEGIES
    from tsc.verifiers import get_verifier

    strategy = STRATEGIES[args.strategy]
    takes = {name for name, p in inspect.signature(strategy).parameters.items() if p.kind is p.KEYWORD_ONLY}
    options = {"n": args.n, "temperature": args.temperature, "seed": args.seed, "max_new_tokens": args.max_new_tokens}
    if "rounds" in takes:
        options["rounds"] = args.rounds
    if args.threshold is not None and "threshold" in takes:
        options["threshold"] = args.threshold
    if args.window is not None and "window" in takes:
        options["window"] = args.window
    for _, knob in SEARCH_FLAGS:
        if getattr(args, knob) is not None and knob in takes:
            options[knob] = getattr(args, knob)
    if args.cost_per_token is not None and "cost_per_token" in takes:
        options["cost_per_token"] = args.cost_per_token
    if args.m is not None and "m" in takes:
        options["m"] = args.m
    if "flops" in takes:
        options["flops"] = args.flops
    if "thinking_tokens" in takes:
        options["thinking_tokens"] = args.thinking_tokens or 512
        options["min_thinking_tokens"] = min(args.min_thinking_tokens or 0, options["thinking_tokens"])
    if args.aggregate is not None and "aggregate" in takes:  # a tree search's own scoring of partial solutions
        options["aggregate"] = args.aggregate
    name = args.verifier or _default_verifier(args.strategy, args.task or "countdown")
    if name is not None and "verifier" in takes:
        extra = {}
        if name == "prm":  # best-of-N and the weighted vote score a sample as the searches do: by its last step
            extra["aggregate"] = args.aggregate or ("last" if args.strategy in ("best_of_n", "weighted_vote") else "min")
        try:
            options["verifier"] = get_verifier(name, policy=policy, **extra)
        except (ValueError, OSError) as error:
            raise UserError(f"--verifier {name}: {str(error).splitlines()[0]}") from None
        if args.strategy in STEP_STRATEGIES and not callable(getattr(options["verifier"], "score_steps", None)):
            raise UserError(f"--verifier {name} scores whole completions; {args.strategy} needs a step verifier (prm or step_oracle)")
    if "reviser" in takes:
        options["reviser"] = _load(args.reviser or "revision")
        trained_on = options["reviser"].card.get("task")
        if trained_on and args.task and trained_on != args.task:
            raise UserError(
                f"the reviser {options['reviser'].name!r} was trained on {trained_on}, not {args.task}: "
                f"pass --reviser with an {args.task} model"
            )
    return {k: v for k, v in options.items() if k in takes}


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
    experiments.run(args.name, refresh=args.refresh, progress=True)
    record = experiments.stored(args.name)
    if record is not None:
        print(f"{experiments.path_of(args.name)}: computed {record['computed']} in {record['seconds']} s", file=sys.stderr)
    return 0


def cmd_grade(args) -> int:
    import csv

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
        lines = []

        class Sink:
            def write(self, text):
                lines.append(text)

        writer = csv.DictWriter(Sink(), fieldnames=["notebook", "exercise", "status", "message", "error"])
        writer.writeheader()
        writer.writerows(records)
        try:
            write_atomic(Path(args.csv), "".join(lines))
        except OSError as error:
            raise UserError(f"cannot write {args.csv}: {error.strerror or error}") from None
    print(json.dumps(records, indent=1, ensure_ascii=False) if args.json else gradebook(grades))
    return 0


def cmd_solutions(args) -> int:
    from tsc.grade import write_solutions

    chapters = args.chapters or sorted(str(p) for p in Path("book").glob("[0-9]*.ipynb"))
    if not chapters:
        raise UserError("no chapter notebooks given, and none in book/")
    try:
        written = write_solutions(chapters, args.out)
    except (ValueError, OSError) as error:
        raise UserError(str(error).splitlines()[0]) from None
    print(f"wrote {len(written)} solved chapters to {args.out}", file=sys.stderr)
    return 0


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


def cmd_colab(args) -> int:
    from tsc.colab import export

    chapters = args.chapters or sorted(str(p) for p in Path("book").glob("[0-9]*.ipynb"))
    if not chapters:
        raise UserError("no chapter notebooks given, and none in book/")
    try:
        written = export(chapters, args.executed, args.out)
    except (ValueError, OSError) as error:
        raise UserError(str(error).splitlines()[0]) from None
    print(f"wrote {len(written)} Colab notebooks to {args.out}", file=sys.stderr)
    return 0
